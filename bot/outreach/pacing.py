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

The platforms count requests, not messages. A send that makes more than one request (opening a
member's DM channel first, a message long enough for two parts) reserves a slot for each of them
at once (a bucket's ``cost``), and the requests it then makes spend those slots (``sending``).
Every other request an adapter makes (directory lookups, moderation, the check whether a message
arrived) waits for its own slot in the platform-wide buckets (``before_request``): Discord's
global limit counts every route, and each Slack method has its tier.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field

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
    #: per API method (``conversations.open``: every call of it) or per message kind (``dm``,
    #: ``channel``, ``thread``, ``ephemeral``, ``reaction``: every outbox message of that kind),
    #: across the workspace or bot
    methods: dict[str, Rate] = Field(default_factory=dict)
    #: the API method each message kind is sent with, so that a message counts in that method's bucket
    kind_methods: dict[str, str] = Field(default_factory=dict)
    #: every request of this platform together
    global_rate: Rate | None = None


#: Slack's Web API tiers: calls a minute, per method and workspace
SLACK_TIERS = {1: 1, 2: 20, 3: 50, 4: 100}
#: the tier of each Slack method Steward calls. chat.postMessage is not here: its limit is about
#: one a second per channel (``per_channel``); auth.test and apps.connections.open are rare.
SLACK_METHOD_TIERS = {
    "chat.postEphemeral": 4, "chat.update": 3, "chat.delete": 3, "reactions.add": 3,
    "conversations.open": 3, "conversations.info": 3, "conversations.history": 3, "conversations.replies": 3,
    "conversations.kick": 3, "conversations.members": 4, "users.info": 4, "users.list": 2,
    "usergroups.users.list": 2, "usergroups.users.update": 2,
}


def _tier(n: int) -> Rate:
    # one at a time: with a burst, a minute could hold a call or two more than the tier allows
    return Rate(per_s=SLACK_TIERS[n] / 60, burst=1)


#: Published limits. Slack: chat.postMessage about 1/s per channel, the other methods their
#: tier's calls a minute. Discord: five messages per five seconds per channel, in a window that
#: opens with the first: paced as one a second, never a burst (a burst of five refills one a
#: second, and the sixth would come a second after the fifth, inside the window); reactions 1 /
#: 0.25 s per channel; 50 requests a second over all routes per bot, paced at 45 without a burst
#: so that any one second holds fewer than 50 whichever way the server counts it.
DEFAULT_LIMITS: dict[str, PlatformLimits] = {
    "slack": PlatformLimits(
        per_channel=Rate(per_s=1.0, burst=1),
        methods={m: _tier(t) for m, t in SLACK_METHOD_TIERS.items()},
        kind_methods={"dm": "chat.postMessage", "channel": "chat.postMessage", "thread": "chat.postMessage",
                      "ephemeral": "chat.postEphemeral", "reaction": "reactions.add"},
    ),
    "discord": PlatformLimits(
        per_channel=Rate(per_s=1.0, burst=1),
        reaction_per_channel=Rate(per_s=4.0, burst=1),
        global_rate=Rate(per_s=45.0, burst=1),
    ),
}


def merged_limits(overrides: dict[str, PlatformLimits]) -> dict[str, PlatformLimits]:
    """The published limits with a config's overrides on top, field by field (a config that sets
    one method's rate keeps every other limit of that platform). ``per_s = inf`` lifts a limit (a
    proxy or a test server that does not enforce it)."""
    out = dict(DEFAULT_LIMITS)
    for plat, over in overrides.items():
        base = out.get(plat) or PlatformLimits()
        update = {k: getattr(over, k) for k in over.model_fields_set}
        for k in ("methods", "kind_methods"):
            if k in update:
                update[k] = {**getattr(base, k), **update[k]}
        if "methods" in update:
            update["methods"] = {m: r for m, r in update["methods"].items() if math.isfinite(r.per_s)}
        for k in ("per_channel", "reaction_per_channel", "global_rate"):
            r = update.get(k)
            if r is not None and not math.isfinite(r.per_s):
                update[k] = None
        out[plat] = base.model_copy(update=update)
    return out


@dataclass(frozen=True)
class Bucket:
    key: str
    interval: float
    burst: int
    #: slots taken at once (a send that makes several requests counted in this bucket)
    cost: int = 1


def _combined(buckets: Sequence[Bucket]) -> list[Bucket]:
    """Buckets with the same key become one, their costs added."""
    out: dict[str, Bucket] = {}
    for b in buckets:
        seen = out.get(b.key)
        out[b.key] = b if seen is None else Bucket(b.key, b.interval, b.burst, seen.cost + b.cost)
    return list(out.values())


@dataclass
class _Prepaid:
    """Slots a send has reserved for its requests: bucket key → requests still to make."""

    left: dict[str, int]
    buckets: list[Bucket] = field(default_factory=list)


#: the slots reserved for the send under way in this task (see ``Pacer.sending``)
_PREPAID: ContextVar[_Prepaid | None] = ContextVar("steward_prepaid_slots", default=None)


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
    for name in dict.fromkeys((msg.kind, limits.kind_methods.get(msg.kind))):
        method = limits.methods.get(name) if name else None
        if method is not None:
            out.append(Bucket(f"{p}:method:{name}", method.interval, method.burst))
    if limits.global_rate is not None:
        out.append(Bucket(f"{p}:global", limits.global_rate.interval, limits.global_rate.burst))
    return out


def request_buckets(platform: str, method: str, limits: PlatformLimits) -> list[Bucket]:
    """The buckets one API request takes a slot in: its method's (Slack's tiers) and the platform's."""
    out: list[Bucket] = []
    rate = limits.methods.get(method)
    if rate is not None:
        out.append(Bucket(f"{platform}:method:{method}", rate.interval, rate.burst))
    if limits.global_rate is not None:
        out.append(Bucket(f"{platform}:global", limits.global_rate.interval, limits.global_rate.burst))
    return out


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


def _lane_of(buckets: Sequence[Bucket]) -> Bucket:
    """The bucket sends queue behind: the tightest one that other targets share (a method's or the
    platform's); a send with only its channel's bucket queues behind that."""
    shared = [b for b in buckets if ":chan:" not in b.key and ":react:" not in b.key]
    if shared:
        return max(shared, key=lambda b: b.interval / b.burst)
    return min(buckets, key=lambda b: b.interval / b.burst)


#: upper bounds (ms) of the lateness ranges the pacer counts
LATENESS_MS = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0)


class Pacer:
    """What the outbox asks before each send: go now (after a short wait) or come back later.

    Lanes: in one instance, sends that share their busiest bucket (the tightest one shared across
    targets, e.g. a workspace-wide method rate) take their slots a few at a time (``lane_depth``: two, so that one
    reservation's round trip overlaps the wait for the slot before it). A send reserves the next
    slot, sleeps until it starts, and goes. So an instance holds at most ``lane_depth`` slots ahead
    per lane, and when its event loop stalls, those few are late, not a queue of sends all firing
    together when it wakes. A send that wakes up later after its slot started than
    ``late_fraction`` of the lane's interval does not go: the slot is left empty, which never
    hurts at the platform, and the send takes the next one. A lane holds a reservation at most
    ``lane_hold_slots`` of its intervals ahead (the horizon at most); a send further off goes back
    to the queue rather than keep the lane waiting."""

    def __init__(self, backend: SlotBackend, limits: dict[str, PlatformLimits] | None = None, *,
                 horizon_s: float = 5.0,
                 custom: Callable[[OutboundMessage], list[Bucket] | None] | None = None,
                 margin: float = 1.0, late_fraction: float = 0.5, lane_hold_slots: int = 8,
                 max_late_tries: int = 5, lane_depth: int = 2) -> None:
        self.backend = backend
        #: pace at this fraction of the limits: a send leaves a little after its slot starts (the
        #: request is built and sent), and the platform's clock is not ours
        self.margin = margin
        self.limits = dict(DEFAULT_LIMITS if limits is None else limits)
        self.horizon_s = horizon_s
        self.late_fraction = late_fraction
        self.lane_hold_slots = lane_hold_slots
        self.max_late_tries = max_late_tries
        self.lane_depth = lane_depth
        #: a gateway's own bucket rules (``rate_buckets``), when it has them
        self.custom = custom
        self._stagger: dict[str, float] = {}
        #: rows sent back to the queue: when each was told to come back
        self._returns: dict[object, float] = {}
        #: the next slot handed to a row that came back and had to wait again, per bucket
        self._front: dict[str, float] = {}
        self._lanes: dict[str, asyncio.Semaphore] = {}
        self._queued: dict[str, int] = {}
        #: how late sends woke up, counted per range of LATENESS_MS
        self.lateness = [0] * (len(LATENESS_MS) + 1)
        #: counters for benchmarks and logs
        self.granted = 0
        self.deferred = 0
        self.late = 0
        self.waited_s = 0.0

    def buckets(self, msg: OutboundMessage, extra: Sequence[str] = ()) -> list[Bucket]:
        """The buckets a send takes slots in: the message's own, and those of the ``extra``
        requests (API methods) it makes besides the message itself."""
        got = self.custom(msg) if self.custom is not None else None
        lim = self.limits.get(msg.platform)
        if got is None:
            got = buckets_for(msg, lim) if lim is not None else []
        if extra and lim is not None:
            got = _combined([*got, *(b for m in extra for b in request_buckets(msg.platform, m, lim))])
        return self._margined(got)

    def request_buckets(self, platform: str, method: str) -> list[Bucket]:
        lim = self.limits.get(platform)
        return self._margined(request_buckets(platform, method, lim)) if lim is not None else []

    def _margined(self, got: list[Bucket]) -> list[Bucket]:
        if self.margin != 1.0:
            got = [Bucket(b.key, b.interval / self.margin, b.burst, b.cost) for b in got]
        return got

    def _lane(self, key: str) -> asyncio.Semaphore:
        lane = self._lanes.get(key)
        if lane is None:
            if len(self._lanes) > 10_000:
                self._lanes = {k: v for k, v in self._lanes.items() if k in self._queued}
            lane = self._lanes[key] = asyncio.Semaphore(self.lane_depth)
        return lane

    async def admit(self, msg: OutboundMessage, extra: Sequence[str] = (), *, key: object = None) -> float | None:
        """None: a slot is reserved and its time has come (short waits are slept here).
        A number: no slot now; retry in that many seconds. ``extra``: the API methods of the
        requests the send makes besides the message (a slot is reserved for each, see ``sending``).
        ``key`` (the outbox row) lets a row that comes back when told keep its place in line."""
        return await self._admit(self.buckets(msg, extra), key)

    async def _admit(self, buckets: list[Bucket], key: object = None) -> float | None:
        if not buckets:
            return None
        lane = _lane_of(buckets)
        hold = min(self.horizon_s, self.lane_hold_slots * lane.interval)
        late_s = lane.interval * self.late_fraction
        await self.backend.ensure(buckets)  # outside the lane: in it, a reservation is one round trip
        queued = self._queued.get(lane.key, 0)
        if queued and queued * lane.interval > self.horizon_s:
            # the sends ahead in this lane fill the horizon: do not hold a worker for this one
            self.deferred += 1
            return self._staggered(buckets, queued * lane.interval, key)
        self._queued[lane.key] = queued + 1
        try:
            return await self._admit_in_lane(buckets, lane, hold, late_s, key)
        finally:
            n = self._queued.get(lane.key, 1) - 1
            if n > 0:
                self._queued[lane.key] = n
            else:
                self._queued.pop(lane.key, None)

    @contextlib.contextmanager
    def sending(self, msg: OutboundMessage, extra: Sequence[str] = ()) -> Iterator[None]:
        """Around a send that ``admit`` let go: the requests it makes spend the slots reserved for
        them instead of waiting for new ones."""
        buckets = self.buckets(msg, extra)
        token = _PREPAID.set(_Prepaid({b.key: b.cost for b in buckets}, buckets))
        try:
            yield
        finally:
            _PREPAID.reset(token)

    async def before_request(self, platform: str, method: str) -> None:
        """Called by an adapter before each API request: returns when the request may go. Inside
        ``sending`` it spends a reserved slot; past those (a send that makes more requests than it
        said), or outside a send, it waits for slots of its own."""
        buckets = self.request_buckets(platform, method)
        if not buckets:
            return
        pre = _PREPAID.get()
        if pre is not None:
            if all(pre.left.get(b.key, 0) > 0 for b in buckets):
                for b in buckets:
                    pre.left[b.key] -= 1
                return
            # one more request of this send than reserved: it also counts where the send counts
            buckets = _combined([*(Bucket(b.key, b.interval, b.burst) for b in pre.buckets
                                   if b.key not in {x.key for x in buckets}), *buckets])
        await self.wait(buckets)

    async def wait(self, buckets: list[Bucket]) -> None:
        """Wait for a slot in ``buckets`` however far off (a request has no outbox row to defer)."""
        while True:
            retry = await self._admit(buckets)
            if retry is None:
                return
            await asyncio.sleep(retry)

    async def _admit_in_lane(self, buckets: list[Bucket], lane: Bucket, hold: float, late_s: float,
                             key: object = None) -> float | None:
        async with self._lane(lane.key):
            for attempt in range(self.max_late_tries):
                if attempt:
                    # after a late wake-up only the short buckets are asked again: in a bucket of
                    # a second or more (the member's DM channel) the slot just taken still holds
                    buckets = [b for b in buckets if b.interval <= hold] or [lane]
                ok, wait, start = await self.backend.reserve_at(buckets, hold)
                if not ok:
                    self.deferred += 1
                    return self._staggered(buckets, wait, key)
                ahead = start - time.monotonic()
                if ahead > 0:
                    self.waited_s += ahead
                    await asyncio.sleep(ahead)
                late = time.monotonic() - start
                self.lateness[min(len(LATENESS_MS), bisect.bisect(LATENESS_MS, late * 1000))] += 1
                if late <= late_s:
                    self.granted += 1
                    if key is not None:
                        self._returns.pop(key, None)
                    return None
                self.late += 1
        # late again and again: this process is too busy to keep time; the row waits a little
        self.deferred += 1
        return self._staggered(buckets, lane.interval, key)

    def _staggered(self, buckets: list[Bucket], wait: float, key: object = None) -> float:
        t = time.monotonic()
        # rows denied together would all come back at the same moment and be denied again: hand
        # each the next slot of its tightest bucket instead. A row that came back when it was told
        # and still found its bucket taken (a send ahead of it left late) queues at the front, not
        # round at the back of the line again
        b = max(buckets, key=lambda x: x.interval)
        line = self._front if key is not None and key in self._returns else self._stagger
        at = max(t + wait, line.get(b.key, 0.0))
        line[b.key] = at + b.interval
        if len(line) > 10_000:
            line = {k: v for k, v in line.items() if v > t}
            if line is self._front:
                self._front = line
            else:
                self._stagger = line
        if key is not None:
            if len(self._returns) > 10_000:
                self._returns = {k: v for k, v in self._returns.items() if v > t - 60.0}
            self._returns[key] = at
        return at - t

    async def penalize(self, msg: OutboundMessage, seconds: float) -> None:
        """The platform said 429: nobody sends into these buckets for ``seconds``."""
        buckets = self.buckets(msg)
        if buckets:
            await self.backend.penalize(buckets, seconds)


def backend_for(engine: AsyncEngine) -> SlotBackend:
    return PostgresSlots(engine) if engine.dialect.name == "postgresql" else MemorySlots()
