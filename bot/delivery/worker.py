"""The delivery worker, the one thing that sends: claims due outbox rows, asks the delivery
policies, sends through the platforms' gateways (concurrently under their limits, live), records
each outcome, and recovers rows that a dead or hung instance left in ``sending``.

One loop, ``run``, sends in ``steward run``. ``drain`` sends what is due now, one row after another,
through the same steps: tests call it, and the outbox calls it for a due row while no loop runs.

Exactly once, whoever sends:

1. The dedupe key is unique in the database, so a message is queued once.
2. A row is claimed (``pending`` → ``sending``, with ``claimed_by`` and ``claimed_at``) with
   ``FOR UPDATE SKIP LOCKED``, so one instance holds it at a time.
3. After the send, the outcome is written (and counted, bot/core/metrics.py); a database outage
   then is waited out (the outcome is kept in memory, the write retried) rather than forgotten.
4. A row still ``sending`` after the lease (the instance died between the platform accepting and
   step 3, or the send hung) is re-claimed by any instance, which first asks the platform's gateway
   ``already_sent(item)``: the gateway looks the message up on the platform (Slack: the dedupe key
   in the message metadata it attached, via conversations.history; Discord: the bot's recent
   messages in the channel, besides the nonce sent with ``enforce_nonce``). Found: the row is
   marked sent, nothing is sent again. Not found: it is sent. The same look-up comes first for a
   row whose last attempt had an unknown outcome (a 5xx, a timeout, a lost connection: ``unsure``).
   A check that fails leaves the row for the next look. A gateway without ``already_sent`` gets
   the message again (at least once); this is logged, since only the platform can tell. The
   recovery is in bot/delivery/recovery.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.exc import DBAPIError

from bot.core.ports import Gateway
from bot.core.records import OutboundMessage, OutboxItem, SendResult
from bot.delivery.options import DeliveryOptions
from bot.delivery.pacing import DueTimes, Pacer
from bot.delivery.rates import merged_limits
from bot.delivery.recovery import Recovery, named_instance
from bot.delivery.slots import backend_for
from bot.storage.locks import holder_id

if TYPE_CHECKING:
    from bot.delivery.outbox import Outbox

log = logging.getLogger("steward.delivery")

#: a row that failed this many times (rate limits and deferrals aside) is given up on
MAX_ATTEMPTS = 8


class DeliveryWorker(Recovery):
    def __init__(self, outbox: Outbox, options: DeliveryOptions | None = None, *,
                 worker_id: str | None = None) -> None:
        self.outbox = outbox
        self.options = options or DeliveryOptions()
        self.store = outbox.store
        #: who holds a claimed row (``claimed_by``): a named instance's earlier runs are known at start
        self.worker_id = worker_id or (holder_id() if named_instance() else
                                       f"{socket.gethostname()}:{os.getpid()}")
        #: paces sends under the platforms' limits while the loop runs (bot/delivery/pacing.py);
        #: None: not pacing (no loop yet, or ``pacing = false``)
        self.pacer: Pacer | None = None
        #: how long to keep retrying the write of a send's outcome while the database is away (live)
        self._mark_retry_s = 0.0
        self._tasks: set[asyncio.Task] = set()
        #: when rows this process put back for pacing come due
        self._due = DueTimes()
        self._last_recover = 0.0
        self.recovered_sent = 0
        self.recovered_resent = 0

    def make_pacer(self) -> Pacer | None:
        if not self.options.pacing:
            return None
        limits = merged_limits(self.options.limits)
        return Pacer(backend_for(self.store.database), limits, horizon_s=self.options.horizon_seconds,
                     margin=self.options.rate_margin, late_fraction=self.options.late_fraction,
                     custom=self._gateway_buckets)

    def _gateway_buckets(self, msg):
        gw = self.outbox.gateways.get(msg.platform)
        fn = getattr(gw, "rate_buckets", None)
        return fn(msg) if fn is not None else None

    # ------------------------------------------------------------------ the loop
    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set, then let in-flight sends finish."""
        ob = self.outbox
        if self.pacer is None:
            self.pacer = self.make_pacer()
        self._mark_retry_s = self.options.lease_seconds / 2
        await self._recover_safely(startup=True)
        while not stop.is_set():
            if time.monotonic() - self._last_recover > self.options.lease_seconds / 4:
                await self._recover_safely()
            free = self.options.concurrency - len(self._tasks)
            # rows put back for pacing are claimed when they come due, not at the next poll: a row
            # claimed late finds its slot taken and would go round again
            poll = self._due.next(self.options.poll_seconds)
            if self._tasks and free < max(1, self.options.concurrency // 4):
                # while sends are under way, claim a handful at a time: rows claimed together are
                # checked and prepared together (one statement for their caps, one for their buckets)
                await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED, timeout=poll)
                continue
            claimed = 0
            if free > 0:
                try:
                    items = await self._claim(free)
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
                                   timeout=self._due.next(self.options.poll_seconds))
                continue
            await self._idle(stop, ob)
        if self._tasks:
            log.info("waiting for %d in-flight send(s)", len(self._tasks))
            await asyncio.wait(self._tasks)
        if self.pacer is not None:
            log.info("pacing: %s", self.pacer.summary())

    async def drain(self, limit: int | None = None) -> int:
        """Send what is due now, one row after another, through the same steps as the loop; returns
        how many were sent. ``limit``: one claim of at most that many rows; None: everything due (a
        row that comes due again at once is not tried twice in one drain)."""
        sent = 0
        seen: set[int] = set()
        while True:
            items = await self._claim(limit or 50)
            for item in items:
                sent += await self.deliver(item)
            if limit is not None or not items or all(i.id in seen for i in items):
                return sent
            seen.update(i.id for i in items)

    async def _claim(self, limit: int) -> list[OutboxItem]:
        return await self.store.claim_due(now=self.clock.now(), limit=limit, worker=self.worker_id)

    async def _idle(self, stop: asyncio.Event, ob: Outbox) -> None:
        """Until new rows, the earliest row put back comes due, ``stop``, or the poll interval.
        A row put back meanwhile for an earlier moment shortens the wait, without a claim."""
        end = time.monotonic() + self.options.poll_seconds
        waiters = [asyncio.ensure_future(ob.woken()), asyncio.ensure_future(stop.wait())]
        try:
            while True:
                self._due.changed.clear()
                changed = asyncio.ensure_future(self._due.changed.wait())
                timeout = self._due.next(max(0.0, end - time.monotonic()))
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
            await asyncio.wait_for(self.deliver(item), timeout=timeout)
        except TimeoutError:
            log.warning("outbox %s: send outcome unknown after %.0fs; checking with the platform",
                        item.id, timeout)
            await self._resolve(item)
        except Exception:
            log.exception("outbox %s: delivery error; the row is re-examined after its lease", item.id)

    # ------------------------------------------------------------------ one row
    async def deliver(self, item: OutboxItem) -> int:
        """Send one claimed row and record the outcome. Returns 1 when it was sent."""
        now = self.clock.now()
        gw = self.outbox.gateways.get(item.message.platform)
        if item.unsure and gw is not None:
            settled = await self._look_up(item, gw)
            if settled is not None:
                return settled
        decision = await self.outbox.decide(item, now)
        if decision.verdict == "skip":
            await self.store.mark_outbox(item.id, status="skipped", now=now, error=decision.reason)
            return 0
        if decision.verdict == "defer":
            # waiting for quiet hours or a cap is not a failed attempt
            await self.store.defer_outbox(item.id, not_before=decision.until or now, error=decision.reason)
            return 0
        if decision.message is not None:  # brought up to date by a policy: the row says what went
            item = replace(item, message=decision.message)
            await self.store.set_outbox_text(item.id, decision.message.text)
        if gw is None:
            await self.store.mark_outbox(item.id, status="pending", now=now,
                                         error=f"no {item.message.platform} connection",
                                         not_before=now + timedelta(seconds=30))
            return 0
        extra: list[str] = []
        if self.pacer is not None:
            prepare = getattr(gw, "prepare", None)
            if prepare is not None:
                # lookups a send needs first happen before the slot is taken, so sends leave when
                # their slots start and do not bunch up behind them
                try:
                    await prepare(item.message)
                except Exception as e:  # the send itself will try again and report
                    log.info("preparing outbox %s failed: %s", item.id, type(e).__name__)
            # the platforms count requests: a send that also opens a DM channel takes two slots
            planned = getattr(gw, "extra_requests", None)
            extra = list(planned(item.message)) if planned is not None else []
            retry_in = await self.pacer.admit(item.message, extra, key=item.id)
            if retry_in is not None:
                await self.store.defer_outbox(item.id, not_before=now + timedelta(seconds=retry_in))
                self._due.add(retry_in)
                return 0
        try:
            if self.pacer is not None:
                with self.pacer.sending(item.message, extra):
                    result = await gw.send(item.message)
            else:
                result = await gw.send(item.message)
        except asyncio.CancelledError:
            # shutting down mid-send: leave it claimed; recovery decides (see recover_stale)
            raise
        except Exception as e:  # a gateway bug or a network error: transient, and maybe sent
            log.warning("send failed for outbox %s: %s", item.id, type(e).__name__)
            result = SendResult(ok=False, error=f"{type(e).__name__}: {e}", unsure=True)
        return await self._record(item, result)

    async def _look_up(self, item: OutboxItem, gw: Gateway) -> int | None:
        """An earlier attempt's outcome is unknown: ask the platform whether the message exists.
        Returns 1 (it does: marked sent), 0 (could not ask: tried again later) or None (it does
        not, or the platform's own answer to a resend is the check: send)."""
        check = getattr(gw, "already_sent", None)
        if check is None:  # the platform cannot be asked: the resend is at least once
            return None
        now = self.clock.now()
        try:
            found = await check(item)
        except Exception as e:  # the message may exist: never send blind; look again later
            wait = min(300.0, self.options.backoff_base_seconds * 2.0 ** item.attempts) * random.uniform(0.75, 1.0)
            log.warning("outbox %s: could not check whether it was sent (%s); will look again", item.id,
                        type(e).__name__)
            await self._mark(item.id, status="pending", now=now, not_before=now + timedelta(seconds=wait),
                             error=f"outcome unknown; checking failed: {type(e).__name__}: {e}"[:500])
            return 0
        if found is not None and found.ok:
            await self._sent(item, found.native_id, now)
            log.info("outbox %s had arrived although its answer was lost; marked sent, not sent again", item.id)
            return 1
        return None

    async def _record(self, item: OutboxItem, result: SendResult) -> int:
        now = self.clock.now()
        if result.ok:
            self.outbox.metrics.sent(item.message.platform)
            await self._sent(item, result.native_id, now)
            return 1
        if result.unsure:
            # an earlier unknown outcome stays unknown after a clear failure: only a look-up or a
            # success settles it
            result = replace(result, error=f"outcome unknown: {result.error}")
        final = result.permanent or item.attempts >= MAX_ATTEMPTS
        if final or result.retry_after is None:  # told to wait (a 429): not a failure
            self.outbox.metrics.failed(item.message.platform, final=final)
        if final:
            await self._mark(item.id, status="failed", now=now, error=result.error, unsure=result.unsure or None)
            log.info("outbox %s failed permanently: %s", item.id, result.error)
            if item.fallback:
                await self._fallback(item)
            return 0
        if result.retry_after is not None:
            # rate limited: not a failure of this message, so it does not count towards giving up
            if self.pacer is not None:
                await self.pacer.penalize(item.message, result.retry_after)
            await self.store.defer_outbox(item.id, not_before=now + timedelta(seconds=result.retry_after),
                                   error=result.error)
            return 0
        # exponential backoff with jitter, so instances retrying after one outage do not align;
        # an unknown outcome is settled within a minute (Discord honours a nonce for a few minutes)
        wait = min(60.0 if result.unsure or item.unsure else 300.0,
                   self.options.backoff_base_seconds * 2.0 ** item.attempts) * random.uniform(0.75, 1.0)
        await self._mark(item.id, status="pending", now=now, error=result.error,
                         not_before=now + timedelta(seconds=wait), unsure=result.unsure or None)
        return 0

    async def _sent(self, item: OutboxItem, native_id: str | None, now: datetime) -> None:
        await self._mark(item.id, status="sent", now=now, native_id=native_id)
        await self.outbox.notify(replace(item, status="sent", native_id=native_id, sent_at=now))

    async def _mark(self, item_id: int, **kw) -> None:
        """Record an outcome; while the database is briefly away (a restart), keep the outcome in
        memory and retry for up to ``_mark_retry_s`` rather than forget that a message went out."""
        deadline = asyncio.get_running_loop().time() + self._mark_retry_s
        delay = 0.2
        while True:
            try:
                await self.store.mark_outbox(item_id, **kw)
                return
            except (OSError, DBAPIError) as e:
                if asyncio.get_running_loop().time() >= deadline:
                    raise
                log.warning("outbox %s: could not record outcome (%s); retrying", item_id, type(e).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _fallback(self, item: OutboxItem) -> None:
        fb = item.fallback or {}
        msg = OutboundMessage(platform=item.message.platform, kind=fb.get("kind", "channel"),
                              text=fb.get("text", ""), channel_id=fb.get("channel_id"),
                              member_id=item.message.member_id,
                              mention_ids=tuple(fb.get("mention_ids") or ()),
                              dedupe_key=item.dedupe_key + ":fallback")
        await self.outbox.submit(msg, playbook_id=item.playbook_id, action=item.action + ":fallback",
                                 reason=f"fallback after: {item.error or 'DM refused'}")


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)

