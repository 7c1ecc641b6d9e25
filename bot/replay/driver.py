"""Replay: feed a time-ordered stream of core events through the same engine on a simulated
clock, firing scheduled playbooks at the simulated times their cron definitions give. Ticks whose
scan is known to find nothing are not fired (``bot/replay/guards.py``)."""

from __future__ import annotations

import heapq
from collections.abc import AsyncIterable, Callable, Iterable
from datetime import datetime

from bot.core.clock import SimulatedClock
from bot.core.events import Event
from bot.engine.runner import Engine
from bot.replay.guards import Guards
from bot.scheduling import fire_times


class _Ticks:
    """Merges the fire times of every scheduled playbook into one time-ordered stream."""

    def __init__(self, engine: Engine, start: datetime, end: datetime) -> None:
        self.heap: list[tuple[datetime, str]] = []
        self.gens = {}
        for pb in engine.scheduled():
            if not engine.active(pb):
                continue
            gen = fire_times(pb, start, end)
            self.gens[pb.id] = gen
            self._push(pb.id)

    def _push(self, pid: str) -> None:
        nxt = next(self.gens[pid], None)
        if nxt is not None:
            heapq.heappush(self.heap, (nxt, pid))

    def next_at(self) -> datetime | None:
        """When the next tick is due (None: no more ticks)."""
        return self.heap[0][0] if self.heap else None

    def due(self, until: datetime) -> list[tuple[datetime, str]]:
        """Ticks up to ``until``. Between two events nothing changes but time, so a long run of idle
        ticks (more than ``MAX_IDLE_TICKS``) is coalesced into its first and last, as a scheduler with
        ``coalesce`` would after a pause: the first catches what became due right after the last
        event, the last what is due by now. A history with years between its days would otherwise
        replay every hourly tick of those years."""
        per: dict[str, list[datetime]] = {}
        while self.heap and self.heap[0][0] <= until:
            t, pid = heapq.heappop(self.heap)
            self._push(pid)
            per.setdefault(pid, []).append(t)
        out: list[tuple[datetime, str]] = []
        for pid, times in per.items():
            keep = times if len(times) <= MAX_IDLE_TICKS else [times[0], times[-1]]
            out += [(t, pid) for t in keep]
        return sorted(out)


MAX_IDLE_TICKS = 48
#: skip the ticks that guards prove empty (off: every tick is fired, for comparing the two)
GUARD_TICKS = True


async def replay(engine: Engine, events: Iterable[Event] | AsyncIterable[Event], *,
                 start: datetime, end: datetime,
                 progress: Callable[[int], None] | None = None) -> int:
    """Run ``events`` (sorted by time) through ``engine``. Returns how many events were replayed."""
    clock = engine.clock
    assert isinstance(clock, SimulatedClock), "replay needs a SimulatedClock"
    ticks = _Ticks(engine, start, end)
    guards = Guards(engine, list(ticks.gens) if GUARD_TICKS else [], start)
    n = 0
    next_tick = ticks.next_at()

    timers = engine.services.timers

    async def _fire_until(t: datetime) -> None:
        nonlocal next_tick
        for when, pid in ticks.due(t):
            if guards and guards.skip(pid, when):
                continue
            clock.advance_to(when)
            for timer in timers:
                await timer(when)
            await engine.fire_schedule(pid, when)
        next_tick = ticks.next_at()

    async def _one(ev: Event) -> None:
        nonlocal n
        if next_tick is not None and next_tick <= ev.at:
            await _fire_until(ev.at)
        clock.advance_to(ev.at)
        if guards:
            guards.observe(ev)
        await engine.dispatch(ev)
        n += 1
        if progress is not None and n % 1000 == 0:
            progress(n)

    try:
        if hasattr(events, "__aiter__"):
            async for ev in events:  # type: ignore[union-attr]
                await _one(ev)
        else:
            for ev in events:  # type: ignore[union-attr]
                await _one(ev)
        await _fire_until(end)
    finally:
        guards.close()
    clock.advance_to(end)
    for timer in timers:
        await timer(end)
    await engine.store.flush()
    return n
