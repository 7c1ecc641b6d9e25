"""Never twice, never lost, on Discord: a message Discord made but whose answer was a 5xx, came too
late, or was lost with the connection, is not made again. Every send carries a nonce derived from
its outbox row with ``enforce_nonce``; a resend inside Discord's window gets the message that exists."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.core.records import OutboundMessage
from bot.outreach.delivery import DeliveryOptions, DeliveryWorker
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
            app.outbox._wake.set()
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
    await app.outbox.deliver_due()
    assert [x["content"] for x in fake_discord.dms_to(MEMBERS[0])] == ["Welcome, Rosa!"]
    item = await app.store.outbox_item(item.id)
    assert item.status == "sent" and item.native_id == fake_discord.dms_to(MEMBERS[0])[0]["id"]
