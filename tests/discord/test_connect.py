"""Connecting: privileged intents missing in the developer portal, a gateway that refuses them
(4014), sharding, and a token that is missing."""

from __future__ import annotations

import logging

import pytest

from bot.core.errors import ConfigError
from tests.fakes.discord_fixtures import GENERAL, WELCOME
from tests.fakes.discord_server import (
    APP_FLAG_GUILD_MEMBERS_LIMITED,
    APP_FLAG_MESSAGE_CONTENT_LIMITED,
    GUILD_ID,
    INTENT_GUILD_MEMBERS,
    INTENT_MESSAGE_CONTENT,
)

ROSA = "200000000000000041"


async def test_missing_message_content_intent_is_said_plainly_and_the_rest_runs(discord_bot, fake_discord, caplog):
    fake_discord.portal_intents = INTENT_GUILD_MEMBERS
    caplog.set_level(logging.WARNING, logger="steward.discord")
    app, adapter = await discord_bot()
    assert adapter.missing_intents == {"message_content"}
    said = "\n".join(r.getMessage() for r in caplog.records if r.name == "steward.discord")
    assert "the Message Content Intent is not enabled for this bot" in said
    assert "question detection" in said and "Privileged Gateway Intents" in said
    # it asked only for what it may have, so Discord accepted it at once
    assert [i["intents"] & INTENT_MESSAGE_CONTENT for i in fake_discord.identifies] == [0]
    assert fake_discord.closes == []
    # and the welcome still works
    await fake_discord.member_join(ROSA, "Rosa")
    greet = await fake_discord.wait_message(WELCOME)
    assert fake_discord.seen(greet) == "Welcome, @Rosa! Glad you're here."


async def test_gateway_refusing_intents_4014_reconnects_without_them(discord_bot, fake_discord, caplog):
    # the application's flags claim both intents, but the gateway refuses them (e.g. not yet approved)
    fake_discord.app_flags = APP_FLAG_GUILD_MEMBERS_LIMITED | APP_FLAG_MESSAGE_CONTENT_LIMITED
    fake_discord.portal_intents = 0
    caplog.set_level(logging.WARNING, logger="steward.discord")
    app, adapter = await discord_bot()
    assert fake_discord.closes == [4014]
    assert [bool(i["intents"] & (INTENT_GUILD_MEMBERS | INTENT_MESSAGE_CONTENT)) for i in fake_discord.identifies] \
        == [True, False]
    assert adapter.missing_intents == {"members", "message_content"}
    said = "\n".join(r.getMessage() for r in caplog.records if r.name == "steward.discord")
    assert "the gateway closed with 4014" in said and "Server Members Intent" in said
    # commands still answer without privileged intents
    fake_discord.add_member(GUILD_ID, ROSA, "Rosa")
    fi = await fake_discord.invoke(["steward", "help"], user_id=ROSA, channel_id=GENERAL)
    await fake_discord.answer(fi)
    assert "Steward helps this community" in fake_discord.seen(fi.text())


async def test_sharded_bot_identifies_each_shard_and_gets_its_guild(discord_bot, fake_discord):
    app, adapter = await discord_bot(discord={"shard_count": 2})
    assert sorted(tuple(i["shard"]) for i in fake_discord.identifies) == [(0, 2), (1, 2)]
    assert adapter.bot.shard_count == 2
    await fake_discord.member_join(ROSA, "Rosa")
    greet = await fake_discord.wait_message(WELCOME)
    assert fake_discord.seen(greet) == "Welcome, @Rosa! Glad you're here."


async def test_a_missing_token_is_named(make_app, fake_discord, monkeypatch):
    from bot.adapters.discord import runtime

    monkeypatch.delenv("STEWARD_NO_SUCH_TOKEN", raising=False)
    app = await make_app(discord={"enabled": True, "token_env": "STEWARD_NO_SUCH_TOKEN",
                                  "api_base_url": fake_discord.api_base})
    with pytest.raises(ConfigError, match="Set the environment variable STEWARD_NO_SUCH_TOKEN"):
        await runtime.create(app).start()
