"""A durable inbox for incoming events: an event is acknowledged once it is stored, and processed
afterwards by any instance.

Slack retries an event it got no 200 for, and expects the 200 within three seconds. Answering only
after the whole playbook ran ties the ingest rate to the slowest step; answering before storing
would lose an event to a crash. The inbox stores first, answers, then processes:

- ``put`` waits for its row to be committed. Rows from concurrent requests are written together
  (a group commit: one INSERT for everyone waiting), so storing costs one round trip per batch,
  not per event.
- A processor claims rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so instances never take the
  same row), hands each to the platform's handler, and deletes the rows it finished.
- A row claimed by an instance that died is claimed again after ``lease_s`` by any instance, or at
  once by the same named instance when it restarts. Processing twice is harmless: run keys and
  outbox dedupe keys stop a second message, as they do for Slack's own retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, or_, select, text, update

from bot.storage.models import EventInboxRow
from bot.storage.repositories import Store

log = logging.getLogger("steward.inbox")

IN = EventInboxRow.__table__

Handler = Callable[[dict[str, Any], datetime], Awaitable[None]]

_PUT = text("""
INSERT INTO event_inbox (platform, event_id, body, received_at)
SELECT * FROM unnest(CAST(:p AS text[]), CAST(:e AS text[]), CAST(:b AS text[]), CAST(:r AS timestamptz[]))
""")


def _wall() -> datetime:
    # leases are about real processes dying, so they use the wall clock, not the bot's clock
    return datetime.now(UTC)


class Inbox:
    def __init__(self, store: Store, platform: str, *, worker: str, lease_s: float = 30.0,
                 batch: int = 64, max_write: int = 1000) -> None:
        self.store = store
        self.platform = platform
        self.worker = worker
        self.lease_s = lease_s
        self.batch = batch
        self.max_write = max_write
        self._waiting: list[tuple[dict[str, Any], asyncio.Future]] = []
        self._writer: asyncio.Task | None = None
        self._wake = asyncio.Event()
        #: counters for benchmarks and logs
        self.stored = 0
        self.processed = 0

    # ------------------------------------------------------------------ storing
    async def put(self, body: str, *, event_id: str | None, received_at: datetime) -> None:
        """Return once the event is committed (raises when it could not be stored: answer non-200)."""
        fut = asyncio.get_running_loop().create_future()
        self._waiting.append(({"platform": self.platform, "event_id": event_id, "body": body,
                               "received_at": received_at, "claimed_by": None, "claimed_at": None}, fut))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_loop())
        await fut

    async def _write_loop(self) -> None:
        from bot.storage.resilience import is_disconnect

        while self._waiting:
            batch, self._waiting = self._waiting[: self.max_write], self._waiting[self.max_write:]
            try:
                await self._write([r for r, _ in batch])
            except Exception as e:
                if len(batch) > 1 and not is_disconnect(e):
                    # a row the database refuses must not fail the others with it: one by one
                    await self._write_each(batch)
                    continue
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(e)
                continue
            self.stored += len(batch)
            for _, fut in batch:
                if not fut.done():
                    fut.set_result(None)
            self._wake.set()

    async def _write_each(self, batch: list[tuple[dict[str, Any], asyncio.Future]]) -> None:
        for row, fut in batch:
            try:
                await self._write([row])
            except Exception as e:
                if not fut.done():
                    fut.set_exception(e)
                continue
            self.stored += 1
            if not fut.done():
                fut.set_result(None)
        self._wake.set()

    async def _write(self, rows: list[dict[str, Any]]) -> None:
        if self.store.is_postgres:
            # one statement over arrays: its own transaction, one round trip, prepared once
            async with self.store.single() as conn:
                await conn.execute(_PUT, {"p": [r["platform"] for r in rows], "e": [r["event_id"] for r in rows],
                                          "b": [r["body"] for r in rows], "r": [r["received_at"] for r in rows]})
        else:
            async with self.store.engine.begin() as conn:
                await conn.execute(insert(IN), rows)

    # ------------------------------------------------------------------ processing
    async def claim(self, *, limit: int | None = None, previous_prefix: str | None = None) -> list[Any]:
        """Claim waiting rows (and rows whose claim outlived the lease)."""
        now = _wall()
        cond = or_(IN.c.claimed_at.is_(None), IN.c.claimed_at < now - timedelta(seconds=self.lease_s))
        if previous_prefix:
            cond = or_(cond, IN.c.claimed_by.like(previous_prefix + "%") & (IN.c.claimed_by != self.worker))
        q = select(IN.c.id).where(IN.c.platform == self.platform, cond).order_by(IN.c.id) \
            .limit(limit or self.batch)
        if self.store.is_postgres:
            # one statement, its own transaction: the claim is one round trip. MATERIALIZED: the
            # locking subquery runs once (run again per row, it would claim past the limit)
            due = q.with_for_update(skip_locked=True).cte("due").prefix_with("MATERIALIZED")
            async with self.store.single() as conn:
                rows = list((await conn.execute(
                    update(IN).where(IN.c.id == due.c.id).values(claimed_by=self.worker, claimed_at=now)
                    .returning(IN.c.id, IN.c.body, IN.c.received_at))).all())
            rows.sort(key=lambda r: r.id)
            return rows
        async with self.store.engine.begin() as conn:
            ids = [r.id for r in (await conn.execute(q)).all()]
            if not ids:
                return []
            await conn.execute(update(IN).where(IN.c.id.in_(ids)).values(claimed_by=self.worker, claimed_at=now))
            return list((await conn.execute(select(IN.c.id, IN.c.body, IN.c.received_at)
                                            .where(IN.c.id.in_(ids)).order_by(IN.c.id))).all())

    async def done(self, ids: list[int]) -> None:
        if ids:
            async with self.store.single() as conn:
                await conn.execute(delete(IN).where(IN.c.id.in_(ids)))

    async def pending(self) -> int:
        """Rows not yet processed (waiting or claimed)."""
        from sqlalchemy import func

        async with self.store.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(IN)
                                           .where(IN.c.platform == self.platform))).scalar_one())

    async def run(self, handler: Handler, stop: asyncio.Event, *, concurrency: int = 16,
                  poll_s: float = 0.5, previous_prefix: str | None = None,
                  before_done: Callable[[], Awaitable[None]] | None = None) -> None:
        """Process rows until ``stop`` is set. ``previous_prefix``: rows an earlier run of this
        named instance claimed are taken back at once (that run is gone). ``before_done`` runs before
        processed rows are deleted: it writes what the handlers left in write buffers, so that a
        crash never loses an event whose row is gone; when it fails the rows stay claimed."""
        sem = asyncio.Semaphore(concurrency)
        prefix = previous_prefix

        async def one(row) -> int | None:
            async with sem:
                try:
                    body = json.loads(row.body)
                except ValueError:
                    log.error("inbox row %s is not JSON; dropped", row.id)
                    return row.id
                try:
                    await handler(body, row.received_at)
                except Exception:  # one bad event must not hold up the rest; it is logged
                    log.exception("processing inbox row %s failed", row.id)
                return row.id

        async def batch(rows) -> None:
            ids = [i for i in await asyncio.gather(*(one(r) for r in rows)) if i is not None]
            try:
                if before_done is not None:
                    await before_done()
                await self.done(ids)
            except Exception as e:  # left claimed: processed again after the lease (harmless)
                log.warning("could not clear %d processed inbox rows (%s)", len(ids), type(e).__name__)
            self.processed += len(ids)

        # two batches under way at once: the next is claimed while the last one's stragglers finish
        running: set[asyncio.Task] = set()
        try:
            while not stop.is_set():
                if len(running) >= 2:
                    await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                    continue
                try:
                    rows = await self.claim(previous_prefix=prefix)
                    prefix = None
                except Exception as e:  # the database is away: the rows wait, nothing is lost
                    log.warning("could not claim inbox rows (%s); retrying", type(e).__name__)
                    await _sleep_or_stop(stop, poll_s)
                    continue
                if not rows:
                    if running:
                        await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED, timeout=poll_s)
                        continue
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=poll_s)
                    continue
                t = asyncio.create_task(batch(rows))
                running.add(t)
                t.add_done_callback(running.discard)
        finally:
            if running:
                await asyncio.wait(running)


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
