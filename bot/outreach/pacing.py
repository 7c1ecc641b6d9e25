"""Send pacing under each platform's limits, shared by every instance on one database.

Each send needs a slot in a few buckets: its target channel (Slack: about one message a second per
channel; Discord: five per five seconds per channel route), its method (Slack's method tiers), and
the platform as a whole (Discord: 50 requests a second per bot, across all its processes). A bucket
is a GCRA limiter: one number, the time its next slot starts. Reserving a slot moves that number
forward, so instances that reserve from the same row never overbook, and no request is ever sent
just to find out it would be refused.

On PostgreSQL the buckets are rows of ``rate_slots``, reserved all-or-nothing in one statement with
row locks, timed by the database server's clock (instances' clocks may disagree; the server's is
one). On SQLite (one instance) the same arithmetic runs in memory.

A reservation further away than ``horizon_s`` is not made: the row goes back to the queue with a
later ``not_before`` instead of holding a worker, staggered so a burst to one channel comes back one
slot apart rather than all at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.records import OutboundMessage


class Rate(BaseModel):
    """``per_s`` sends a second on average, at most ``burst`` at once."""

    model_config = ConfigDict(extra="forbid")
    per_s: float = Field(gt=0)
    burst: int = Field(1, ge=1)

    @property
    def interval(self) -> float:
        return 1.0 / self.per_s


class PlatformLimits(BaseModel):
    """One platform's limits, as data: defaults below, overridable in ``[features.delivery.limits.X]``."""

    model_config = ConfigDict(extra="forbid")
    #: per target channel (a DM counts as the member's channel)
    per_channel: Rate | None = None
    #: reactions have their own, stricter per-channel route on some platforms
    reaction_per_channel: Rate | None = None
    #: per message kind (dm, channel, thread, ephemeral, reaction) across the workspace or bot
    methods: dict[str, Rate] = Field(default_factory=dict)
    #: every request of this platform together
    global_rate: Rate | None = None


#: Published limits. Slack: chat.postMessage about 1/s per channel; chat.postEphemeral Tier 4
#: (100+/min); reactions.add Tier 3 (50+/min). Discord: 5 messages / 5 s per channel route,
#: reactions 1 / 0.25 s per channel, 50 requests/s global per bot (a small burst keeps any
#: one-second window under 50 whichever way the server counts it).
DEFAULT_LIMITS: dict[str, PlatformLimits] = {
    "slack": PlatformLimits(
        per_channel=Rate(per_s=1.0, burst=1),
        methods={"ephemeral": Rate(per_s=100 / 60, burst=2), "reaction": Rate(per_s=50 / 60, burst=2)},
    ),
    "discord": PlatformLimits(
        per_channel=Rate(per_s=1.0, burst=5),
        reaction_per_channel=Rate(per_s=4.0, burst=1),
        global_rate=Rate(per_s=45.0, burst=5),
    ),
}


@dataclass(frozen=True)
class Bucket:
    key: str
    interval: float
    burst: int


def buckets_for(msg: OutboundMessage, limits: PlatformLimits) -> list[Bucket]:
    """The buckets one outbound message takes a slot in, most likely to be full first."""
    out: list[Bucket] = []
    p = msg.platform
    target = msg.channel_id if msg.kind != "dm" else f"dm:{msg.member_id}"
    per_chan = limits.reaction_per_channel if msg.kind == "reaction" and limits.reaction_per_channel \
        else limits.per_channel
    if per_chan is not None and target:
        kind = "react" if msg.kind == "reaction" and limits.reaction_per_channel else "chan"
        out.append(Bucket(f"{p}:{kind}:{target}", per_chan.interval, per_chan.burst))
    method = limits.methods.get(msg.kind)
    if method is not None:
        out.append(Bucket(f"{p}:method:{msg.kind}", method.interval, method.burst))
    if limits.global_rate is not None:
        out.append(Bucket(f"{p}:global", limits.global_rate.interval, limits.global_rate.burst))
    return out


class SlotBackend:
    """Reserve slots in several buckets at once: (granted, seconds to wait or until one is free)."""

    async def reserve(self, buckets: Sequence[Bucket], horizon_s: float) -> tuple[bool, float]:
        raise NotImplementedError

    async def penalize(self, buckets: Sequence[Bucket], seconds: float) -> None:
        raise NotImplementedError


class MemorySlots(SlotBackend):
    """One process: the same GCRA arithmetic on a dict (SQLite deployments, tests)."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self.now = now
        self.tat: dict[str, float] = {}
        self._lock = asyncio.Lock()

    async def reserve(self, buckets: Sequence[Bucket], horizon_s: float) -> tuple[bool, float]:
        async with self._lock:
            t = self.now()
            waits = [max(self.tat.get(b.key, 0.0), t) + b.interval - b.burst * b.interval - t for b in buckets]
            wait = max([0.0, *waits])
            if wait > horizon_s:
                return False, wait
            for b in buckets:
                self.tat[b.key] = max(self.tat.get(b.key, 0.0), t) + b.interval
            return True, wait

    async def penalize(self, buckets: Sequence[Bucket], seconds: float) -> None:
        async with self._lock:
            t = self.now()
            for b in buckets:
                self.tat[b.key] = max(self.tat.get(b.key, 0.0), t + seconds + (b.burst - 1) * b.interval)


_RESERVE = text("""
WITH req AS (
    SELECT * FROM unnest(CAST(:keys AS text[]), CAST(:ivs AS float8[]), CAST(:bursts AS float8[]))
        AS r(key, iv, burst)
), n AS (
    SELECT extract(epoch FROM clock_timestamp())::float8 AS t
), cur AS (
    SELECT s.key, s.tat, req.iv, n.t, greatest(s.tat, n.t) + req.iv - req.burst * req.iv - n.t AS wait
    FROM rate_slots s JOIN req ON req.key = s.key CROSS JOIN n
    ORDER BY s.key
    FOR UPDATE OF s
), verdict AS (
    -- a bucket row another transaction has inserted but not committed is invisible here: then
    -- nothing is granted, and the caller tries again once it is there
    SELECT count(*) = :n AND coalesce(bool_and(wait <= :horizon), true) AS ok,
           greatest(coalesce(max(wait), 0), 0) AS wait, count(*) AS found
    FROM cur
), upd AS (
    UPDATE rate_slots s SET tat = greatest(cur.tat, cur.t) + cur.iv
    FROM cur, verdict WHERE s.key = cur.key AND verdict.ok
    RETURNING s.key
)
SELECT verdict.ok, verdict.wait, verdict.found FROM verdict
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
        self._known: set[str] = set()

    async def _ensure(self, conn, keys: list[str]) -> None:
        missing = [k for k in keys if k not in self._known]
        if missing:
            await conn.execute(_ENSURE, {"keys": missing})
            if len(self._known) > 100_000:
                self._known.clear()
            self._known.update(missing)

    async def reserve(self, buckets: Sequence[Bucket], horizon_s: float) -> tuple[bool, float]:
        if not buckets:
            return True, 0.0
        keys = [b.key for b in buckets]
        params = {"keys": keys, "ivs": [b.interval for b in buckets], "bursts": [float(b.burst) for b in buckets],
                  "horizon": horizon_s, "n": len(keys)}
        for _ in range(50):
            async with self.engine.begin() as conn:
                await self._ensure(conn, keys)
                r = (await conn.execute(_RESERVE, params)).one()
            if r.found == len(keys):
                return bool(r.ok), float(r.wait)
            # not visible yet (being created by another transaction) or pruned: make sure, then retry
            self._known.difference_update(keys)
            await asyncio.sleep(0.005)
        return False, 1.0

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


class Pacer:
    """What the outbox asks before each send: go now (after a short wait) or come back later."""

    def __init__(self, backend: SlotBackend, limits: dict[str, PlatformLimits] | None = None, *,
                 horizon_s: float = 5.0,
                 custom: Callable[[OutboundMessage], list[Bucket] | None] | None = None,
                 margin: float = 1.0) -> None:
        self.backend = backend
        #: pace at this fraction of the limits: a send leaves a little after its slot starts (the
        #: event loop is busy, the request is built), and late sends bunch up with punctual ones
        self.margin = margin
        self.limits = dict(DEFAULT_LIMITS if limits is None else limits)
        self.horizon_s = horizon_s
        #: a gateway's own bucket rules (``rate_buckets``), when it has them
        self.custom = custom
        self._stagger: dict[str, float] = {}
        #: counters for benchmarks and logs
        self.granted = 0
        self.deferred = 0
        self.waited_s = 0.0

    def buckets(self, msg: OutboundMessage) -> list[Bucket]:
        got = self.custom(msg) if self.custom is not None else None
        if got is None:
            lim = self.limits.get(msg.platform)
            got = buckets_for(msg, lim) if lim is not None else []
        if self.margin != 1.0:
            got = [Bucket(b.key, b.interval / self.margin, b.burst) for b in got]
        return got

    async def admit(self, msg: OutboundMessage) -> float | None:
        """None: a slot is reserved and its time has come (short waits are slept here).
        A number: no slot within the horizon; retry in that many seconds."""
        buckets = self.buckets(msg)
        if not buckets:
            return None
        ok, wait = await self.backend.reserve(buckets, self.horizon_s)
        if ok:
            self.granted += 1
            if wait > 0:
                self.waited_s += wait
                await asyncio.sleep(wait)
            return None
        self.deferred += 1
        return self._staggered(buckets, wait)

    def _staggered(self, buckets: list[Bucket], wait: float) -> float:
        # rows denied together would all come back at the same moment and be denied again:
        # hand each the next slot of its tightest bucket instead
        b = max(buckets, key=lambda x: x.interval)
        t = time.monotonic()
        at = max(t + wait, self._stagger.get(b.key, 0.0))
        self._stagger[b.key] = at + b.interval
        if len(self._stagger) > 10_000:
            self._stagger = {k: v for k, v in self._stagger.items() if v > t}
        return at - t

    async def penalize(self, msg: OutboundMessage, seconds: float) -> None:
        """The platform said 429: nobody sends into these buckets for ``seconds``."""
        buckets = self.buckets(msg)
        if buckets:
            await self.backend.penalize(buckets, seconds)


def backend_for(engine: AsyncEngine) -> SlotBackend:
    return PostgresSlots(engine) if engine.dialect.name == "postgresql" else MemorySlots()
