"""A member joins the Discord server: greeting in #welcome, a DM ten minutes later, and what
happens when DMs are closed or the gateway connection drops."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from tests.conftest import T0
from tests.fakes.discord_fixtures import WELCOME
from tests.fakes.discord_server import may_ping

ROSA = "200000000000000001"
BAS = "200000000000000002"
DM_TEXT = ("Hi Rosa Jansen, welcome to Test Garden!\n"
           "One easy first step: say hello in #introductions and tell us what brings you here.\n\n"
           "Rather not get messages from me? Reply stop.")


async def test_join_gets_greeting_then_dm(discord_bot, fake_discord):
    app, adapter = await discord_bot()
    await fake_discord.member_join(ROSA, "Rosa Jansen")
    greet = await fake_discord.wait_message(WELCOME)
    assert fake_discord.seen(greet) == "Welcome, @Rosa Jansen! Glad you're here."
    assert may_ping(greet) == {ROSA}  # only the newcomer; never @everyone or roles
    await adapter.idle()
    app.clock.advance_to(T0 + timedelta(minutes=9))
    await app.delivery.drain()
    assert fake_discord.dms_to(ROSA) == []
    app.clock.advance_to(T0 + timedelta(minutes=10))
    await app.delivery.drain()
    dm = await fake_discord.wait_dm(ROSA)
    assert fake_discord.seen(dm) == DM_TEXT
    assert may_ping(dm) == set()
    [row] = [i for i in await app.store.outbox(status="sent") if i.message.kind == "dm"]
    assert row.native_id == dm["id"]


async def test_bots_joining_are_not_welcomed_but_are_stored_as_bots(discord_bot, fake_discord):
    app, adapter = await discord_bot()
    await fake_discord.member_join("200000000000000099", "Some Bot", bot=True)
    await fake_discord.member_join(ROSA, "Rosa Jansen")
    await fake_discord.wait_message(WELCOME)
    await adapter.idle()
    assert len(fake_discord.sent(WELCOME)) == 1
    bot_member = await app.store.get_member("discord", "200000000000000099")
    assert bot_member is not None and bot_member.is_bot
    # Steward itself, present from GUILD_CREATE, is stored as a bot too
    me = await app.store.get_member("discord", fake_discord.bot_user["id"])
    assert me is not None and me.is_bot


async def test_closed_dms_are_recorded_and_the_fallback_mentions_in_welcome(discord_bot, fake_discord):
    app, adapter = await discord_bot()
    fake_discord.refuse_dms.add(ROSA)
    await fake_discord.member_join(ROSA, "Rosa Jansen")
    await fake_discord.wait_message(WELCOME)
    await adapter.idle()
    app.clock.advance_to(T0 + timedelta(minutes=10))
    await app.delivery.drain()
    fallback = await fake_discord.wait_message(WELCOME, count=2)
    assert "@Rosa Jansen" in fake_discord.seen(fallback)
    assert may_ping(fallback) == {ROSA}
    [failed] = await app.store.outbox(status="failed")
    assert failed.message.kind == "dm"
    assert failed.error == "50007 Cannot send messages to this user"
    # the refused DM is not retried
    app.clock.advance_to(T0 + timedelta(hours=2))
    await app.delivery.drain()
    assert len(fake_discord.calls_to("POST", rf"/channels/{fake_discord.dm_channels[ROSA]}/messages")) == 1


async def test_dropped_connection_resumes_without_a_second_welcome(discord_bot, fake_discord):
    app, adapter = await discord_bot()
    await fake_discord.member_join(ROSA, "Rosa Jansen")
    await fake_discord.wait_message(WELCOME)
    await adapter.idle()
    [session] = fake_discord.sessions.values()
    await fake_discord.drop_connections()
    # Bas joins while the connection is down; Discord keeps the event for the RESUME
    await fake_discord.member_join(BAS, "Bas")
    # and the server replays one event the bot had already seen (delivery is at least once)
    fake_discord.resume_overlap = 1
    await fake_discord.wait_until(lambda: session.resumed == 1, what="RESUME")
    for _ in range(250):  # Bas's join is handled after the RESUME
        if await app.store.get_member("discord", BAS) is not None:
            break
        await asyncio.sleep(0.02)
    await adapter.idle()
    # Bas joined within a minute of Rosa's greeting: the next greeting is his, a minute after hers
    app.clock.advance_to(T0 + timedelta(seconds=60))
    await app.delivery.drain()
    await fake_discord.wait_message(WELCOME, count=2)
    assert len(fake_discord.identifies) == 1  # resumed, not a new session
    greetings = [fake_discord.seen(m) for m in fake_discord.sent(WELCOME)]
    assert greetings == ["Welcome, @Rosa Jansen! Glad you're here.", "Welcome, @Bas! Glad you're here."]


async def test_quiet_hours_default_to_the_community_time_zone(discord_bot, fake_discord):
    """Discord gives no member time zone: the community's is the default, not UTC. 18:56 in
    Auckland is 05:56 UTC, inside 21:00-08:00 in UTC but an ordinary evening in Auckland."""
    evening = datetime(2026, 3, 2, 5, 56, tzinfo=UTC)
    assert evening.astimezone(ZoneInfo("Pacific/Auckland")).strftime("%H:%M") == "18:56"
    app, adapter = await discord_bot(start=evening, community={"timezone": "Pacific/Auckland"},
                                     outreach={"quiet_hours": "21:00-08:00"})
    await fake_discord.member_join(ROSA, "Rosa Jansen")
    await fake_discord.wait_message(WELCOME)
    await adapter.idle()
    app.clock.advance_to(evening + timedelta(minutes=10))
    await app.delivery.drain()
    dm = await fake_discord.wait_dm(ROSA)
    assert fake_discord.seen(dm).startswith("Hi Rosa Jansen, welcome to Test Garden!")
    row = [i for i in await app.store.outbox() if i.message.kind == "dm"][0]  # the journey's day-0 step
    assert (row.status, row.error) == ("sent", None)


async def test_the_welcome_dms_stop_hint_works_in_the_dm(discord_bot, fake_discord):
    """Discord offers no server slash command in a DM: the hint names a reply, and typing it in
    the DM opts the member out (and "start" back in)."""
    app, adapter = await discord_bot()
    await fake_discord.member_join(ROSA, "Rosa Jansen")
    await fake_discord.wait_message(WELCOME)
    await adapter.idle()
    app.clock.advance_to(T0 + timedelta(minutes=10))
    await app.delivery.drain()
    dm = await fake_discord.wait_dm(ROSA)
    hint = re.search(r"Reply \*\*(\w+)\*\*\._$", dm["content"])
    assert hint is not None, dm["content"]
    await fake_discord.write_dm(ROSA, hint.group(1))
    confirm = await fake_discord.wait_dm(ROSA, count=2)
    assert fake_discord.seen(confirm) == "Done: I won't send you any more messages. Changed your mind? Reply start."
    assert (await app.store.preferences("discord", ROSA)).opted_out
    assert await app.store.count("messages") == 0
    await fake_discord.write_dm(ROSA, "Start!")
    await fake_discord.wait_dm(ROSA, count=3)
    assert not (await app.store.preferences("discord", ROSA)).opted_out


async def test_a_raid_is_not_greeted_until_a_moderator_says_so(discord_bot, fake_discord, tmp_path):
    """Twelve joins at once: the raid alert carries Greet them / Don't greet; nobody after the first
    is greeted (or pinged) until a moderator clicks Greet them, and then in one post."""
    import shutil

    from tests.conftest import ROOT
    from tests.fakes.discord_fixtures import MANAGER_ROLE, MODERATORS
    from tests.fakes.discord_server import GUILD_ID, custom_ids

    dc = fake_discord
    mod = "200000000000000777"
    dc.add_member(GUILD_ID, mod, "Mod", roles=[MANAGER_ROLE])
    pb = tmp_path / "pb"
    pb.mkdir()
    for name in ("welcome.yaml", "raids.yaml"):
        shutil.copy(ROOT / "playbooks" / name, pb / name)
    app, adapter = await discord_bot(playbooks_dir=pb)
    raiders = [(f"2000000000000009{i:02d}", f"Raider {i}") for i in range(12)]
    for uid, name in raiders:
        await dc.member_join(uid, name)
    alert = await dc.wait_message(MODERATORS)
    await adapter.idle()
    assert "Possible raid: 10 members joined within 60s." in dc.seen(alert)
    assert custom_ids(alert) == ["steward:raid_greet:discord", "steward:raid_quiet:discord"]
    app.clock.advance_to(T0 + timedelta(minutes=30))
    await app.delivery.drain()
    # the first joiner was greeted before anything looked like a raid; nobody since
    assert [dc.seen(m) for m in dc.sent(WELCOME)] == ["Welcome, @Raider 0! Glad you're here."]
    fi = await dc.click(alert, "steward:raid_greet:discord", user_id=mod)
    await dc.answer(fi)
    await adapter.idle()
    await app.delivery.drain()
    greeting = await dc.wait_message(WELCOME, count=2)
    assert dc.seen(greeting) == ("Welcome, @Raider 1, @Raider 2, @Raider 3, @Raider 4, @Raider 5 and 6 others! "
                                 "Glad you're all here.")
    assert may_ping(greeting) == {uid for uid, _ in raiders[1:6]}
