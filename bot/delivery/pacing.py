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
import heapq
import time
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field

from bot.core.records import OutboundMessage
from bot.delivery.rates import (
    DEFAULT_LIMITS,
    Bucket,
    PlatformLimits,
    buckets_for,
    combined,
    request_buckets,
)
from bot.delivery.slots import SlotBackend


@dataclass
class _Prepaid:
    """Slots a send has reserved for its requests: bucket key → requests still to make."""

    left: dict[str, int]
    buckets: list[Bucket] = field(default_factory=list)


#: the slots reserved for the send under way in this task (see ``Pacer.sending``)
_PREPAID: ContextVar[_Prepaid | None] = ContextVar("steward_prepaid_slots", default=None)



def _lane_of(buckets: Sequence[Bucket]) -> Bucket:
    """The bucket sends queue behind: the tightest one that other targets share (a method's or the
    platform's); a send with only its channel's bucket queues behind that."""
    shared = [b for b in buckets if ":chan:" not in b.key and ":react:" not in b.key]
    if shared:
        return max(shared, key=lambda b: b.interval / b.burst)
    return min(buckets, key=lambda b: b.interval / b.burst)


class DueTimes:
    """When the rows this process put back for pacing come due (``time.monotonic()``, a heap), so
    the delivery loop claims each when its slot comes rather than at the next poll."""

    def __init__(self) -> None:
        self._at: list[float] = []
        #: set when a row put back comes due earlier than any before it
        self.changed = asyncio.Event()

    def add(self, seconds: float) -> None:
        """A row put back comes due in ``seconds``."""
        at = time.monotonic() + max(0.0, seconds)
        if not self._at or at < self._at[0]:
            self.changed.set()  # earlier than the loop meant to wake
        heapq.heappush(self._at, at)
        if len(self._at) > 10_000:
            self._at = heapq.nsmallest(1_000, self._at)

    def next(self, limit: float) -> float:
        """Seconds until the earliest row put back comes due (at most ``limit``)."""
        t = time.monotonic()
        while self._at and self._at[0] <= t:
            heapq.heappop(self._at)
        return min(limit, self._at[0] - t) if self._at else limit


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
            got = combined([*got, *(b for m in extra for b in request_buckets(msg.platform, m, lim))])
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
            buckets = combined([*(Bucket(b.key, b.interval, b.burst) for b in pre.buckets
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
        front = key is not None and key in self._returns
        line = self._front if front else self._stagger
        at = max(t + wait, line.get(b.key, 0.0))
        line[b.key] = at + b.interval
        if len(line) > 10_000:
            # keep only the slots still ahead, in the line that grew (not the other one)
            kept = {k: v for k, v in line.items() if v > t}
            if front:
                self._front = kept
            else:
                self._stagger = kept
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

    def summary(self) -> str:
        """What pacing did in this run, for the log when the loop stops."""
        edges = [f"<{e:g}ms" for e in LATENESS_MS] + [f">{LATENESS_MS[-1]:g}ms"]
        woke = " ".join(f"{e}:{n}" for e, n in zip(edges, self.lateness, strict=True) if n)
        return (f"{self.granted} slot(s) taken, {self.late} left empty by a late wake-up, {self.deferred} send(s) "
                f"deferred, {self.waited_s:.1f}s waited; woke up {woke}")
