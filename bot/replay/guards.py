"""Replay only: skip a scheduled scan's tick when its answer is known to be empty.

A replay fires every tick of every scheduled playbook over the whole history (a 15-minute interval is
35,040 ticks a year), and most ticks of the unanswered-questions scan find nothing: each one would
still flush the write buffers in small batches and run its query. A guard knows just enough about
one scan to prove, from the events the replay has fed, that a tick cannot list anything, and then
the tick is not fired. It never changes what a replay produces: when in doubt, the tick runs.

``unanswered_questions`` lists open questions with ``asked_at`` in ``[now - newer_than, now -
older_than]`` (in the given channels, below a tier). Two facts make an empty answer last:

- every question is a message: it has the message's channel and time (the tracker creates questions
  only from posted messages), so no question can have a time at which no message was posted there;
- a question that is not listable (answered, resolved, escalated to the tier) never becomes listable
  again: the status only leaves ``open`` and the tier only rises.

So after a tick at ``t0`` found nothing, a tick at ``t1`` can only find a question asked in
``(t0 - older_than, t1 - older_than]`` (and not before ``t1 - newer_than``): when no message was
posted in the scan's channels in that stretch, the tick is skipped.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from bot.core.events import Event, MessagePosted
from bot.engine.durations import parse_duration


class MessageTimes:
    """When messages were posted, per (platform, channel), for the last ``keep`` of replayed time.
    It knows nothing of what came before ``since`` (the replay's start): a question about earlier
    times is answered "maybe"."""

    def __init__(self, keep: timedelta, since: datetime | None = None) -> None:
        self.keep = keep
        self.since = since
        self.times: dict[tuple[str, str], list[datetime]] = {}
        self._pruned_at: datetime | None = None

    def add(self, ev: MessagePosted) -> None:
        key = (ev.platform, ev.channel_id)
        lst = self.times.get(key)
        if lst is None:
            self.times[key] = [ev.at]
        else:
            lst.append(ev.at)
        # events come in time order; forget what no guard can ask about any more, once a day
        if self._pruned_at is None or ev.at - self._pruned_at > timedelta(days=1):
            self._prune(ev.at - self.keep - timedelta(days=1))
            self._pruned_at = ev.at

    def _prune(self, before: datetime) -> None:
        for lst in self.times.values():
            i = bisect.bisect_left(lst, before)
            if i:
                del lst[:i]

    def any_between(self, platform: str, channels: set[str] | None, lo: datetime, hi: datetime) -> bool:
        """Was a message posted at a time in ``[lo, hi]`` (in ``channels``, or anywhere when None)?"""
        if lo > hi:
            return False
        if self.since is None or lo < self.since:
            return True
        for (plat, cid), lst in self.times.items():
            if plat != platform or (channels is not None and cid not in channels):
                continue
            i = bisect.bisect_left(lst, lo)
            if i < len(lst) and lst[i] <= hi:
                return True
        return False


class UnansweredGuard:
    """Guard for one playbook whose scan is ``unanswered_questions`` (see the module docstring)."""

    def __init__(self, engine: Any, pb: Any, times: MessageTimes, platforms: list[str]) -> None:
        p = pb.scan.params
        self.older = parse_duration(p.older_than)
        self.newer = parse_duration(p.newer_than)
        resolve = getattr(engine.settings, "channel_id", None)
        # the channels the scan looks at, resolved the way the scan resolves them (None: all)
        self.channels: dict[str, set[str] | None] = {}
        for plat in platforms:
            ids = {(resolve(c, plat) if callable(resolve) else None) or c for c in p.channels}
            self.channels[plat] = ids or None
        self.times = times
        #: platform -> time of the last tick whose scan listed nothing there
        self.empty_at: dict[str, datetime] = {}

    @staticmethod
    def window(pb: Any) -> timedelta:
        return parse_duration(pb.scan.params.newer_than)

    def skip(self, when: datetime) -> bool:
        if not self.channels:
            return False
        for plat, chans in self.channels.items():
            t0 = self.empty_at.get(plat)
            if t0 is None:
                return False
            lo = max(t0 - self.older, when - self.newer)
            if self.times.any_between(plat, chans, lo, when - self.older):
                return False
        return True

    def answered(self, platform: str, when: datetime, subjects: list | None) -> None:
        """What the scan listed at ``when`` (None when it failed: nothing is known)."""
        if subjects is not None and not subjects:
            self.empty_at[platform] = when
        else:
            self.empty_at.pop(platform, None)


#: scan name -> guard class
GUARDS: dict[str, type[UnansweredGuard]] = {"unanswered_questions": UnansweredGuard}


class Guards:
    """The guards of one replay: fed every event, asked before every tick. ``close()`` puts the
    playbooks' scans back as they were."""

    def __init__(self, engine: Any, playbook_ids: list[str], start: datetime) -> None:
        self.engine = engine
        self.by_pb: dict[str, UnansweredGuard] = {}
        self._restore: list[tuple[Any, Any]] = []
        keep = timedelta(0)
        chosen = []
        for pid in playbook_ids:
            pb = engine.playbooks.get(pid)
            cls = GUARDS.get(pb.scan.name) if pb is not None and pb.scan is not None else None
            if cls is None:
                continue
            try:
                keep = max(keep, cls.window(pb))
            except (AttributeError, ValueError):
                continue  # parameters this guard does not understand: no guard, every tick runs
            chosen.append((pb, cls))
        self.times = MessageTimes(keep, since=start)
        for pb, cls in chosen:
            try:
                guard = cls(engine, pb, self.times, engine.platforms_for(pb))
            except (AttributeError, ValueError):
                continue
            self.by_pb[pb.id] = guard
            self._restore.append((pb, pb.scan))
            pb.scan = dataclasses.replace(pb.scan, entry=dataclasses.replace(
                pb.scan.entry, fn=_watching(pb.scan.entry.fn, guard)))

    def __bool__(self) -> bool:
        return bool(self.by_pb)

    def observe(self, ev: Event) -> None:
        if type(ev) is MessagePosted:
            self.times.add(ev)

    def skip(self, playbook_id: str, when: datetime) -> bool:
        g = self.by_pb.get(playbook_id)
        return g is not None and g.skip(when)

    def close(self) -> None:
        for pb, step in self._restore:
            pb.scan = step
        self._restore.clear()


def _watching(fn: Callable[..., Any], guard: UnansweredGuard) -> Callable[..., Any]:
    """The scan, telling the guard what it listed."""

    async def scan(ctx, params):
        try:
            subjects = fn(ctx, params)
            if hasattr(subjects, "__await__"):
                subjects = await subjects
        except BaseException:
            guard.answered(ctx.platform, ctx.now, None)
            raise
        subjects = list(subjects)
        guard.answered(ctx.platform, ctx.now, subjects)
        return subjects

    return scan
