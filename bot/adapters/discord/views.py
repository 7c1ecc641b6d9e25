"""Digests as embeds with buttons, and the persistent button that brings clicks back.

Buttons use ``discord.ui.DynamicItem``: the click is matched on the ``steward:<action>:<value>``
pattern of its ``custom_id`` rather than on a view kept in memory, so a digest posted before a
restart still works after it (``bot.add_dynamic_items(DigestButton)`` registers the pattern).
"""

from __future__ import annotations

import logging
import re
from typing import Any

import discord
from discord import ui

from bot.adapters.discord.format import to_discord
from bot.adapters.discord.translate import custom_id
from bot.core.records import Digest, DigestItem

log = logging.getLogger("steward.discord")

MAX_ROWS = 5  # action rows per message
MAX_CONTENT = 2000
MAX_DESCRIPTION = 4096
STYLES = {"primary": discord.ButtonStyle.primary, "danger": discord.ButtonStyle.danger,
          "default": discord.ButtonStyle.secondary}
EMBED_COLOUR = 0x3BA55D


class DigestButton(ui.DynamicItem[ui.Button], template=r"steward:(?P<action>[A-Za-z0-9_\-]+):(?P<value>.*)"):
    """A digest button. The click goes to the adapter's ``on_click`` (set on the bot)."""

    def __init__(self, action: str, value: str, *, label: str = "…",
                 style: discord.ButtonStyle = discord.ButtonStyle.secondary, row: int | None = None) -> None:
        super().__init__(ui.Button(label=label[:80], style=style, custom_id=custom_id(action, value), row=row))
        self.action = action
        self.value = value

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: ui.Item[Any], match: re.Match[str],
                             /) -> DigestButton:
        label = getattr(item, "label", None) or "…"
        return cls(match["action"], match["value"], label=label)

    async def callback(self, interaction: discord.Interaction) -> None:
        on_click = getattr(interaction.client, "steward_on_click", None)
        if on_click is None:  # pragma: no cover - only if the bot was built without the adapter
            return
        await on_click(interaction, self.action, self.value, self.item.label or "")


def split_text(text: str, limit: int = MAX_CONTENT) -> list[str]:
    """Split rendered text at line breaks into pieces Discord accepts (2000 characters each)."""
    if len(text) <= limit:
        return [text] if text else []
    out: list[str] = []
    cur = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if cur:
                out.append(cur)
                cur = ""
            out.append(line[:limit])
            line = line[limit:]
        candidate = f"{cur}\n{line}" if cur else line
        if len(candidate) > limit:
            out.append(cur)
            cur = line
        else:
            cur = candidate
    if cur:
        out.append(cur)
    return out


def _chunks(items: tuple[DigestItem, ...]) -> list[list[tuple[int, DigestItem]]]:
    """Numbered items, grouped so each message has at most five rows of buttons."""
    groups: list[list[tuple[int, DigestItem]]] = [[]]
    rows = 0
    for n, item in enumerate(items, start=1):
        need = 1 if item.buttons else 0
        if rows + need > MAX_ROWS:
            groups.append([])
            rows = 0
        groups[-1].append((n, item))
        rows += need
    return [g for g in groups if g] or [[]]


def _description(group: list[tuple[int, DigestItem]]) -> str:
    lines = [f"**{n}.** {to_discord(item.text)}" for n, item in group]
    text = "\n\n".join(lines)
    if len(text) <= MAX_DESCRIPTION:
        return text
    per = max(40, MAX_DESCRIPTION // max(1, len(lines)) - 8)
    return "\n\n".join(line if len(line) <= per else line[: per - 1] + "…" for line in lines)[:MAX_DESCRIPTION]


def render_digest(digest: Digest) -> list[tuple[discord.Embed, ui.View | None]]:
    """A digest as one or more (embed, buttons) messages: item numbers on the buttons say which is which."""
    groups = _chunks(digest.items)
    out: list[tuple[discord.Embed, ui.View | None]] = []
    for i, group in enumerate(groups):
        title = digest.title if i == 0 else f"{digest.title} (continued)"
        embed = discord.Embed(title=title[:256], description=_description(group) or None, colour=EMBED_COLOUR)
        if i == len(groups) - 1 and digest.footer:
            embed.set_footer(text=digest.footer[:2048])
        view: ui.View | None = None
        row = 0
        seen: set[str] = set()  # Discord refuses two components with one custom_id in a message
        for n, item in group:
            if not item.buttons:
                continue
            for b in item.buttons[:5]:
                try:
                    btn = DigestButton(b.action, b.value, label=f"{n} · {b.label}",
                                       style=STYLES.get(b.style, discord.ButtonStyle.secondary), row=row)
                except ValueError as e:
                    log.warning("digest button left out: %s", e)
                    continue
                if btn.item.custom_id in seen:
                    continue
                seen.add(btn.item.custom_id)
                view = view or ui.View(timeout=None)
                view.add_item(btn)
            row += 1
        out.append((embed, view))
    return out
