"""Sending within Discord's limits as Discord counts them: every request against the global 50 a
second (opening a DM channel too), five messages per five seconds per channel. The fake enforces
both and keeps every refusal; these tests run the live delivery worker, as ``steward run`` does."""

from __future__ import annotations

import asyncio

from bot.core.clock import SystemClock
from bot.core.records import OutboundMessage
from bot.delivery.options import DeliveryOptions
from bot.delivery.worker import DeliveryWorker
from tests.fakes.discord_fixtures import WELCOME
from tests.fakes.discord_server import GUILD_ID

WAVE = 200


async def _deliver(app, fake, expected: int, timeout: float, poll_seconds: float = 0.05) -> DeliveryWorker:
    """Run the delivery worker until ``expected`` messages are sent (or ``timeout``)."""
    worker = DeliveryWorker(app.outbox, DeliveryOptions(poll_seconds=poll_seconds))
    # the live loop sends, paced, as in `steward run` (the adapter asks app.delivery for its pacer)
    app.delivery, app.outbox.sender = worker, None
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        async def sent() -> int:
            return len(await app.store.outbox(status="sent"))

        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while await sent() < expected and loop.time() < end:
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await task
        app.outbox.sender = worker
    return worker


async def _dm(app, member: str, key: str) -> None:
    await app.outbox.submit(OutboundMessage(platform="discord", kind="dm", member_id=member,
                                            text=f"Welcome, <@{member}>!", dedupe_key=key),
                            playbook_id="welcome", action="send_dm", reason="joined", deliver_now=False)


async def test_a_wave_of_welcome_dms_stays_under_the_global_limit_and_opens_each_dm_once(discord_bot,
                                                                                        fake_discord):
    app, _ = await discord_bot()
    app.outbox.clock = SystemClock()
    members = [str(500000000000000000 + i) for i in range(WAVE)]
    for i, m in enumerate(members):
        fake_discord.add_member(GUILD_ID, m, f"Newcomer {i}")
    for m in members:
        await _dm(app, m, f"welcome:{m}")
    await _deliver(app, fake_discord, WAVE, timeout=60)
    # a second message to some of the first members, after the wave: their DM channel is known
    for m in members[:20]:
        await _dm(app, m, f"followup:{m}")
    await _deliver(app, fake_discord, WAVE + 20, timeout=20)

    assert fake_discord.refused == [], f"{len(fake_discord.refused)} request(s) refused with 429"
    assert fake_discord.most_in_window(1.0) <= 50
    assert [len(fake_discord.dms_to(m)) for m in members] == [2] * 20 + [1] * (WAVE - 20)
    assert "Welcome, <@" in fake_discord.dms_to(members[-1])[0]["content"]
    # one POST /users/@me/channels per member, however many DMs they get
    assert len(fake_discord.calls_to("POST", r"/users/@me/channels")) == WAVE


async def test_a_burst_of_posts_to_one_channel_stays_within_five_per_five_seconds(discord_bot, fake_discord):
    app, _ = await discord_bot()
    app.outbox.clock = SystemClock()
    n = 7
    for i in range(n):
        await app.outbox.submit(OutboundMessage(platform="discord", kind="channel", channel_id=WELCOME,
                                                text=f"Welcome number {i}!", dedupe_key=f"greet:{i}"),
                                playbook_id="welcome", action="post_message", reason="joined",
                                deliver_now=False)
    await _deliver(app, fake_discord, n, timeout=30)

    assert sorted(m["content"] for m in fake_discord.sent(WELCOME)) == [f"Welcome number {i}!" for i in range(n)]
    assert fake_discord.refused == [], f"{len(fake_discord.refused)} post(s) refused with 429"
    posts = fake_discord.calls_to("POST", rf"/channels/{WELCOME}/messages")
    assert len(posts) == n
    assert fake_discord.most_in_window(5.0, posts) <= 5


async def test_posts_waiting_for_their_channel_go_when_their_slot_comes_not_at_the_next_poll(discord_bot,
                                                                                           fake_discord):
    """Posts put back to wait for their channel's slot are claimed when the slot comes: the worker
    sleeps until then (not until its next poll, here half a minute away), and a row comes back
    once or twice, not again and again."""
    app, _ = await discord_bot()
    app.outbox.clock = SystemClock()
    n = 7
    for i in range(n):
        await app.outbox.submit(OutboundMessage(platform="discord", kind="channel", channel_id=WELCOME,
                                                text=f"Hello number {i}!", dedupe_key=f"hello:{i}"),
                                playbook_id="welcome", action="post_message", reason="joined",
                                deliver_now=False)
    claims: list[int] = []
    claim = app.store.claim_due

    async def counted(*args, **kwargs):
        items = await claim(*args, **kwargs)
        claims.extend(i.id for i in items)
        return items

    app.store.claim_due = counted
    try:
        await _deliver(app, fake_discord, n, timeout=20, poll_seconds=30)
    finally:
        del app.store.claim_due

    assert sorted(m["content"] for m in fake_discord.sent(WELCOME)) == [f"Hello number {i}!" for i in range(n)]
    assert fake_discord.refused == []
    assert len(claims) <= 2 * n, sorted(claims)
