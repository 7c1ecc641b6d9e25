"""The outbox: every outbound message is written here (with its dedupe key) before it is sent.

A unique dedupe key per playbook, subject, period and action means a retried event, a restarted
process or a second instance can never queue the same message twice. Delivery claims rows, asks
the delivery policies (opt-out, quiet hours, caps), sends through the platform's gateway, and
records the outcome on the row: sent, failed (permanent, never retried), or pending again with a
later ``not_before`` (rate limits and transient errors).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import os
import random
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy.exc import DBAPIError

from bot.core.clock import Clock
from bot.core.ports import Gateway
from bot.core.records import OutboundMessage, OutboxItem, SendResult
from bot.delivery.policies import SEND, Decision, DeliveryPolicy, OptOutPolicy
from bot.storage.repositories import Store

log = logging.getLogger("steward.outbox")

MAX_ATTEMPTS = 8


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Outbox:
    def __init__(self, store: Store, clock: Clock, gateways: dict[str, Gateway] | None = None, *,
                 dry_run: bool = False, policies: list[DeliveryPolicy] | None = None,
                 worker_id: str | None = None) -> None:
        self.store = store
        self.clock = clock
        self.gateways: dict[str, Gateway] = dict(gateways or {})
        self.dry_run = dry_run
        self.policies: list[DeliveryPolicy] = policies if policies is not None else [OptOutPolicy(store)]
        self.worker_id = worker_id or _worker_id()
        #: called with each item recorded in dry-run or sent live (timelines, tests)
        self.listeners: list[Callable[[OutboxItem], Awaitable[None] | None]] = []
        self._wake = asyncio.Event()
        #: when rows this process put back for pacing come due (``time.monotonic()``, a heap)
        self._due: list[float] = []
        self.due_changed = asyncio.Event()
        self._inflight: set[asyncio.Task] = set()
        #: live mode: the delivery worker (bot/delivery/worker.py) sends; submit only wakes it
        self.worker = None
        #: paces sends under the platforms' limits (bot/delivery/pacing.py); None: no pacing
        self.pacer = None
        #: how long to keep retrying the write of a send's outcome while the database is away
        self.mark_retry_s = 0.0
        #: first retry after a transient error waits about 2 × this; doubles per attempt (tests shrink it)
        self.backoff_base_s = 1.0

    async def submit(self, msg: OutboundMessage, *, playbook_id: str, action: str, reason: str,
                     delay: timedelta | None = None, automated: bool = False,
                     fallback: dict | None = None, deliver_now: bool = True,
                     outreach: bool = False, extra: dict | None = None) -> OutboxItem | None:
        """Queue a message. None when its dedupe key was already used (nothing is sent twice).
        ``outreach``: unsolicited (a nudge, an invitation), so it waits for room in the hourly budget."""
        now = self.clock.now()
        not_before = now + delay if delay else now
        status = "dry_run" if self.dry_run else "pending"
        item_id = await self.store.enqueue(msg, playbook_id=playbook_id, action=action, reason=reason,
                                           status=status, not_before=not_before, now=now,
                                           automated=automated, fallback=fallback, outreach=outreach,
                                           extra=extra)
        if item_id is None:
            return None
        item = OutboxItem(id=item_id, dedupe_key=msg.dedupe_key, message=msg, status=status,
                          playbook_id=playbook_id, action=action, reason=reason, not_before=not_before,
                          created_at=now, fallback=fallback, automated=automated, outreach=outreach)
        if self.dry_run:
            decision = await self._decide(item, not_before)
            if decision.verdict == "skip":
                await self.store.mark_outbox(item_id, status="skipped", now=now, error=decision.reason)
                return replace(item, status="skipped", error=decision.reason)
            await self._notify(item)
            return item
        if deliver_now and not_before <= now and self.worker is None:
            await self.deliver_due(limit=10)
            return await self.store.outbox_item(item_id)
        # the delivery worker sends it: the row is as written (reading it back costs a round trip)
        self._wake.set()
        return item

    def due_in(self, seconds: float) -> None:
        """A row this process put back comes due in ``seconds``: the worker wakes for it then."""
        at = time.monotonic() + max(0.0, seconds)
        if not self._due or at < self._due[0]:
            self.due_changed.set()  # earlier than the worker meant to wake
        heapq.heappush(self._due, at)
        if len(self._due) > 10_000:
            self._due = heapq.nsmallest(1_000, self._due)

    def next_due(self, limit: float) -> float:
        """Seconds until the earliest row put back comes due (at most ``limit``)."""
        t = time.monotonic()
        while self._due and self._due[0] <= t:
            heapq.heappop(self._due)
        return min(limit, self._due[0] - t) if self._due else limit

    async def _decide(self, item: OutboxItem, now: datetime) -> Decision:
        for p in self.policies:
            d = await p.decide(item, now)
            if d.verdict != "send":
                return d
        return SEND

    async def _notify(self, item: OutboxItem) -> None:
        for fn in self.listeners:
            r = fn(item)
            if asyncio.iscoroutine(r):
                await r

    async def deliver_due(self, limit: int = 50) -> int:
        """Claim due rows and send them. Returns how many were sent."""
        now = self.clock.now()
        items = await self.store.claim_due(now=now, limit=limit, worker=self.worker_id)
        sent = 0
        for item in items:
            sent += await self._deliver(item)
        return sent

    async def _deliver(self, item: OutboxItem) -> int:
        now = self.clock.now()
        gw = self.gateways.get(item.message.platform)
        if item.unsure and gw is not None:
            settled = await self._look_up(item, gw)
            if settled is not None:
                return settled
        decision = await self._decide(item, now)
        if decision.verdict == "skip":
            await self.store.mark_outbox(item.id, status="skipped", now=now, error=decision.reason)
            return 0
        if decision.verdict == "defer":
            # waiting for quiet hours or a cap is not a failed attempt
            await self.store.defer_outbox(item.id, not_before=decision.until or now, error=decision.reason)
            return 0
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
                self.due_in(retry_in)
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
            wait = min(300.0, self.backoff_base_s * 2.0 ** item.attempts) * random.uniform(0.75, 1.0)
            log.warning("outbox %s: could not check whether it was sent (%s); will look again", item.id,
                        type(e).__name__)
            await self._mark(item.id, status="pending", now=now, not_before=now + timedelta(seconds=wait),
                             error=f"outcome unknown; checking failed: {type(e).__name__}: {e}"[:500])
            return 0
        if found is not None and found.ok:
            await self._mark(item.id, status="sent", now=now, native_id=found.native_id)
            await self._notify(replace(item, status="sent", native_id=found.native_id, sent_at=now))
            log.info("outbox %s had arrived although its answer was lost; marked sent, not sent again", item.id)
            return 1
        return None

    async def _record(self, item: OutboxItem, result: SendResult) -> int:
        now = self.clock.now()
        if result.ok:
            await self._mark(item.id, status="sent", now=now, native_id=result.native_id)
            await self._notify(replace(item, status="sent", native_id=result.native_id, sent_at=now))
            return 1
        if result.unsure:
            # an earlier unknown outcome stays unknown after a clear failure: only a look-up or a
            # success settles it
            result = replace(result, error=f"outcome unknown: {result.error}")
        unsure = True if result.unsure else None
        if result.permanent or item.attempts >= MAX_ATTEMPTS:
            await self._mark(item.id, status="failed", now=now, error=result.error, unsure=unsure)
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
                   self.backoff_base_s * 2.0 ** item.attempts) * random.uniform(0.75, 1.0)
        await self._mark(item.id, status="pending", now=now, error=result.error,
                         not_before=now + timedelta(seconds=wait), unsure=unsure)
        return 0

    async def _mark(self, item_id: int, **kw) -> None:
        """Record an outcome; while the database is briefly away (a restart), keep the outcome in
        memory and retry for up to ``mark_retry_s`` rather than forget that a message went out."""
        deadline = asyncio.get_running_loop().time() + self.mark_retry_s
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
        await self.submit(msg, playbook_id=item.playbook_id, action=item.action + ":fallback",
                          reason=f"fallback after: {item.error or 'DM refused'}")

    async def run(self, stop: asyncio.Event, poll_s: float = 1.0) -> None:
        """Delivery loop for live mode: wakes on new rows or every ``poll_s``."""
        if self.worker is not None:
            await self.worker.run(stop)
            return
        while not stop.is_set():
            try:
                n = await self.deliver_due(limit=50)
            except Exception:
                log.exception("delivery loop error")
                n = 0
            if n:
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=poll_s)
            except TimeoutError:
                pass
