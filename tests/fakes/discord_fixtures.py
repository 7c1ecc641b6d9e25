"""pytest fixtures for driving the real Discord adapter against the fake Discord.

Import them into a conftest to use them elsewhere::

    from tests.fakes.discord_fixtures import discord_bot, fake_discord  # noqa: F401
"""

from __future__ import annotations

from typing import Any

import pytest_asyncio

from tests.fakes.discord_server import GUILD_ID, FakeDiscord

#: the channels of the standard test guild, with the IDs tests/conftest.py maps logical names to
WELCOME = "100000000000000001"
MODERATORS = "100000000000000002"
HELP = "100000000000000003"
INTRODUCTIONS = "100000000000000004"
ANNOUNCEMENTS = "100000000000000005"
GENERAL = "100000000000000006"
QUESTIONS_FORUM = "100000000000000007"
MANAGER_ROLE = "700000000000000001"
AMBASSADOR_ROLE = "700000000000000002"
TOKEN_ENV = "STEWARD_TEST_DISCORD_TOKEN"


def standard_world(fake: FakeDiscord) -> FakeDiscord:
    for cid, name in ((WELCOME, "welcome"), (MODERATORS, "moderators"), (HELP, "help"),
                      (INTRODUCTIONS, "introductions"), (ANNOUNCEMENTS, "announcements"), (GENERAL, "general")):
        fake.add_channel(cid, name)
    fake.add_channel(QUESTIONS_FORUM, "questions", type=15)
    fake.add_role(GUILD_ID, MANAGER_ROLE, "community-team")
    fake.add_role(GUILD_ID, AMBASSADOR_ROLE, "ambassadors")
    return fake


@pytest_asyncio.fixture
async def fake_discord():
    """A running fake Discord with the standard test guild. Fails the test if the bot ever sent a
    body the Discord API schema refuses."""
    fake = standard_world(FakeDiscord())
    await fake.start()
    yield fake
    await fake.stop()
    assert fake.violations == [], "bodies Discord would refuse:\n" + "\n".join(fake.violations)


async def start_adapter(app: Any, fake: FakeDiscord, **options: Any) -> Any:
    """The real Discord adapter for ``app``, connected to ``fake`` and READY; its gateway is the outbox's."""
    from bot.adapters.discord import runtime

    options.setdefault("ready_timeout", 15.0)
    options.setdefault("guild_ready_timeout", 0.05)  # the fake sends all guilds at once
    adapter = runtime.create(app, **options)
    app.adapters.append(adapter)
    app.outbox.gateways["discord"] = adapter.gateway
    await adapter.start()
    return adapter


@pytest_asyncio.fixture
async def discord_bot(make_app, fake_discord, monkeypatch):
    """``await discord_bot(**settings)`` → (app, adapter): an app (tests/conftest.py make_app) with
    [discord] pointed at the fake, and the adapter started. Stopped after the test."""
    monkeypatch.setenv(TOKEN_ENV, fake_discord.token)
    started: list[Any] = []

    async def _start(*, discord: dict[str, Any] | None = None, adapter_options: dict[str, Any] | None = None,
                     **settings_extra: Any):
        cfg = {"enabled": True, "token_env": TOKEN_ENV, "guild_ids": [GUILD_ID],
               "api_base_url": fake_discord.api_base, "gateway_url": fake_discord.gateway_url,
               "ambassador_role_id": AMBASSADOR_ROLE, **(discord or {})}
        settings_extra.setdefault("managers", {"discord_role_ids": [MANAGER_ROLE]})
        app = await make_app(discord=cfg, **settings_extra)
        adapter = await start_adapter(app, fake_discord, **(adapter_options or {}))
        started.append(adapter)
        return app, adapter

    yield _start
    for adapter in started:
        await adapter.stop()
