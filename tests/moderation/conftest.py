"""Moderation fixtures: an app whose gateways also carry out moderator decisions (and record them)."""

from __future__ import annotations

from datetime import timedelta

import pytest_asyncio

from bot.core.events import MessagePosted
from bot.core.ports import RecordingGateway
from bot.core.records import SendResult
from bot.messaging.markdown import to_plain
from tests.conftest import T0

MODS = {"slack": "CMODS", "discord": "100000000000000002"}
MANAGERS = {"slack_user_ids": ["UMOD"], "discord_user_ids": ["700000000000000001"]}
MOD = {"slack": "UMOD", "discord": "700000000000000001"}
GENERAL = {"slack": "CGENERAL", "discord": "100000000000000009"}


class _Recording(RecordingGateway):
    def __init__(self, platform: str) -> None:
        super().__init__(platform)
        self.calls: list[tuple] = []

    async def delete_message(self, channel_id: str, message_id: str) -> SendResult:
        self.calls.append(("delete_message", channel_id, message_id))
        return SendResult(ok=True)


class SlackModGateway(_Recording):
    """Slack's moderation port, recorded: delete and remove from a channel (Slack has no timeout)."""

    async def remove_from_channel(self, channel_id: str, member_id: str) -> SendResult:
        self.calls.append(("remove_from_channel", channel_id, member_id))
        return SendResult(ok=True)


class DiscordModGateway(_Recording):
    """Discord's moderation port, recorded: delete and timeout."""

    async def timeout_member(self, member_id: str, seconds: int, reason: str = "") -> SendResult:
        self.calls.append(("timeout_member", member_id, seconds))
        return SendResult(ok=True)


@pytest_asyncio.fixture
async def mod_app(make_app):
    """An app with the shipped playbooks, moderators configured and moderation-capable gateways."""

    async def _make(db_url: str | None = None, **kw):
        app = await make_app(db_url, managers=MANAGERS, **kw)
        app.outbox.gateways["slack"] = SlackModGateway("slack")
        app.outbox.gateways["discord"] = DiscordModGateway("discord")
        return app

    return _make


def mod_posts(app, platform: str = "slack"):
    """What moderators saw in their channel, in order."""
    return [m for m in app.outbox.gateways[platform].sent if m.kind == "channel" and m.channel_id == MODS[platform]]


def digests(app, platform: str = "slack"):
    return [m for m in mod_posts(app, platform) if m.digest is not None]


def plain(msg) -> str:
    return to_plain(msg.text)


_n = [0]


def message(text: str, *, author: str = "U1", platform: str = "slack", at=T0, channel: str | None = None,
            mentions: tuple[str, ...] = (), message_id: str | None = None) -> MessagePosted:
    _n[0] += 1
    mid = message_id or (f"{1772445600 + _n[0]}.000100" if platform == "slack" else str(1300000000000000000 + _n[0]))
    return MessagePosted(platform, at, channel_id=channel or GENERAL[platform], message_id=mid, author_id=author,
                         text=text, mentions=mentions)


def seconds(n: float):
    return T0 + timedelta(seconds=n)
