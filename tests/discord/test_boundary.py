"""Another Discord server than the configured one: its events, commands and clicks are refused at the
edge (one log line each), and without ``guild_ids`` Steward serves the one server it is in, never two."""

from __future__ import annotations

import logging

from sqlalchemy import select

from bot.community.ambassadors import AMB
from bot.core.records import Button, Digest, DigestItem, OutboundMessage
from bot.moderation.install import find_message
from tests.fakes.discord_fixtures import GENERAL
from tests.fakes.discord_server import GUILD_ID, PERM_MANAGE_GUILD, PERM_MEMBER

OTHER = "990000000000000001"
OTHER_CHANNEL = "990000000000000002"
EVE = "200000000000000077"
ROSA = "200000000000000031"


def _other_server(fake):
    fake.add_guild(OTHER, "Elsewhere")
    fake.add_channel(OTHER_CHANNEL, "general", guild_id=OTHER)
    fake.add_member(OTHER, EVE, "Eve")
    fake.add_member(GUILD_ID, ROSA, "Rosa")


async def _stored(app, message_id: str) -> bool:
    return await find_message(app.store, "discord", message_id) is not None


def _seen(app) -> list:
    """Events that reached the engine (gateway order: a later one arriving means an earlier one was handled)."""
    seen: list = []

    async def observe(ev, facts):
        seen.append(ev)

    app.engine.observers.append(observe)
    return seen


def _refusals(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "steward.boundary"]


async def test_events_commands_and_clicks_from_another_server_are_refused(discord_bot, fake_discord, caplog):
    _other_server(fake_discord)
    app, adapter = await discord_bot(discord={"guild_ids": [GUILD_ID]})
    caplog.set_level(logging.WARNING, logger="steward.boundary")
    seen = _seen(app)
    foreign = await fake_discord.post_message(OTHER_CHANNEL, EVE, "hello from elsewhere", guild_id=OTHER)
    home = await fake_discord.post_message(GENERAL, ROSA, "hello at home")
    await fake_discord.wait_until(lambda: seen, what="the home message at the engine")
    await adapter.idle()
    assert [e.message_id for e in seen] == [home["id"]]
    assert await _stored(app, home["id"]) and not await _stored(app, foreign["id"])

    # a digest that reached the other server's channel; Eve there has Manage Server
    item = DigestItem("candidate", (Button("approve", "Approve", f"discord|{EVE}", "primary"),))
    await app.outbox.submit(OutboundMessage(platform="discord", kind="channel", text="", channel_id=OTHER_CHANNEL,
                                            digest=Digest("Ambassador candidates", (item,)), dedupe_key="d:x"),
                            playbook_id="test", action="post_digest", reason="test")
    [digest] = fake_discord.sent(OTHER_CHANNEL)
    fi = await fake_discord.click(digest, f"steward:approve:discord|{EVE}", user_id=EVE, guild_id=OTHER,
                                  permissions=PERM_MEMBER | PERM_MANAGE_GUILD)
    await fake_discord.answer(fi)
    await adapter.idle()
    assert fake_discord.seen(fi.text()) == "Steward is not set up for this server."
    async with app.store.database.connect() as conn:
        assert (await conn.execute(select(AMB))).all() == []
    refusals = _refusals(caplog)
    assert any(f"refused message from server {OTHER}" in line for line in refusals)
    assert any(f"refused click from server {OTHER}" in line for line in refusals)
    assert all("\n" not in line for line in refusals)


async def test_without_guild_ids_the_one_server_is_served_and_two_are_not_guessed(discord_bot, fake_discord,
                                                                                    caplog):
    fake_discord.add_member(GUILD_ID, ROSA, "Rosa")
    app, adapter = await discord_bot(discord={"guild_ids": []})
    seen = _seen(app)
    home = await fake_discord.post_message(GENERAL, ROSA, "hello at home")
    await fake_discord.wait_until(lambda: seen, what="the home message at the engine")
    await adapter.idle()
    assert await _stored(app, home["id"])
    assert adapter.boundary.allowed == {GUILD_ID}


async def test_without_guild_ids_in_two_servers_none_is_served(discord_bot, fake_discord, caplog):
    _other_server(fake_discord)
    caplog.set_level(logging.INFO)
    app, adapter = await discord_bot(discord={"guild_ids": []})
    seen = _seen(app)
    foreign = await fake_discord.post_message(OTHER_CHANNEL, EVE, "hello from elsewhere", guild_id=OTHER)
    home = await fake_discord.post_message(GENERAL, ROSA, "hello at home")
    await fake_discord.wait_until(lambda: any(f"refused message from server {GUILD_ID}" in line
                                                          for line in _refusals(caplog)),
                                  what="the home message refused")
    await adapter.idle()
    assert seen == []
    assert not await _stored(app, home["id"]) and not await _stored(app, foreign["id"])
    assert any("the bot is in 2 servers and [discord] guild_ids is empty" in r.getMessage()
               for r in caplog.records)
