"""Two drains of one delivery worker at once (two events handled together, each sending what is due,
as in tests and one-off commands): every row is sent once, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections import Counter

from bot.core.clock import SystemClock
from bot.core.records import OutboundMessage, SendResult
from bot.delivery.options import DeliveryOptions
from bot.delivery.outbox import Outbox
from bot.delivery.worker import DeliveryWorker
from bot.storage import db
from bot.storage.repositories import Store


class Slow:
    platform = "slack"

    def __init__(self) -> None:
        self.sent: Counter = Counter()

    async def send(self, message: OutboundMessage) -> SendResult:
        await asyncio.sleep(0.002)
        self.sent[message.dedupe_key] += 1
        return SendResult(ok=True, native_id=str(len(self.sent)))


async def test_concurrent_drains_send_each_row_once(db_url):
    store = Store(db.create_engine(db_url))
    try:
        await db.ensure_schema(store.database, auto_upgrade=True)
        gw = Slow()
        ob = Outbox(store, SystemClock(), {"slack": gw})
        worker = DeliveryWorker(ob, DeliveryOptions(pacing=False), worker_id="one:1")
        for round_ in range(5):
            for i in range(12):
                msg = OutboundMessage(platform="slack", kind="dm", text="hi", member_id=f"U{i}",
                                      dedupe_key=f"k:{round_}:{i}")
                await ob.submit(msg, playbook_id="t", action="send_dm", reason="t", deliver_now=False)
            await asyncio.gather(*(worker.drain(limit=3) for _ in range(6)), worker.drain())
        await worker.drain()
        assert len(gw.sent) == 60 and set(gw.sent.values()) == {1}, [k for k, n in gw.sent.items() if n > 1]
    finally:
        await store.close()
