"""Where pacing slots are kept: in memory (one process, SQLite) or in PostgreSQL's ``rate_slots``
table, shared by every instance on one database and timed by the database server's clock.

A bucket's one number is the time its next slot starts (GCRA). Reserving slots in several buckets is
all-or-nothing; a reservation further away than the horizon is not made.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.delivery.rates import Bucket


class SlotBackend:
    """Reserve slots in several buckets at once: (granted, seconds to wait or until one is free)."""

    async def reserve(self, buckets: Sequence[Bucket], horizon_s: float) -> tuple[bool, float]:
        ok, wait, _ = await self.reserve_at(buckets, horizon_s)
        return ok, wait

    async def reserve_at(self, buckets: Sequence[Bucket], horizon_s: float) -> tuple[bool, float, float]:
        """Like ``reserve``, plus when the slot starts on this process's ``time.monotonic()``."""
        raise NotImplementedError

    async def ensure(self, buckets: Sequence[Bucket]) -> None:
        """Make sure the buckets exist (ahead of a reservation, so that it is one round trip)."""

    async def penalize(self, buckets: Sequence[Bucket], seconds: float) -> None:
        raise NotImplementedError


class MemorySlots(SlotBackend):
    """One process: the same GCRA arithmetic on a dict (SQLite deployments, tests)."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self.now = now
        self.tat: dict[str, float] = {}
        self._lock = asyncio.Lock()

    async def reserve_at(self, buckets: Sequence[Bucket], horizon_s: float) -> tuple[bool, float, float]:
        async with self._lock:
            t = self.now()
            # the send goes when every bucket has room, and each bucket counts it at that moment
            at = max([t, *(self.tat.get(b.key, 0.0) - (b.burst - b.cost) * b.interval for b in buckets)])
            wait = at - t
            if wait > horizon_s:
                return False, wait, time.monotonic() + wait
            for b in buckets:
                self.tat[b.key] = max(self.tat.get(b.key, 0.0), at) + b.cost * b.interval
            return True, wait, time.monotonic() + wait

    async def penalize(self, buckets: Sequence[Bucket], seconds: float) -> None:
        async with self._lock:
            t = self.now()
            for b in buckets:
                self.tat[b.key] = max(self.tat.get(b.key, 0.0), t + seconds + (b.burst - 1) * b.interval)


_RESERVE = text("""
WITH req AS (
    SELECT * FROM unnest(CAST(:keys AS text[]), CAST(:ivs AS float8[]), CAST(:bursts AS float8[]),
                         CAST(:costs AS float8[]))
        AS r(key, iv, burst, cost)
), locked AS (
    SELECT s.key, s.tat, req.iv, req.burst, req.cost
    FROM rate_slots s JOIN req ON req.key = s.key
    ORDER BY s.key
    FOR UPDATE OF s
), n AS (
    -- the clock is read once every row is locked (after waiting for another instance's
    -- reservation, not before), so the slot times below are relative to the moment they are made
    SELECT extract(epoch FROM clock_timestamp())::float8 AS t FROM (SELECT count(*) FROM locked) AS l
), cur AS (
    -- the earliest moment each bucket takes this send's requests (``cost`` of them)
    SELECT locked.key, locked.tat, locked.iv, locked.cost, n.t,
           greatest(locked.tat - (locked.burst - locked.cost) * locked.iv, n.t) AS earliest
    FROM locked CROSS JOIN n
), verdict AS (
    -- a bucket row another transaction has inserted but not committed is invisible here: then
    -- nothing is granted, and the caller tries again once it is there. The send goes when every
    -- bucket has room: at the latest of their earliest moments, and each bucket counts it then
    SELECT count(*) = :n AND coalesce(max(earliest - t), 0) <= :horizon AS ok,
           coalesce(max(earliest), 0) AS at, greatest(coalesce(max(earliest - t), 0), 0) AS wait,
           count(*) AS found
    FROM cur
), upd AS (
    UPDATE rate_slots s SET tat = greatest(cur.tat, verdict.at) + cur.cost * cur.iv
    FROM cur, verdict WHERE s.key = cur.key AND verdict.ok
    RETURNING s.key
)
SELECT verdict.ok, verdict.wait, verdict.found, (SELECT t FROM n) AS server_t FROM verdict
""")

_ENSURE = text("""
INSERT INTO rate_slots (key, tat) SELECT unnest(CAST(:keys AS text[])), 0 ON CONFLICT (key) DO NOTHING
""")

_PENALIZE = text("""
UPDATE rate_slots SET tat = greatest(tat, extract(epoch FROM clock_timestamp())::float8 + :s + :extra)
WHERE key = :k
""")

_PRUNE = text("DELETE FROM rate_slots WHERE tat < extract(epoch FROM clock_timestamp())::float8 - :age")


class PostgresSlots(SlotBackend):
    """Buckets shared by every instance: rows of ``rate_slots`` on the one PostgreSQL server."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        #: one statement at a time, each its own transaction (no BEGIN / COMMIT round trips)
        self._auto = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._known: set[str] = set()
        #: (round trip, offset, when) of the best clock sample (see ``_offset``)
        self._best: tuple[float, float, float] | None = None
        from bot.storage.coalesce import Coalescer

        self._ensure_together = Coalescer(self._ensure_many, self._ensure_keys)

    async def ensure(self, buckets: Sequence[Bucket]) -> None:
        keys = [b.key for b in buckets if b.key not in self._known]
        if keys:
            # the sends a worker claimed together get here together: one insert for all their keys
            await self._ensure_together(tuple(keys))

    async def _ensure_keys(self, keys: tuple[str, ...]) -> None:
        async with self._auto.connect() as conn:
            await self._ensure(conn, list(keys))

    async def _ensure_many(self, reqs: list[tuple[str, ...]]) -> list[None]:
        await self._ensure_keys(tuple(dict.fromkeys(k for keys in reqs for k in keys)))
        return [None] * len(reqs)

    async def _ensure(self, conn, keys: list[str]) -> None:
        missing = [k for k in keys if k not in self._known]
        if missing:
            await conn.execute(_ENSURE, {"keys": missing})
            if len(self._known) > 100_000:
                self._known.clear()
            self._known.update(missing)

    async def reserve_at(self, buckets: Sequence[Bucket], horizon_s: float) -> tuple[bool, float, float]:
        if not buckets:
            return True, 0.0, time.monotonic()
        keys = [b.key for b in buckets]
        params = {"keys": keys, "ivs": [b.interval for b in buckets], "bursts": [float(b.burst) for b in buckets],
                  "costs": [float(b.cost) for b in buckets], "horizon": horizon_s, "n": len(keys)}
        for _ in range(50):
            async with self._auto.connect() as conn:
                await self._ensure(conn, keys)
                asked = time.monotonic()
                r = (await conn.execute(_RESERVE, params)).one()
                answered = time.monotonic()
            if r.found == len(keys):
                offset = self._offset(r.server_t, asked, answered)
                return bool(r.ok), float(r.wait), r.server_t + float(r.wait) - offset
            # not visible yet (being created by another transaction) or pruned: make sure, then retry
            self._known.difference_update(keys)
            await asyncio.sleep(0.005)
        return False, 1.0, time.monotonic() + 1.0

    def _offset(self, server_t: float, asked: float, answered: float) -> float:
        """The server's clock minus this process's monotonic clock. Each reservation is a sample:
        the server read its clock between ``asked`` and ``answered``, so the sample is off by at
        most half the round trip; the fastest recent round trip gives the best estimate (as NTP
        does). Slot times then come from the server's clock, whatever the delays on the way."""
        rt = answered - asked
        sample = (rt, server_t - (asked + answered) / 2, answered)
        best = self._best
        # a best sample grows stale (clocks drift, a fast round trip is rare under load): its error
        # bound widens with age, so a fresher, slower sample takes over after a while
        if best is None or rt <= best[0] + (answered - best[2]) * 1e-3:
            self._best = best = sample
        return best[1]

    async def penalize(self, buckets: Sequence[Bucket], seconds: float) -> None:
        async with self.engine.begin() as conn:
            for b in buckets:
                await conn.execute(_PENALIZE, {"k": b.key, "s": seconds, "extra": (b.burst - 1) * b.interval})

    async def prune(self, older_than_s: float = 3600) -> int:
        """Drop buckets idle for an hour (one per DM'd member would otherwise pile up)."""
        async with self.engine.begin() as conn:
            res = await conn.execute(_PRUNE, {"age": older_than_s})
        self._known.clear()
        return res.rowcount or 0


def backend_for(engine: AsyncEngine) -> SlotBackend:
    return PostgresSlots(engine) if engine.dialect.name == "postgresql" else MemorySlots()
