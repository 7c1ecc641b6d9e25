"""Two recoveries of one delivery worker at once (the loop's periodic look at stuck rows while a
send that timed out is settled, or two one-off commands): a row left ``sending`` by a dead instance
is taken by one of them, so it is looked up on the platform once and posted once, on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
from collections import Counter

from bot.core.clock import SystemClock
from bot.core.records import OutboundMessage, OutboxItem, SendResult
from bot.delivery.options import DeliveryOptions
from bot.delivery.outbox import Outbox
from bot.delivery.worker import DeliveryWorker
from bot.storage import db
from bot.storage.repositories import Store


class Channel:
    """A platform that keeps what was posted and can be asked whether a message is there."""

    platform = "slack"

    def __init__(self) -> None:
        self.posted: Counter = Counter()
        self.asked: Counter = Counter()

    async def send(self, message: OutboundMessage) -> SendResult:
        await asyncio.sleep(0.002)
        self.posted[message.dedupe_key] += 1
        return SendResult(ok=True, native_id=str(sum(self.posted.values())))

    async def already_sent(self, item: OutboxItem) -> SendResult | None:
        self.asked[item.dedupe_key] += 1
        await asyncio.sleep(0.002)
        return SendResult(ok=True, native_id="found") if self.posted[item.dedupe_key] else None


async def test_concurrent_recoveries_take_each_stuck_row_once(db_url):
    store = Store(db.create_engine(db_url))
    try:
        await db.ensure_schema(store.database, auto_upgrade=True)
        channel = Channel()
        clock = SystemClock()
        ob = Outbox(store, clock, {"slack": channel})
        worker = DeliveryWorker(ob, DeliveryOptions(pacing=False, lease_seconds=0.5), worker_id="live:1")
        keys: list[str] = []
        for round_ in range(3):
            for i in range(12):
                key = f"k:{round_}:{i}"
                keys.append(key)
                await ob.submit(OutboundMessage(platform="slack", kind="dm", text="hi", member_id=f"U{i}",
                                                dedupe_key=key),
                                playbook_id="t", action="send_dm", reason="t", deliver_now=False)
            # an instance claimed them, posted half, and died before recording anything
            taken = await store.claim_due(now=clock.now(), limit=12, worker="dead:1")
            for item in taken[::2]:
                await channel.send(item.message)
            await asyncio.sleep(0.6)  # its lease runs out
            await asyncio.gather(*(worker.recover() for _ in range(4)), *(worker.drain() for _ in range(3)))
            await worker.drain()  # what a recovery put back after the drains above had finished
        assert set(channel.posted) == set(keys) and set(channel.posted.values()) == {1}, \
            [k for k, n in channel.posted.items() if n > 1]
        assert set(channel.asked.values()) == {1}, [k for k, n in channel.asked.items() if n > 1]
        assert worker.recovered_sent == 18 and worker.recovered_resent == 18
        assert await store.outbox_status_counts() == {"sent": 36}
    finally:
        await store.close()
