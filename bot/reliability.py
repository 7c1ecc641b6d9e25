"""Several instances on one database: tick locks, maintenance, log redaction.

``install(app)`` provides ``app.services.tick_lock`` so a scheduled
tick runs on one instance, registers ``/steward forget``, and adds a run hook that ``steward run``
calls: it tunes the garbage collector for a long-running process, installs the log redaction
filter, and starts the maintenance loop (message text
retention, expired leases, idle pacing buckets), whose daily run is itself taken under a tick lock
so one instance does it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot import privacy, redaction
from bot.engine.feature import Feature
from bot.storage.locks import tick_lock_for
from bot.storage.resilience import make_resilient

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger("steward.reliability")

#: how often an instance checks whether today's maintenance has run
MAINTENANCE_CHECK_S = 600.0


async def maintenance(app: App, *, now: datetime | None = None) -> dict[str, int]:
    """One maintenance pass: prune message text past retention, expired leases, idle buckets."""
    now = now or app.clock.now()
    done = await privacy.prune(app.store, app.settings.storage.message_text_retention_days, now=now)
    lock = app.services.tick_lock
    if lock is not None and hasattr(lock, "prune"):
        done["leases"] = await lock.prune()
    backend = getattr(app.delivery.pacer, "backend", None)
    if backend is not None and hasattr(backend, "prune"):
        done["rate_slots"] = await backend.prune()
    return done


async def _maintenance_loop(app: App, stop: asyncio.Event) -> None:
    lock = app.services.tick_lock
    assert lock is not None  # install() set it
    while not stop.is_set():
        day = datetime.now(UTC).date().isoformat()
        try:
            async with lock(f"maintenance:{day}") as got:
                if got:
                    done = await maintenance(app)
                    log.info("maintenance: %s", ", ".join(f"{k} {v}" for k, v in done.items()))
        except Exception as e:
            log.warning("maintenance failed (%s); will retry", type(e).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=MAINTENANCE_CHECK_S)


def tune_gc() -> None:
    """A long-running ``steward run``: what exists once it has started (modules, settings, templates,
    playbooks) lives as long as the process, so it is moved out of the collector's sight, and the
    collector runs less often. With the defaults it stops the event loop for 5-10 ms many times a
    minute and for 100-300 ms now and then (a big heap of caches), and a paced send that waits for
    its slot meanwhile wakes up late."""
    gc.collect()
    gc.freeze()
    g0, g1, g2 = gc.get_threshold()
    gc.set_threshold(max(g0, 20_000), max(g1, 50), max(g2, 100))


async def _on_run(app: App, stop: asyncio.Event) -> asyncio.Task:
    tune_gc()
    redaction.install(app.settings)
    level = os.environ.get("STEWARD_LOG_LEVEL")
    if level:  # e.g. DEBUG while diagnosing; secrets stay masked whatever the level
        logging.getLogger().setLevel(level.upper())
    return asyncio.create_task(_maintenance_loop(app, stop))


def install(app: App) -> None:
    app.services.tick_lock = tick_lock_for(app.store.database)
    if app.store.is_postgres:
        make_resilient(app.store)
    privacy.install(app)
    app.run_hooks.append(_on_run)


FEATURE = Feature("reliability", install=install)
