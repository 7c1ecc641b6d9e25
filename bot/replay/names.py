"""What a page shows instead of IDs (report.html): members' names, channels' names, and the text of
the questions it lists, read from the store, with each platform's markup (``<@U1>``, ``<#C1>``)
read as people see it (@name, #name)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class Names:
    """What the page shows instead of IDs: member ID → name, channel ID → name, and the text of
    the questions it lists ((channel ID, message ID) → text, mentions already as @name)."""

    members: dict[str, str] = field(default_factory=dict)
    channels: dict[str, str] = field(default_factory=dict)
    texts: dict[tuple[str, str], str] = field(default_factory=dict)


async def lookup_names(store, platforms: Iterable[str], questions: list[tuple[str, str]]) -> Names:
    """Members' and channels' names on ``platforms``, and the kept text of ``questions``
    ((channel ID, message ID), the ones a page lists)."""
    from bot.community.health import display_names

    await store.flush()
    names = Names()
    keys = list(questions)
    for platform in platforms:
        names.members.update(await display_names(store, platform))
        names.channels.update({c.channel_id: c.name for c in await store.channels(platform) if c.name})
        read = _reader(platform)
        for key, text in (await store.message_texts(platform, keys)).items():
            names.texts[key] = read(text, names.members, names.channels)
    return names


def _reader(platform: str):
    """The platform's own reading of a message's markup (``<@U1>`` → @name), as plain text."""
    if platform == "slack":
        from bot.adapters.slack.translate import readable

        # a Slack export keeps Slack's escaping of &, < and > (the live adapter stores the text
        # unescaped, where this changes nothing a member is likely to have typed)
        return lambda text, members, channels: _slack_entities(readable(text, members, channels))
    if platform == "discord":
        from bot.adapters.discord.translate import readable as discord_readable

        return lambda text, members, channels: discord_readable(text, members, channels, {})
    return lambda text, members, channels: text


def _slack_entities(text: str) -> str:
    if "&" not in text:
        return text
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
