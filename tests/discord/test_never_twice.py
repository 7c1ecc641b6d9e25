"""Never twice, never lost, on Discord: a message Discord made but whose answer was a 5xx, came too
late, or was lost with the connection, is not made again. Every send carries a nonce derived from
its outbox row with ``enforce_nonce``; a resend inside Discord's window gets the message that exists."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.core.records import OutboundMessage
from bot.delivery.options import DeliveryOptions
from bot.delivery.worker import DeliveryWorker
from tests.fakes.discord_fixtures import GENERAL
from tests.fakes.discord_server import GUILD_ID

MEMBERS = [f"2000000000000004{i:02d}" for i in range(9)]


async def _deliver_live(app, **options) -> None:
    """Run the live delivery worker until every row is settled; the bot's clock moves on so that
    retries come due."""
    worker = DeliveryWorker(app.outbox, DeliveryOptions(poll_seconds=0.05, pacing=False, **options))
    stop = asyncio.Event()
    run = asyncio.create_task(worker.run(stop))
    try:
        for _ in range(600):
            rows = await app.store.outbox()
            if rows and all(r.status in ("sent", "failed", "skipped") for r in rows):
                return
            await asyncio.sleep(0.1)
            app.clock.advance_to(app.clock.now() + timedelta(seconds=30))
            app.outbox.wake()
        raise AssertionError(f"rows not settled: {[(r.status, r.error) for r in await app.store.outbox()]}")
    finally:
        stop.set()
        await run


@pytest.mark.parametrize("fault", ["500", "late", "reset"])
async def test_each_member_gets_exactly_one_dm_when_discord_accepts_but_the_answer_is_lost(
        discord_bot, fake_discord, db_url, fault):
    app, _ = await discord_bot(db_url=db_url)
    for m in MEMBERS:
        fake_discord.add_member(GUILD_ID, m, f"Member {m[-2:]}")
    path = r"/channels/\d+/messages"
    every_third = len(MEMBERS[::3])
    if fault == "500":
        fake_discord.accept_then(path, status=500, times=every_third)
    elif fault == "late":  # answered after Steward stopped waiting for it
        fake_discord.accept_then(path, status=200, delay=2.0, times=every_third)
    else:
        fake_discord.accept_then(path, status=0, times=every_third)
    for m in MEMBERS:
        msg = OutboundMessage("discord", "dm", text=f"Welcome, <@{m}>!", member_id=m, dedupe_key=f"welcome:{m}")
        await app.outbox.submit(msg, playbook_id="welcome", action="send_dm", reason="joined", deliver_now=False)
    await _deliver_live(app, send_timeout_seconds=0.5, horizon_seconds=0)
    got = {m: [x["content"] for x in fake_discord.dms_to(m)] for m in MEMBERS}
    assert got == {m: [f"Welcome, <@{m}>!"] for m in MEMBERS}
    rows = await app.store.outbox()
    assert [r.status for r in rows] == ["sent"] * len(MEMBERS)
    assert sorted(r.native_id for r in rows) == sorted(x["id"] for m in MEMBERS for x in fake_discord.dms_to(m))


async def test_the_fake_returns_the_message_a_nonce_made_only_inside_the_window(discord_bot, fake_discord):
    app, _ = await discord_bot()
    msg = OutboundMessage("discord", "channel", text="once", channel_id=GENERAL, dedupe_key="nonce:1")
    first = await app.outbox.gateways["discord"].send(msg)
    again = await app.outbox.gateways["discord"].send(msg)
    assert first.ok and again.native_id == first.native_id
    assert [m["content"] for m in fake_discord.sent(GENERAL)] == ["once"]
    fake_discord.nonce_window_s = 0.0  # the window has passed: Discord makes a second message
    late = await app.outbox.gateways["discord"].send(msg)
    assert late.native_id != first.native_id
    assert [m["content"] for m in fake_discord.sent(GENERAL)] == ["once", "once"]


async def test_a_retry_after_discords_nonce_window_still_does_not_post_twice(discord_bot, fake_discord, db_url):
    app, _ = await discord_bot(db_url=db_url)
    fake_discord.add_member(GUILD_ID, MEMBERS[0], "Rosa")
    # Discord makes the DM, the connection drops before the answer; by the next attempt (an
    # outage, a restart) the nonce no longer brings the message back
    fake_discord.accept_then(r"/channels/\d+/messages", status=0)
    msg = OutboundMessage("discord", "dm", text="Welcome, Rosa!", member_id=MEMBERS[0], dedupe_key="welcome:rosa")
    item = await app.outbox.submit(msg, playbook_id="welcome", action="send_dm", reason="joined")
    assert item.status == "pending" and item.unsure
    fake_discord.nonce_window_s = 0.0
    app.clock.advance_to(app.clock.now() + timedelta(minutes=10))
    await app.delivery.drain()
    assert [x["content"] for x in fake_discord.dms_to(MEMBERS[0])] == ["Welcome, Rosa!"]
    item = await app.store.outbox_item(item.id)
    assert item.status == "sent" and item.native_id == fake_discord.dms_to(MEMBERS[0])[0]["id"]


async def test_a_reaction_delivered_twice_is_one_reaction(discord_bot, fake_discord, db_url):
    from sqlalchemy import func, select

    from bot.storage.messages import R

    app, adapter = await discord_bot(db_url=db_url)
    fake_discord.add_member(GUILD_ID, MEMBERS[0], "Rosa")
    fake_discord.add_member(GUILD_ID, MEMBERS[1], "Bas")
    seen: list = []

    async def observe(ev, facts):
        seen.append(ev.name)

    app.engine.observers.append(observe)
    q = await fake_discord.post_message(GENERAL, MEMBERS[0], "Is there a meetup?")
    for _ in range(2):  # a resumed gateway session delivers it again
        await fake_discord.react(GENERAL, q["id"], MEMBERS[1], "✅")
    await fake_discord.wait_until(lambda: seen.count("reaction_added") >= 2, what="both deliveries at the engine")
    await adapter.idle()
    await app.store.flush()
    async with app.store.database.connect() as conn:
        rows = (await conn.execute(select(R.c.member_id, R.c.emoji, func.count()).group_by(
            R.c.member_id, R.c.emoji))).all()
    assert [tuple(r) for r in rows] == [(MEMBERS[1], "white_check_mark", 1)]


async def test_a_click_delivered_again_acts_once(discord_bot, fake_discord, db_url):
    from bot.core.records import Button, Digest, DigestItem
    from tests.fakes.discord_fixtures import MANAGER_ROLE, MODERATORS

    app, adapter = await discord_bot(db_url=db_url)
    rosa, mia = MEMBERS[0], MEMBERS[1]
    fake_discord.add_member(GUILD_ID, rosa, "Rosa")
    fake_discord.add_member(GUILD_ID, mia, "Mia", roles=[MANAGER_ROLE])
    item = DigestItem(f"<@{rosa}> answered 14 questions",
                      (Button("approve", "Approve", f"discord|{rosa}", "primary"),))
    await app.outbox.submit(OutboundMessage(platform="discord", kind="channel", text="", channel_id=MODERATORS,
                                            dedupe_key="digest:1", digest=Digest("Ambassador candidates", (item,))),
                            playbook_id="ambassadors", action="post_digest", reason="test")
    [digest] = fake_discord.sent(MODERATORS)
    fi = await fake_discord.click(digest, f"steward:approve:discord|{rosa}", user_id=mia)
    await fake_discord.answer(fi)
    await adapter.idle()
    for _ in range(5):  # a resumed gateway session delivers it again
        await fake_discord.redeliver(fi)
    callbacks = r"/interactions/\d+/[^/]+/callback"
    await fake_discord.wait_until(lambda: len(fake_discord.calls_to("POST", callbacks)) >= 6,
                                  what="the redeliveries at the bot")
    await adapter.idle()
    await app.delivery.drain()
    lines = [fake_discord.seen(m) for m in fake_discord.sent(MODERATORS)[1:]]
    assert lines == ["@Mia approved @Rosa as an ambassador; the invitation is on its way."]
    assert len(fake_discord.dms_to(rosa)) == 1
