"""Sending within Slack's limits as Slack counts them: chat.postMessage about one a second per
channel, every other method within its tier's calls a minute (conversations.open, which every
first DM to a member needs, is Tier 3: 50 a minute). The fake enforces them and keeps every refusal.

A minute is long for a test: the fake's tiers count over 3 seconds here, and Steward is told the
same (its published tier rates times 20), so a wave of DMs passes a tier's limit in seconds."""

from __future__ import annotations

import asyncio

from bot.core.clock import SystemClock
from bot.core.records import OutboundMessage
from bot.delivery.options import DeliveryOptions
from bot.delivery.rates import DEFAULT_LIMITS, PlatformLimits, Rate
from bot.delivery.worker import DeliveryWorker
from tests.slack.conftest import eventually

MINUTE_S = 3.0
WAVE = 70  # conversations.open is Tier 3: at most 50 in any (short) minute


def scaled_limits() -> dict[str, PlatformLimits]:
    speed = 60.0 / MINUTE_S
    methods = {m: Rate(per_s=r.per_s * speed, burst=r.burst) for m, r in DEFAULT_LIMITS["slack"].methods.items()}
    return {"slack": PlatformLimits(methods=methods)}


async def test_a_wave_of_dms_and_a_burst_of_posts_stay_within_slacks_limits(start_bot, fake):
    fake.minute_s = MINUTE_S
    bot = await start_bot("http", pace=1.0)
    app = bot.app
    app.outbox.clock = SystemClock()
    members = [f"UW{i:04d}" for i in range(WAVE)]
    for i, m in enumerate(members):
        fake.add_user(m, f"Newcomer {i}")
        await app.outbox.submit(OutboundMessage("slack", "dm", text=f"Welcome, newcomer {i}!", member_id=m,
                                                dedupe_key=f"welcome:{m}"),
                                playbook_id="welcome", action="send_dm", reason="joined", deliver_now=False)
    posts = [f"Announcement {i}" for i in range(6)]
    for i, t in enumerate(posts):
        await app.outbox.submit(OutboundMessage("slack", "channel", text=t, channel_id="CNEWS",
                                                dedupe_key=f"news:{i}"),
                                playbook_id="news", action="post_message", reason="test", deliver_now=False)

    worker = DeliveryWorker(app.outbox, DeliveryOptions(poll_seconds=0.05, limits=scaled_limits()))
    # the live loop sends, paced, as in `steward run` (the adapter asks app.delivery for its pacer)
    app.delivery, app.outbox.sender = worker, None
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await eventually(lambda: len(fake.posted()) >= WAVE + len(posts), timeout=60, interval=0.1)
    finally:
        stop.set()
        await task

    assert fake.refused == [], [(c.method, c.params.get("channel") or c.params.get("users")) for c in fake.refused]
    assert [len(fake.dms_to(m)) for m in members] == [1] * WAVE
    assert fake.dms_to(members[0])[0]["text"] == "Welcome, newcomer 0!"
    assert sorted(p["text"] for p in fake.posted("CNEWS")) == posts
    assert len(fake.calls_to("conversations.open")) == WAVE
    assert fake.most_in_window("conversations.open", MINUTE_S) <= 50
