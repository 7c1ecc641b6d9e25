"""The live delivery worker: claims due outbox rows, sends them concurrently under the platforms'
limits, and recovers rows that a dead or hung instance left in ``sending``.

Exactly once, whoever sends:

1. The dedupe key is unique in the database, so a message is queued once.
2. A row is claimed (``pending`` → ``sending``, with ``claimed_by`` and ``claimed_at``) with
   ``FOR UPDATE SKIP LOCKED``, so one instance holds it at a time.
3. After the send, the outcome is written; a database outage at that moment is waited out
   (the outcome is kept in memory and the write retried) rather than forgotten.
4. A row still ``sending`` after the lease (the instance died between the platform accepting and
   step 3, or the send hung) is re-claimed by any instance, which first asks the platform's gateway
   ``already_sent(item)``: the gateway looks the message up on the platform (Slack: the dedupe key
   in the message metadata it attached, via conversations.history; Discord: the bot's recent
   messages in the channel, besides the nonce sent with ``enforce_nonce``). Found: the row is
   marked sent, nothing is sent again. Not found: it is sent. The same look-up comes first for a
   row whose last attempt had an unknown outcome (a 5xx, a timeout, a lost connection: ``unsure``).
   A check that fails leaves the row for the next look. A gateway without ``already_sent`` gets
   the message again (at least once); this is logged, since only the platform can tell.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from bot.core.records import OutboxItem, SendResult
from bot.delivery.pacing import LATENESS_MS, Pacer
from bot.delivery.rates import PlatformLimits, merged_limits
from bot.delivery.slots import backend_for
from bot.storage.locks import holder_id, instance_name

if TYPE_CHECKING:
    from bot.delivery.outbox import Outbox

log = logging.getLogger("steward.delivery")


class DeliveryOptions(BaseModel):
    """``[features.delivery]`` in the config."""

    model_config = ConfigDict(extra="forbid")
    #: sends in flight at once in this instance
    concurrency: int = Field(32, ge=1, le=1000)
    #: a row ``sending`` for longer than this is presumed abandoned and re-examined
    lease_seconds: float = Field(120.0, gt=0)
    #: a send that takes longer than this is treated like a crash: its outcome is checked
    send_timeout_seconds: float = Field(30.0, gt=0)
    #: wait this long at most for a pacing slot; further away, the row is deferred instead
    horizon_seconds: float = Field(5.0, ge=0)
    #: idle poll for rows that became due (new rows wake the worker at once)
    poll_seconds: float = Field(1.0, gt=0)
    #: per-platform overrides of the published limits (see bot/delivery/rates.py)
    limits: dict[str, PlatformLimits] = Field(default_factory=dict)
    #: pace at this fraction of the limits: a little room for sends that leave a few ms after
    #: their slots (late ones beyond ``late_fraction`` do not go at all, see pacing.py)
    rate_margin: float = Field(0.97, gt=0, le=1)
    #: a send that wakes up later than this share of its lane's interval after its slot started
    #: does not go (the slot stays empty; it takes the next): late sends crowd the ones after them
    late_fraction: float = Field(0.5, gt=0)
    #: false: no pacing at all (a platform proxy does it)
    pacing: bool = True
    #: the first retry after a transient error waits about twice this, doubling per attempt
    backoff_base_seconds: float = Field(1.0, gt=0)


def options_from(settings: Any) -> DeliveryOptions:
    raw = (getattr(settings, "features", None) or {}).get("delivery") or {}
    return DeliveryOptions.model_validate(raw)


class DeliveryWorker:
    def __init__(self, outbox: Outbox, options: DeliveryOptions | None = None) -> None:
        self.outbox = outbox
        self.options = options or DeliveryOptions()
        self.store = outbox.store
        self._tasks: set[asyncio.Task] = set()
        self._last_recover = 0.0
        self.recovered_sent = 0
        self.recovered_resent = 0
        if _named_instance():
            outbox.worker_id = holder_id()

    def make_pacer(self) -> Pacer | None:
        if not self.options.pacing:
            return None
        limits = merged_limits(self.options.limits)
        return Pacer(backend_for(self.store.engine), limits, horizon_s=self.options.horizon_seconds,
                     margin=self.options.rate_margin, late_fraction=self.options.late_fraction,
                     custom=self._gateway_buckets)

    def _gateway_buckets(self, msg):
        gw = self.outbox.gateways.get(msg.platform)
        fn = getattr(gw, "rate_buckets", None)
        return fn(msg) if fn is not None else None

    # ------------------------------------------------------------------ loop
    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set, then let in-flight sends finish."""
        ob = self.outbox
        if ob.pacer is None:
            ob.pacer = self.make_pacer()
        ob.mark_retry_s = self.options.lease_seconds / 2
        ob.backoff_base_s = self.options.backoff_base_seconds
        await self._recover_safely(startup=True)
        while not stop.is_set():
            if time.monotonic() - self._last_recover > self.options.lease_seconds / 4:
                await self._recover_safely()
            free = self.options.concurrency - len(self._tasks)
            # rows put back for pacing are claimed when they come due, not at the next poll: a row
            # claimed late finds its slot taken and would go round again
            poll = ob.next_due(self.options.poll_seconds)
            if self._tasks and free < max(1, self.options.concurrency // 4):
                # while sends are under way, claim a handful at a time: rows claimed together are
                # checked and prepared together (one statement for their caps, one for their buckets)
                await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED, timeout=poll)
                continue
            claimed = 0
            if free > 0:
                try:
                    items = await self.store.claim_due(now=ob.clock.now(), limit=free, worker=ob.worker_id)
                except Exception as e:  # the database is away: keep trying, lose nothing
                    log.warning("could not claim outbox rows (%s); retrying", type(e).__name__)
                    items = []
                    await _sleep_or_stop(stop, self.options.poll_seconds)
                claimed = len(items)
                for item in items:
                    self._spawn(item)
            if claimed and claimed == free:
                continue
            if self._tasks and free <= 0:
                await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED,
                                   timeout=ob.next_due(self.options.poll_seconds))
                continue
            ob._wake.clear()
            await self._idle(stop)
        if self._tasks:
            log.info("waiting for %d in-flight send(s)", len(self._tasks))
            await asyncio.wait(self._tasks)
        p = ob.pacer
        if p is not None:
            edges = [f"<{e:g}ms" for e in LATENESS_MS] + [f">{LATENESS_MS[-1]:g}ms"]
            log.info("pacing: %d slot(s) taken, %d left empty by a late wake-up, %d send(s) deferred, "
                     "%.1fs waited; woke up %s", p.granted, p.late, p.deferred, p.waited_s,
                     " ".join(f"{e}:{n}" for e, n in zip(edges, p.lateness, strict=True) if n))

    async def _idle(self, stop: asyncio.Event) -> None:
        """Until new rows, the earliest row put back comes due, ``stop``, or the poll interval.
        A row put back meanwhile for an earlier moment shortens the wait, without a claim."""
        ob = self.outbox
        end = time.monotonic() + self.options.poll_seconds
        waiters = [asyncio.ensure_future(ob._wake.wait()), asyncio.ensure_future(stop.wait())]
        try:
            while True:
                ob.due_changed.clear()
                changed = asyncio.ensure_future(ob.due_changed.wait())
                timeout = ob.next_due(max(0.0, end - time.monotonic()))
                done, _ = await asyncio.wait([*waiters, changed], timeout=timeout,
                                             return_when=asyncio.FIRST_COMPLETED)
                changed.cancel()
                if not done or any(w in done for w in waiters):
                    return
        finally:
            for w in waiters:
                w.cancel()

    def _spawn(self, item: OutboxItem) -> None:
        t = asyncio.create_task(self._deliver_one(item))
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    async def _deliver_one(self, item: OutboxItem) -> None:
        timeout = self.options.send_timeout_seconds + self.options.horizon_seconds
        try:
            await asyncio.wait_for(self.outbox._deliver(item), timeout=timeout)
        except TimeoutError:
            log.warning("outbox %s: send outcome unknown after %.0fs; checking with the platform",
                        item.id, timeout)
            await self._resolve(item)
        except Exception:
            log.exception("outbox %s: delivery error; the row is re-examined after its lease", item.id)

    # ------------------------------------------------------------------ recovery
    async def _recover_safely(self, startup: bool = False) -> None:
        self._last_recover = time.monotonic()
        try:
            await self.recover(startup=startup)
        except Exception as e:
            log.warning("recovery of stuck outbox rows failed (%s); will retry", type(e).__name__)

    async def recover(self, *, startup: bool = False) -> int:
        """Re-examine rows left ``sending``. Returns how many were looked at."""
        prefix = None
        if startup and _named_instance():
            # an earlier run of this very instance claimed them; it is gone, no lease to wait out
            prefix = instance_name() + ":"
        n = 0
        while True:
            items = await self.store.claim_stale(now=self.outbox.clock.now(), lease_s=self.options.lease_seconds,
                                                worker=self.outbox.worker_id, previous_prefix=prefix)
            if not items:
                return n
            n += len(items)
            await asyncio.gather(*(self._resolve(i) for i in items))
            if len(items) < 100:
                return n

    async def _resolve(self, item: OutboxItem) -> None:
        """A row whose send may or may not have happened: ask the platform, then settle it."""
        ob = self.outbox
        now = ob.clock.now()
        gw = ob.gateways.get(item.message.platform)
        if gw is None:
            await self.store.touch_claim(item.id, now)
            return
        check = getattr(gw, "already_sent", None)
        if check is None:
            log.warning("outbox %s was left mid-send and %s cannot tell whether it arrived; sending it "
                        "again (at least once)", item.id, item.message.platform)
            await self.store.release_claim(item.id, now)
            self.recovered_resent += 1
            ob._wake.set()
            return
        try:
            found: SendResult | None = await check(item)
        except Exception as e:
            log.warning("outbox %s: could not check whether it was sent (%s); will look again",
                        item.id, type(e).__name__)
            await self.store.touch_claim(item.id, now)
            return
        if found is not None and found.ok:
            await self.store.mark_outbox(item.id, status="sent", now=now, native_id=found.native_id)
            await ob._notify(replace(item, status="sent", native_id=found.native_id, sent_at=now))
            self.recovered_sent += 1
            log.info("outbox %s had already been sent; marked sent, not sent again", item.id)
            return
        await self.store.release_claim(item.id, now)
        self.recovered_resent += 1
        ob._wake.set()


def _named_instance() -> bool:
    import os

    return bool(os.environ.get("STEWARD_INSTANCE"))


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)

