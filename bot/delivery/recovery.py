"""Recovery of outbox rows left ``sending`` by a dead or hung instance (step 4 of the delivery
worker's exactly-once, bot/delivery/worker.py): any instance re-claims a row whose lease ran out,
asks the platform's gateway ``already_sent(item)`` first, and marks it sent (found) or makes it due
again (not found). A named instance re-claims its earlier runs' rows at start-up at once.

``Recovery`` is a part of ``DeliveryWorker``: it uses the worker's ``store``, ``outbox``, ``clock``,
``options``, ``worker_id`` and ``_sent``."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import TYPE_CHECKING

from bot.core.records import OutboxItem, SendResult
from bot.storage.locks import instance_name

if TYPE_CHECKING:
    from datetime import datetime

    from bot.core.clock import Clock
    from bot.delivery.options import DeliveryOptions
    from bot.delivery.outbox import Outbox
    from bot.storage.repositories import Store

log = logging.getLogger("steward.delivery")


def named_instance() -> bool:
    """Whether this instance has a stable name (``STEWARD_INSTANCE``): its earlier runs are known."""
    return bool(os.environ.get("STEWARD_INSTANCE"))


class Recovery:
    """Re-examines rows left ``sending``; counts what it settled."""

    outbox: Outbox
    store: Store
    options: DeliveryOptions
    worker_id: str
    _last_recover: float
    recovered_sent: int
    recovered_resent: int

    @property
    def clock(self) -> Clock:
        return self.outbox.clock

    async def _sent(self, item: OutboxItem, native_id: str | None, now: datetime) -> None:
        raise NotImplementedError

    async def _recover_safely(self, startup: bool = False) -> None:
        self._last_recover = time.monotonic()
        try:
            await self.recover(startup=startup)
        except Exception as e:
            log.warning("recovery of stuck outbox rows failed (%s); will retry", type(e).__name__)

    async def recover(self, *, startup: bool = False) -> int:
        """Re-examine rows left ``sending``. Returns how many were looked at."""
        prefix = None
        if startup and named_instance():
            # an earlier run of this very instance claimed them; it is gone, no lease to wait out
            prefix = instance_name() + ":"
        n = 0
        while True:
            items = await self.store.claim_stale(now=self.clock.now(),
                                                 lease_s=self.options.lease_seconds,
                                                 worker=self.worker_id, previous_prefix=prefix)
            if not items:
                return n
            n += len(items)
            await asyncio.gather(*(self._resolve(i) for i in items))
            if len(items) < 100:
                return n

    async def _resolve(self, item: OutboxItem) -> None:
        """A row whose send may or may not have happened: ask the platform, then settle it."""
        ob = self.outbox
        now = self.clock.now()
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
            ob.wake()
            return
        try:
            found: SendResult | None = await check(item)
        except Exception as e:
            log.warning("outbox %s: could not check whether it was sent (%s); will look again",
                        item.id, type(e).__name__)
            await self.store.touch_claim(item.id, now)
            return
        if found is not None and found.ok:
            await self._sent(item, found.native_id, now)
            self.recovered_sent += 1
            log.info("outbox %s had already been sent; marked sent, not sent again", item.id)
            return
        await self.store.release_claim(item.id, now)
        self.recovered_resent += 1
        ob.wake()
