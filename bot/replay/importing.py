"""What the export importers share: the summary of an import, problems with a location, and a
small reordering buffer that turns per-file streams into one time-ordered stream."""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from bot.core.events import Event
from bot.core.records import Channel, Member

#: what an importer yields: records first where the export has them, then time-ordered events
Record = Member | Channel | Event


@dataclass(frozen=True)
class ImportProblem:
    """One part of an export that could not be read: ``path[:line[:col]]: message``."""

    path: str
    message: str
    line: int | None = None
    column: int | None = None
    offset: int | None = None

    def __str__(self) -> str:
        where = self.path
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        elif self.offset is not None:
            where += f" (byte {self.offset})"
        return f"{where}: {self.message}"


@dataclass
class ImportSummary:
    """Counts of what was read and what was skipped, shown after an import."""

    source: str = ""
    platform: str = ""
    files: int = 0
    members: int = 0
    channels: int = 0
    counts: Counter = field(default_factory=Counter)
    problems: list[ImportProblem] = field(default_factory=list)
    first_at: datetime | None = None
    last_at: datetime | None = None

    def add(self, what: str, n: int = 1) -> None:
        self.counts[what] += n

    def problem(self, path: str, message: str, **where) -> None:
        self.problems.append(ImportProblem(path, message, **where))

    def lines(self) -> list[str]:
        """A human summary: what was imported, then every skipped part with its location."""
        c = self.counts
        out = [
            f"{self.platform} export {self.source}: {self.files} file(s), {self.members} member(s), "
            f"{self.channels} channel(s)",
            f"{c['messages']} member message(s), {c['bot_messages']} bot message(s), {c['joins']} join(s), "
            f"{c['leaves']} leave(s), {c['reactions']} reaction(s), {c['edits']} edit(s), "
            f"{c['files_shared']} file(s) shared, {c['notices']} other notice(s)",
        ]
        if self.problems:
            out.append(f"skipped {len(self.problems)} unreadable part(s):")
            out.extend(f"  {p}" for p in self.problems)
        else:
            out.append("nothing was skipped")
        return out


class Reorder:
    """Holds events briefly so that files whose times overlap (time zones, edits that happen
    later than the message) still come out in time order. Memory is bounded by the window that
    is still open, not by the size of the export."""

    def __init__(self) -> None:
        self._heap: list[tuple[datetime, int, Event]] = []
        self._seq = itertools.count()

    def push(self, ev: Event) -> None:
        heapq.heappush(self._heap, (ev.at, next(self._seq), ev))

    def release_before(self, t: datetime | None) -> Iterator[Event]:
        """Yield (in time order) every held event earlier than ``t``; all of them when None."""
        h = self._heap
        while h and (t is None or h[0][0] < t):
            yield heapq.heappop(h)[2]

    def __len__(self) -> int:
        return len(self._heap)
