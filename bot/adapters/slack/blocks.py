"""What Slack is sent for a message: its top-level ``text`` and, for a digest, Block Kit (a header,
one section per item with its buttons, a footer).

``slack_message`` is the one place an outbound message becomes Slack strings, for the outbox's sends
and for command replies alike, so every string passes Slack's escaping: the fallback ``text`` too
(Slack reads it as mrkdwn, and notifications show it). With a digest, the message's own text is its
notification text and the digest is what the channel shows; the text is not repeated in the blocks.

A button's ``action_id`` carries the core action (``steward:approve:3:0``) and its ``value`` the
item's reference, so a click comes back as a ``ButtonClicked`` without any state kept here.
"""

from __future__ import annotations

from typing import Any

from bot.adapters.slack.format import cut, to_mrkdwn, to_slack_plain
from bot.adapters.slack.translate import ACTION_PREFIX
from bot.core.records import Button, Digest
from bot.core.text import neutralise

#: Slack's limits: 50 blocks a message, 3000 characters a section, 150 a header, 75 a button label
MAX_BLOCKS = 50
_SECTION = 3000
_HEADER = 150
_LABEL = 75
_VALUE = 2000
#: the top-level text Steward sends (Slack truncates at 40,000; notifications show far less)
_TEXT = 3000


def slack_message(text: str, digest: Digest | None = None,
                  buttons: tuple[Button, ...] = ()) -> tuple[str, list[dict[str, Any]] | None]:
    """(top-level text, blocks or None) for a message of neutral markdown, and maybe a digest, or
    buttons under the text (the text in sections, then one row of buttons)."""
    if digest is None:
        if not buttons:
            return to_mrkdwn(text), None
        return cut(text, _TEXT), text_blocks(text, buttons)
    return digest_text(digest, text), digest_blocks(digest)


def text_blocks(text: str, buttons: tuple[Button, ...]) -> list[dict[str, Any]]:
    """A message's text as sections (at most 3000 characters each, cut at paragraphs), then its buttons."""
    blocks: list[dict[str, Any]] = []
    cur = ""
    for para in text.split("\n\n"):
        if cur and len(cur) + 2 + len(para) > _SECTION // 2:  # room for mrkdwn's escaping
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": cut(cur, _SECTION)}})
            cur = ""
        cur = f"{cur}\n\n{para}" if cur else para
    if cur:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": cut(cur, _SECTION)}})
    blocks = blocks[:MAX_BLOCKS - 1]
    blocks.append({"type": "actions", "block_id": "steward-buttons", "elements": [
        _button(b.action, b.label, b.value, b.style, 0, j) for j, b in enumerate(buttons[:25])]})
    return blocks


def digest_blocks(digest: Digest) -> list[dict[str, Any]]:
    """Block Kit for a digest (neutral markdown inside, mrkdwn out)."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text",
                                    "text": cut(digest.title, _HEADER, to_slack_plain) or "Steward"}}
    ]
    reserve = 2 if digest.footer else 1  # footer, and the "more" note
    shown = 0
    for i, item in enumerate(digest.items):
        need = 2 if item.buttons else 1
        if len(blocks) + need + reserve > MAX_BLOCKS:
            break
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": cut(item.text, _SECTION)}})
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
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": cut(digest.footer, _SECTION)}]})
    return blocks


def _cut(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def _button(action: str, label: str, value: str, style: str, i: int, j: int) -> dict[str, Any]:
    b: dict[str, Any] = {"type": "button", "action_id": f"{ACTION_PREFIX}{action}:{i}:{j}",
                         "text": {"type": "plain_text", "text": _cut(neutralise(label), _LABEL)},
                         "value": value[:_VALUE]}
    if style in ("primary", "danger"):
        b["style"] = style
    return b


def digest_text(digest: Digest, text: str = "") -> str:
    """The notification / fallback text of a digest message: the message's own text, else the
    digest's title and how many items it has."""
    if text:
        return cut(text, _TEXT)
    count = f"{len(digest.items)} item(s)"
    return cut(f"{digest.title} · {count}" if digest.title else count, _TEXT)
