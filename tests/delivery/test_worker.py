"""The outbox as a work queue shared by instances on the real PostgreSQL server: each message once,
stuck rows recovered without a second send, outages and rate limits ridden out, slots shared."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

from bot.core.clock import SystemClock
from bot.core.records import OutboundMessage, SendResult
from bot.delivery.options import DeliveryOptions
from bot.delivery.outbox import Outbox
from bot.delivery.worker import DeliveryWorker
from bot.storage import db
from bot.storage.repositories import Store


class FakePlatform:
    """A platform in one process: it accepts messages (remembering their dedupe key, as a message's
    metadata or nonce would), and can be told to fail for a while."""

    platform = "slack"

    def __init__(self) -> None:
        self.accepted: list[OutboundMessage] = []
        self.by_key: dict[str, int] = {}
        self.mode = "ok"  # ok | 500 | 429
        self.refused = Counter()
        self.permanent: set[str] = set()

    def count(self) -> Counter:
        return Counter(m.dedupe_key for m in self.accepted)


class FakeGateway:
    """What an adapter's gateway does, against ``FakePlatform``."""

    def __init__(self, platform: FakePlatform, *, can_check: bool = True) -> None:
        self.p = platform
        self.platform = "slack"
        if not can_check:
            self.already_sent = None  # type: ignore[assignment]

    async def send(self, message: OutboundMessage) -> SendResult:
        await asyncio.sleep(0.001)
        if message.member_id in self.p.permanent:
            return SendResult(ok=False, error="cannot_dm_bot", permanent=True)
        if self.p.mode == "500":
            self.p.refused["500"] += 1
            return SendResult(ok=False, error="http 500: internal_error")
        if self.p.mode == "429":
            self.p.refused["429"] += 1
            return SendResult(ok=False, error="ratelimited", retry_after=0.2)
        self.p.accepted.append(message)
        self.p.by_key[message.dedupe_key] = len(self.p.accepted)
        return SendResult(ok=True, native_id=str(len(self.p.accepted)))

    async def already_sent(self, item) -> SendResult | None:
        n = self.p.by_key.get(item.dedupe_key)
        return SendResult(ok=True, native_id=str(n)) if n else None


def _dm(i: int) -> OutboundMessage:
    return OutboundMessage(platform="slack", kind="dm", text=f"Welcome, member {i}!", member_id=f"U{i:05d}",
                           dedupe_key=f"welcome:slack:U{i:05d}:once:1")


async def _instance(url: str, gw, name: str, **opts) -> tuple[Outbox, DeliveryWorker]:
    store = Store(db.create_engine(url))
    ob = Outbox(store, SystemClock(), {"slack": gw})
    worker = DeliveryWorker(ob, DeliveryOptions(poll_seconds=0.05, **opts), worker_id=f"{name}:1")
    return ob, worker


async def _enqueue(ob: Outbox, n: int) -> None:
    for i in range(n):
        await ob.submit(_dm(i), playbook_id="welcome", action="send_dm", reason="joined")


async def _drain(ob: Outbox, stop: asyncio.Event, timeout: float = 60) -> dict[str, int]:
    """Wait until nothing is pending or sending, then stop the workers."""
    async def _done():
        while True:
            c = await ob.store.outbox_status_counts()
            if not c.get("pending") and not c.get("sending"):
                return c
            await asyncio.sleep(0.1)
    try:
        return await asyncio.wait_for(_done(), timeout)
    finally:
        stop.set()


async def test_two_instances_deliver_every_message_exactly_once(pg_url):
    platform = FakePlatform()
    a, wa = await _instance(pg_url, FakeGateway(platform), "a")
    b, wb = await _instance(pg_url, FakeGateway(platform), "b")
    try:
        await _enqueue(a, 400)
        stop = asyncio.Event()
        runs = [asyncio.create_task(w.run(stop)) for w in (wa, wb)]
        counts = await _drain(a, stop)
        await asyncio.gather(*runs)
        assert counts == {"sent": 400}
        per_key = platform.count()
        assert len(per_key) == 400 and set(per_key.values()) == {1}
        by_worker = Counter()
        async with a.store.database.connect() as conn:
            from sqlalchemy import text

            for row in (await conn.execute(text("SELECT claimed_by FROM outbox"))).all():
                by_worker[row[0]] += 1
        assert by_worker["a:1"] > 0 and by_worker["b:1"] > 0  # the queue was shared, not raced
    finally:
        await a.store.database.dispose()
        await b.store.database.dispose()


async def test_rows_left_sending_by_a_dead_instance_are_recovered_without_a_second_send(pg_url):
    platform = FakePlatform()
    dead, _ = await _instance(pg_url, FakeGateway(platform), "dead")
    try:
        await _enqueue(dead, 50)
        # the dead instance claimed everything, got 20 out to the platform, then died before recording
        claimed = await dead.store.claim_due(now=dead.clock.now(), limit=100, worker="dead:1")
        assert len(claimed) == 50
        for item in claimed[:20]:
            await dead.gateways["slack"].send(item.message)
        assert (await dead.store.outbox_status_counts()) == {"sending": 50}

        # the lease must outlast one of the live worker's own sends on a loaded machine, or the live
        # worker recovers a row of its own (counted as recovered_sent) and the figures below drift
        alive, worker = await _instance(pg_url, FakeGateway(platform), "alive", lease_seconds=2.0)
        await asyncio.sleep(2.1)  # the dead instance's lease runs out
        stop = asyncio.Event()
        run = asyncio.create_task(worker.run(stop))
        counts = await _drain(alive, stop)
        await run
        assert counts == {"sent": 50}
        per_key = platform.count()
        assert len(per_key) == 50 and set(per_key.values()) == {1}, "a message went out twice or never"
        assert worker.recovered_sent == 20 and worker.recovered_resent == 30
        await alive.store.database.dispose()
    finally:
        await dead.store.database.dispose()


async def test_stuck_rows_are_not_taken_while_their_lease_runs(pg_url):
    platform = FakePlatform()
    ob, worker = await _instance(pg_url, FakeGateway(platform), "b", lease_seconds=300)
    try:
        await _enqueue(ob, 5)
        await ob.store.claim_due(now=ob.clock.now(), limit=10, worker="busy:1")
        assert await worker.recover() == 0  # a slow but live instance keeps its rows
        assert platform.accepted == []
    finally:
        await ob.store.database.dispose()


async def test_500s_then_429s_for_a_while_everything_delivered_once(pg_url):
    """The platform fails with 500s, then answers 429 (Retry-After), for a compressed "minute"
    (``OUTAGE`` seconds each, backoff scaled to match); afterwards every message is delivered, once,
    and the one permanent refusal is recorded, not retried."""
    OUTAGE = 2.0
    platform = FakePlatform()
    platform.permanent.add("U00007")
    ob, worker = await _instance(pg_url, FakeGateway(platform), "a", backoff_base_seconds=0.05)
    try:
        platform.mode = "500"
        await _enqueue(ob, 60)
        stop = asyncio.Event()
        run = asyncio.create_task(worker.run(stop))
        await asyncio.sleep(OUTAGE)
        platform.mode = "429"
        await asyncio.sleep(OUTAGE)
        platform.mode = "ok"
        counts = await _drain(ob, stop)
        await run
        assert platform.refused["500"] > 0 and platform.refused["429"] > 0
        assert counts == {"sent": 59, "failed": 1}
        per_key = platform.count()
        assert len(per_key) == 59 and set(per_key.values()) == {1}
        failed = await ob.store.outbox(status="failed")
        assert failed[0].message.member_id == "U00007" and failed[0].error == "cannot_dm_bot"
        assert failed[0].attempts == 1
    finally:
        await ob.store.database.dispose()


async def test_a_burst_into_one_channel_is_deferred_in_slot_order(pg_url):
    """Twenty posts into one channel: the worker does not sit on them, they come back one slot
    apart, and all go out once."""
    platform = FakePlatform()
    ob, worker = await _instance(pg_url, FakeGateway(platform), "a", horizon_seconds=0.5,
                                 limits={"slack": {"per_channel": {"per_s": 20, "burst": 1}}})
    try:
        for i in range(20):
            await ob.submit(OutboundMessage(platform="slack", kind="channel", text=f"hello {i}", channel_id="CW",
                                            dedupe_key=f"greet:{i}"), playbook_id="welcome", action="post",
                            reason="joined")
        stop = asyncio.Event()
        run = asyncio.create_task(worker.run(stop))
        counts = await _drain(ob, stop)
        await run
        assert counts == {"sent": 20} and len(platform.accepted) == 20
        assert worker.pacer.deferred > 0
        rows = await ob.store.outbox(status="sent")
        assert max(r.attempts for r in rows) == 1  # deferrals are not failed attempts
        sent_at = sorted(r.sent_at for r in rows)
        assert sent_at[-1] - sent_at[0] >= timedelta(seconds=19 / 20 * 0.9)
    finally:
        await ob.store.database.dispose()
