"""The outbox: every outbound message is written here (with its dedupe key) before it is sent.

A unique dedupe key per playbook, subject, period and action means a retried event, a restarted
process or a second instance can never queue the same message twice. The outbox only queues: the
delivery worker (bot/delivery/worker.py) claims due rows, asks the delivery policies (opt-out,
quiet hours, caps), sends through the platform's gateway, and records the outcome on the row: sent,
failed (permanent, never retried), or pending again with a later ``not_before`` (rate limits and
transient errors).

What the worker uses of the outbox is public and small: ``gateways``, ``decide`` (the policies),
``notify`` (the listeners), ``submit`` (a fallback message), and ``wake`` / ``woken`` (new rows).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Protocol

from bot.core.clock import Clock
from bot.core.metrics import Metrics
from bot.core.ports import Gateway
from bot.core.records import OutboundMessage, OutboxItem
from bot.delivery.policies import SEND, Decision, DeliveryPolicy, OptOutPolicy
from bot.storage.repositories import Store


class Sender(Protocol):
    """What sends a due row at once while no delivery loop runs: the worker's ``drain``."""

    async def drain(self, limit: int | None = None) -> int: ...


class Outbox:
    def __init__(self, store: Store, clock: Clock, gateways: dict[str, Gateway] | None = None, *,
                 dry_run: bool = False, policies: list[DeliveryPolicy] | None = None,
                 metrics: Metrics | None = None) -> None:
        self.store = store
        self.clock = clock
        self.gateways: dict[str, Gateway] = dict(gateways or {})
        self.dry_run = dry_run
        self.policies: list[DeliveryPolicy] = policies if policies is not None else [OptOutPolicy(store)]
        #: called with each item recorded in dry-run or sent live (timelines, tests)
        self.listeners: list[Callable[[OutboxItem], Awaitable[None] | None]] = []
        #: while no delivery loop runs (tests, one-off commands), ``submit`` sends a due row at once
        #: through this (the delivery worker, bot/app.py wires it); ``steward run`` sets it to None,
        #: and the worker's loop sends every row
        self.sender: Sender | None = None
        #: the app's Prometheus counts: whoever sends from this outbox counts sends and failures here
        self.metrics = metrics if metrics is not None else Metrics()
        self._wake = asyncio.Event()

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
                          created_at=now, fallback=fallback, automated=automated, outreach=outreach,
                          meta=(extra or {}).get("meta"))
        if self.dry_run:
            decision = await self.decide(item, not_before)
            if decision.verdict == "skip":
                await self.store.mark_outbox(item_id, status="skipped", now=now, error=decision.reason)
                return replace(item, status="skipped", error=decision.reason)
            await self.notify(item)
            return item
        if deliver_now and not_before <= now and self.sender is not None:
            await self.sender.drain(limit=10)
            return await self.store.outbox_item(item_id)
        # the delivery loop sends it: the row is as written (reading it back costs a round trip)
        self.wake()
        return item

    def wake(self) -> None:
        """Rows are due (new ones, or ones put back): the delivery loop looks at once."""
        self._wake.set()

    def woken(self) -> Awaitable[bool]:
        """Something to await until the next ``wake`` (one before this call does not count)."""
        self._wake.clear()
        return self._wake.wait()

    async def decide(self, item: OutboxItem, now: datetime) -> Decision:
        """The delivery policies' verdict on a row: the first that is not "send" decides. A "send" may
        carry the message brought up to date; the policies after it see that one."""
        msg = None
        for p in self.policies:
            d = await p.decide(item, now)
            if d.verdict != "send":
                return d
            if d.message is not None:
                msg = d.message
                item = replace(item, message=msg)
        return SEND if msg is None else Decision(message=msg)

    async def notify(self, item: OutboxItem) -> None:
        """Tell the listeners about a row recorded in dry-run or sent."""
        for fn in self.listeners:
            r = fn(item)
            if asyncio.iscoroutine(r):
                await r
