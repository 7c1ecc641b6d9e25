"""APScheduler wiring: one job per scheduled playbook live; the same cron definitions give the
simulated fire times in replay."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.core.clock import as_utc
from bot.engine.durations import parse_duration

if TYPE_CHECKING:
    from bot.engine.loader import LoadedPlaybook
    from bot.engine.runner import Engine

log = logging.getLogger("steward.scheduling")


def parse_schedule(cron: str, tz: str) -> str | None:
    """None when the crontab parses, else what is wrong."""
    try:
        CronTrigger.from_crontab(cron, timezone=tz)
    except (ValueError, KeyError) as e:
        return f"cron {cron!r} does not parse: {e}"
    return None


def trigger_for(pb: LoadedPlaybook, *, start: datetime | None = None):
    t = pb.spec.trigger
    if t.schedule:
        return CronTrigger.from_crontab(t.schedule.cron, timezone=t.schedule.timezone)
    if t.interval:
        return IntervalTrigger(seconds=parse_duration(t.interval.every).total_seconds(),
                               start_date=start, timezone="UTC")
    raise ValueError(f"{pb.id} has no schedule")


def fire_times(pb: LoadedPlaybook, start: datetime, end: datetime) -> Iterator[datetime]:
    """Every time the playbook's schedule fires in (start, end], as UTC."""
    trig = trigger_for(pb, start=start)
    prev = None
    now = start
    while True:
        nxt = trig.get_next_fire_time(prev, now)
        if nxt is None:
            return
        nxt_utc = as_utc(nxt)
        if nxt_utc > end:
            return
        if nxt_utc > start:
            yield nxt_utc
        prev = nxt
        now = nxt + timedelta(microseconds=1)


def tick_time(pb: LoadedPlaybook, now: datetime) -> datetime:
    """The tick a live run belongs to. Instances that fire the same tick compute the same time,
    so their dedupe keys collide and only one digest goes out."""
    t = pb.spec.trigger
    if t.interval:
        step = parse_duration(t.interval.every).total_seconds()
        ts = now.timestamp()
        return datetime.fromtimestamp(ts - ts % step, tz=now.tzinfo)
    return now.replace(second=0, microsecond=0)


class LiveScheduler:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.scheduler = AsyncIOScheduler(timezone="UTC")

    def start(self) -> None:
        self.sync()
        self.scheduler.start()

    def sync(self) -> None:
        """(Re)create one job per scheduled playbook (called after reloads)."""
        self.scheduler.remove_all_jobs()
        for pb in self.engine.scheduled():
            self.scheduler.add_job(self._fire, trigger_for(pb), args=[pb.id], id=pb.id,
                                   coalesce=True, misfire_grace_time=300, max_instances=1)
            log.info("scheduled %s", pb.id)

    async def _fire(self, playbook_id: str) -> None:
        pb = self.engine.playbooks.get(playbook_id)
        if pb is None:
            return
        now = self.engine.clock.now()
        lock = self.engine.services.tick_lock
        tick = tick_time(pb, now)
        if lock is not None:
            async with lock(f"tick:{playbook_id}:{tick.isoformat()}") as got:
                if not got:
                    return
                await self.engine.fire_schedule(playbook_id, tick)
        else:
            await self.engine.fire_schedule(playbook_id, tick)

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
