"""Digests as Block Kit: a header, one section per item with its buttons, a footer.

A button's ``action_id`` carries the core action (``steward:approve:3:0``) and its ``value`` the
item's reference, so a click comes back as a ``ButtonClicked`` without any state kept here.
"""

from __future__ import annotations

from typing import Any

from bot.adapters.slack.format import to_mrkdwn
from bot.adapters.slack.translate import ACTION_PREFIX
from bot.core.records import Digest
from bot.messaging.markdown import to_plain

#: Slack's limits: 50 blocks a message, 3000 characters a section, 150 a header, 75 a button label
MAX_BLOCKS = 50
_SECTION = 3000
_HEADER = 150
_LABEL = 75
_VALUE = 2000


def _cut(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def digest_blocks(digest: Digest, intro: str = "") -> list[dict[str, Any]]:
    """Block Kit for a digest (neutral markdown inside, mrkdwn out)."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(to_plain(digest.title) or "Steward", _HEADER)}}
    ]
    if intro:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _cut(to_mrkdwn(intro), _SECTION)}})
    reserve = 2 if digest.footer else 1  # footer, and the "more" note
    shown = 0
    for i, item in enumerate(digest.items):
        need = 2 if item.buttons else 1
        if len(blocks) + need + reserve > MAX_BLOCKS:
            break
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _cut(to_mrkdwn(item.text), _SECTION)}})
        if item.buttons:
            blocks.append({"type": "actions", "block_id": f"steward-item-{i}", "elements": [
                _button(b.action, b.label, b.value, b.style, i, j) for j, b in enumerate(item.buttons[:25])]})
        shown += 1
    rest = len(digest.items) - shown
    if not digest.items:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "Nothing to show right now."}})
    if rest > 0:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"… and {rest} more not shown here."}]})
    if digest.footer:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(to_mrkdwn(digest.footer), _SECTION)}]})
    return blocks


def _button(action: str, label: str, value: str, style: str, i: int, j: int) -> dict[str, Any]:
    b: dict[str, Any] = {"type": "button", "action_id": f"{ACTION_PREFIX}{action}:{i}:{j}",
                         "text": {"type": "plain_text", "text": _cut(label, _LABEL)}, "value": value[:_VALUE]}
    if style in ("primary", "danger"):
        b["style"] = style
    return b


def digest_text(digest: Digest, intro: str = "") -> str:
    """The notification / fallback text of a digest message (what a phone notification shows)."""
    lines = [to_plain(digest.title)]
    if intro:
        lines.append(to_plain(intro))
    lines.append(f"{len(digest.items)} item(s)")
    return _cut(" · ".join(x for x in lines if x), 3000)
