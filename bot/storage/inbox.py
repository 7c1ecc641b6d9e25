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
- A handler that fails keeps its row. A transient failure (network, timeout, a platform's 5xx or
  429, a lost database connection; ``bot.core.errors.is_transient``) is tried again with backoff,
  up to ``MAX_TRANSIENT`` attempts; any other failure up to ``MAX_OTHER``. When only some
  playbooks failed, the retry runs just those. An event given up on stays in the table with
  ``failed_at`` and the reason, and ``steward failures`` lists it for the managers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, or_, select, text, update

from bot.core.errors import PlaybooksFailed, is_transient
from bot.storage.models import EventInboxRow
from bot.storage.repositories import Store

log = logging.getLogger("steward.inbox")

IN = EventInboxRow.__table__

#: ``handler(body, received_at, only)``: ``only`` is None, or the playbooks a retry runs
Handler = Callable[[dict[str, Any], datetime, "frozenset[str] | None"], Awaitable[None]]

#: attempts at an event that keeps failing for a transient reason (about an hour with the backoff)
MAX_TRANSIENT = 12
#: attempts at an event that fails for any other reason (a bug, a refusal no retry will fix)
MAX_OTHER = 3

_PUT = text("""
INSERT INTO event_inbox (platform, event_id, body, received_at)
SELECT * FROM unnest(CAST(:p AS text[]), CAST(:e AS text[]), CAST(:b AS text[]), CAST(:r AS timestamptz[]))
""")


def _wall() -> datetime:
    # leases are about real processes dying, so they use the wall clock, not the bot's clock
    return datetime.now(UTC)


class Inbox:
    def __init__(self, store: Store, platform: str, *, worker: str, lease_s: float = 30.0,
                 batch: int = 64, max_write: int = 1000, retry_base_s: float = 2.0,
                 retry_max_s: float = 600.0) -> None:
        self.store = store
        self.platform = platform
        self.worker = worker
        self.lease_s = lease_s
        self.batch = batch
        self.max_write = max_write
        #: the first retry waits about ``retry_base_s``, doubling per attempt up to ``retry_max_s``
        self.retry_base_s = retry_base_s
        self.retry_max_s = retry_max_s
        self.max_transient = MAX_TRANSIENT
        self.max_other = MAX_OTHER
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
            async with self.store.database.begin() as conn:
                await conn.execute(insert(IN), rows)

    # ------------------------------------------------------------------ processing
    async def claim(self, *, limit: int | None = None, previous_prefix: str | None = None) -> list[Any]:
        """Claim waiting rows (and rows whose claim outlived the lease)."""
        now = _wall()
        cond = or_(IN.c.claimed_at.is_(None), IN.c.claimed_at < now - timedelta(seconds=self.lease_s))
        if previous_prefix:
            cond = or_(cond, IN.c.claimed_by.like(previous_prefix + "%") & (IN.c.claimed_by != self.worker))
        due = IN.c.failed_at.is_(None) & or_(IN.c.not_before.is_(None), IN.c.not_before <= now)
        q = select(IN.c.id).where(IN.c.platform == self.platform, due, cond).order_by(IN.c.id) \
            .limit(limit or self.batch)
        cols = (IN.c.id, IN.c.body, IN.c.received_at, IN.c.attempts, IN.c.retry_playbooks)
        if self.store.is_postgres:
            # one statement, its own transaction: the claim is one round trip. MATERIALIZED: the
            # locking subquery runs once (run again per row, it would claim past the limit)
            due = q.with_for_update(skip_locked=True).cte("due").prefix_with("MATERIALIZED")
            async with self.store.single() as conn:
                rows = list((await conn.execute(
                    update(IN).where(IN.c.id == due.c.id).values(claimed_by=self.worker, claimed_at=now)
                    .returning(*cols))).all())
            rows.sort(key=lambda r: r.id)
            return rows
        async with self.store.database.begin() as conn:
            ids = [r.id for r in (await conn.execute(q)).all()]
            if not ids:
                return []
            await conn.execute(update(IN).where(IN.c.id.in_(ids)).values(claimed_by=self.worker, claimed_at=now))
            return list((await conn.execute(select(*cols).where(IN.c.id.in_(ids)).order_by(IN.c.id))).all())

    async def done(self, ids: list[int]) -> None:
        if ids:
            async with self.store.single() as conn:
                await conn.execute(delete(IN).where(IN.c.id.in_(ids)))

    async def retry_later(self, row: Any, e: BaseException) -> bool:
        """Record a failed attempt: the row waits for its next try, or (attempts spent) is kept as
        failed with the reason. Returns whether it will be tried again."""
        cause = e.__cause__ if isinstance(e, PlaybooksFailed) and e.__cause__ is not None else e
        transient = is_transient(cause)
        attempts = int(row.attempts or 0) + 1
        reason = f"{type(cause).__name__}: {cause}"[:1000]
        if isinstance(e, PlaybooksFailed):
            reason = f"playbook {', '.join(e.playbooks)}: {reason}"[:1000]
        now = _wall()
        values: dict[str, Any] = {"attempts": attempts, "error": reason, "claimed_by": None, "claimed_at": None}
        if isinstance(e, PlaybooksFailed):
            values["retry_playbooks"] = ",".join(e.playbooks)
        again = attempts < (self.max_transient if transient else self.max_other)
        if again:
            wait = min(self.retry_max_s, self.retry_base_s * 2.0 ** (attempts - 1)) * random.uniform(0.75, 1.0)
            values["not_before"] = now + timedelta(seconds=wait)
            log.warning("inbox row %s: %s failure (%s); trying again in %.0fs", row.id,
                        "transient" if transient else "unexpected", reason, wait)
        else:
            values["failed_at"] = now
            values["error"] = f"gave up after {attempts} attempt(s): {reason}"[:1000]
            log.error("inbox row %s: given up after %d attempt(s): %s (see steward failures)", row.id,
                      attempts, reason)
        async with self.store.single() as conn:
            await conn.execute(update(IN).where(IN.c.id == row.id).values(**values))
        return again

    async def pending(self) -> int:
        """Rows not yet processed (waiting, claimed or waiting for a retry); not those given up on."""
        from sqlalchemy import func

        async with self.store.database.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(IN)
                                           .where(IN.c.platform == self.platform,
                                                  IN.c.failed_at.is_(None)))).scalar_one())

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
                only = frozenset(row.retry_playbooks.split(",")) if row.retry_playbooks else None
                try:
                    await handler(body, row.received_at, only)
                except Exception as e:  # one bad event must not hold up the rest: it waits for a retry
                    if not isinstance(e, PlaybooksFailed):
                        log.exception("processing inbox row %s failed", row.id)
                    try:
                        await self.retry_later(row, e)
                    except Exception as e2:  # left claimed: processed again after the lease
                        log.warning("could not record the failure of inbox row %s (%s)", row.id, type(e2).__name__)
                    return None
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


@dataclass(frozen=True)
class FailedEvent:
    """An incoming event given up on (``steward failures``)."""

    id: int
    platform: str
    event_type: str
    event_id: str | None
    received_at: datetime
    failed_at: datetime
    attempts: int
    error: str


async def failures(store: Store, *, limit: int = 100) -> list[FailedEvent]:
    """Events given up on, newest first, with the reason."""
    from bot.core.clock import as_utc

    q = (select(IN.c.id, IN.c.platform, IN.c.event_id, IN.c.body, IN.c.received_at, IN.c.failed_at,
                IN.c.attempts, IN.c.error)
         .where(IN.c.failed_at.is_not(None)).order_by(IN.c.failed_at.desc(), IN.c.id.desc()).limit(limit))
    async with store.database.connect() as conn:
        rows = (await conn.execute(q)).all()
    out = []
    for r in rows:
        try:
            kind = str((json.loads(r.body).get("event") or {}).get("type") or "?")
        except (ValueError, AttributeError):
            kind = "?"
        out.append(FailedEvent(r.id, r.platform, kind, r.event_id, as_utc(r.received_at), as_utc(r.failed_at),
                               int(r.attempts or 0), r.error or ""))
    return out
