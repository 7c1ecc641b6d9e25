"""What the export importers share: the summary of an import, problems with a location, and a
small reordering buffer that turns per-file streams into one time-ordered stream."""

from __future__ import annotations

import codecs
import heapq
import itertools
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

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


class Export:
    """What every export importer holds: its source, a ``progress(done, total)`` callback, the
    summary it fills, and the general channel once it is known. A subclass sets ``platform``."""

    platform: str

    def __init__(self, source: str | Path, *, progress: Callable[[int, int], None] | None = None) -> None:
        self.source = Path(source)
        self.progress = progress
        self.summary = ImportSummary(source=str(self.source), platform=self.platform)
        #: the general channel (where everyone lands when joining the workspace or server)
        self.general_channel: str | None = None


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


#: the most one value read from an export may take (a message, a member, a channel header); a
#: longer one is reported and the rest of its file skipped, so memory never follows a hostile file
MAX_VALUE_BYTES = 16 << 20
_CHUNK = 1 << 16
_WS = re.compile(r"[ \t\n\r]*")


class JsonError(ValueError):
    """A part of an export's JSON that cannot be read, with the byte offset where reading stopped."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


class JsonStream:
    """Reads one JSON document from a binary file a value at a time, with flat memory.

    Each value (an array item, an object member) is decoded by the standard library's C decoder,
    which refuses nesting deeper than the interpreter's recursion limit at once; nothing longer
    than ``max_value`` bytes is held. Errors are ``JsonError`` with the byte offset.
    (A streaming tokenizer such as ijson builds a prefix string per nesting level: a 120 KB file of
    ``[`` took it past 8 GB.)
    """

    def __init__(self, f: IO[bytes], *, max_value: int = MAX_VALUE_BYTES) -> None:
        self._f = f
        self._max = max_value
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._json = json.JSONDecoder()
        self._buf = ""
        self._i = 0
        self._base = 0  # bytes before self._buf
        self._eof = False

    def offset(self) -> int:
        """Bytes read up to the current position."""
        return self._base + len(self._buf[: self._i].encode("utf-8", "surrogatepass"))

    def _more(self, size: int = _CHUNK) -> bool:
        if self._eof:
            return False
        if self._i > _CHUNK:  # drop what was read
            self._base += len(self._buf[: self._i].encode("utf-8", "surrogatepass"))
            self._buf = self._buf[self._i:]
            self._i = 0
        data = self._f.read(size)
        try:
            self._buf += self._utf8.decode(data, final=not data)
        except UnicodeDecodeError as e:
            raise JsonError("not UTF-8", self._base + len(self._buf.encode("utf-8", "surrogatepass"))
                            + e.start) from None
        self._eof = not data
        return True

    def _peek(self) -> str:
        while True:
            self._i = _WS.match(self._buf, self._i).end()  # type: ignore[union-attr]
            if self._i < len(self._buf):
                return self._buf[self._i]
            if not self._more():
                return ""

    def _expect(self, chars: str, what: str) -> str:
        c = self._peek()
        if c == "" or c not in chars:
            raise JsonError(f"expected {what}" if c else f"truncated: expected {what}", self.offset())
        self._i += 1
        return c

    def value(self) -> Any:
        """The next whole value."""
        self._peek()
        size = _CHUNK
        while True:
            try:
                v, end = self._json.raw_decode(self._buf, self._i)
            except json.JSONDecodeError as e:
                # the value goes on past what is read so far: read more, or report where it broke
                if self._eof or not (e.pos >= len(self._buf) - 8 or e.msg.startswith("Unterminated string")):
                    at = self._base + len(self._buf[: e.pos].encode("utf-8", "surrogatepass"))
                    raise JsonError(f"malformed JSON ({e.msg})" if not self._eof or e.pos < len(self._buf)
                                    else "truncated JSON", at) from None
            except RecursionError:
                raise JsonError("nested too deeply", self.offset()) from None
            else:
                if end < len(self._buf) or self._eof:
                    self._i = end
                    return v
            if len(self._buf) - self._i > self._max:
                raise JsonError(f"a value longer than {self._max:,} bytes", self.offset())
            self._more(size)
            size = min(size * 2, self._max)

    def array(self) -> Iterator[Any]:
        """The items of the array that starts here, one at a time."""
        self._expect("[", "[")
        if self._peek() == "]":
            self._i += 1
            return
        while True:
            yield self.value()
            if self._expect(",]", ", or ]") == "]":
                return

    def members(self, stream: str | None = None) -> Iterator[tuple[str, Any]]:
        """``(key, value)`` for each member of the object that starts here; the items of the array
        under ``stream`` come one at a time, each as ``(stream, item)``."""
        self._expect("{", "{")
        if self._peek() == "}":
            self._i += 1
            return
        while True:
            key = self.value()
            if not isinstance(key, str):
                raise JsonError("expected a key", self.offset())
            self._expect(":", ":")
            if key == stream and self._peek() == "[":
                for item in self.array():
                    yield key, item
            else:
                yield key, self.value()
            if self._expect(",}", ", or }") == "}":
                return
