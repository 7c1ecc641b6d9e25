"""What Discord is sent for a message (``discord_parts``): its content, and a digest as embeds with
buttons; and the persistent button that brings clicks back.

``discord_parts`` is the one place an outbound message becomes Discord strings, for the outbox's
sends and for command replies alike, so every string passes Discord's escaping. With a digest, the
message's own text is its notification text (Slack's fallback) and is not shown again: the embeds
are the message.

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

from bot.adapters.discord.format import cut, to_discord, to_discord_plain
from bot.adapters.discord.translate import custom_id
from bot.core.records import Button, Digest, DigestItem
from bot.core.text import neutralise

log = logging.getLogger("steward.discord")

MAX_ROWS = 5  # action rows per message
MAX_CONTENT = 2000
MAX_DESCRIPTION = 4096
MAX_TITLE = 256
MAX_FOOTER = 2048
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
    def lines(per: int) -> str:
        return "\n\n".join(f"**{n}.** {cut(item.text, per)}" for n, item in group)

    text = lines(MAX_DESCRIPTION)
    if len(text) <= MAX_DESCRIPTION:
        return text
    return lines(max(40, MAX_DESCRIPTION // max(1, len(group)) - 16))[:MAX_DESCRIPTION]


def discord_parts(text: str, digest: Digest | None = None,
                  buttons: tuple[Button, ...] = ()) -> list[dict[str, Any]]:
    """The messages (keyword arguments of ``send``) that show one outbound message on Discord;
    ``buttons`` go under the last piece of the text."""
    if digest is None:
        parts: list[dict[str, Any]] = [{"content": c} for c in split_text(to_discord(text))]
        if parts and buttons:
            view = ui.View(timeout=None)
            for b in buttons[:5]:
                view.add_item(DigestButton(b.action, b.value, label=neutralise(b.label),
                                           style=STYLES.get(b.style, discord.ButtonStyle.secondary)))
            parts[-1]["view"] = view
        return parts
    return [{"embed": e, "view": v} for e, v in render_digest(digest)]


def render_digest(digest: Digest) -> list[tuple[discord.Embed, ui.View | None]]:
    """A digest as one or more (embed, buttons) messages: item numbers on the buttons say which is which."""
    groups = _chunks(digest.items)
    out: list[tuple[discord.Embed, ui.View | None]] = []
    for i, group in enumerate(groups):
        title = digest.title if i == 0 else f"{digest.title} (continued)"
        embed = discord.Embed(title=cut(title, MAX_TITLE) or None, description=_description(group) or None,
                              colour=EMBED_COLOUR)
        if i == len(groups) - 1 and digest.footer:
            embed.set_footer(text=cut(digest.footer, MAX_FOOTER, to_discord_plain))
        view: ui.View | None = None
        row = 0
        seen: set[str] = set()  # Discord refuses two components with one custom_id in a message
        for n, item in group:
            if not item.buttons:
                continue
            for b in item.buttons[:5]:
                try:
                    btn = DigestButton(b.action, b.value, label=f"{n} · {neutralise(b.label)}",
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
