"""DiscordChatExporter JSON importer: one file per channel, or a folder of them.

Every file is streamed a message at a time (a channel's file can be gigabytes); the channels are
merged in time order with one open parser per file, so memory stays flat as the export grows, and a
message nested past the parser's depth or longer than ``MAX_VALUE_BYTES`` ends its file like any
other malformed part. Replies come
from ``reference.messageId``, reactions from ``reactions[].users``, bots from ``author.isBot``,
joins from ``GuildMemberJoin`` messages. A truncated or malformed file is reported with its path and
the byte offset where parsing stopped; what was read before it is kept.

Native IDs are kept: Discord snowflakes for members, channels and messages.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from bot.core.events import Event, MemberJoined, MessageEdited, MessagePosted, ReactionAdded
from bot.core.records import Channel, Member
from bot.replay.importing import Export, JsonError, JsonStream, Record, Reorder

PLATFORM = "discord"
MESSAGE_TYPES = frozenset({"Default", "Reply", "ApplicationCommand", "ContextMenuCommand", "ThreadStarterMessage"})
JOIN_TYPES = frozenset({"GuildMemberJoin"})
THREAD_TYPES = frozenset({"GuildPublicThread", "GuildPrivateThread", "GuildNewsThread"})
_TS = re.compile(rb'"timestamp"\s*:\s*"([^"]+)"')


def parse_time(s: str) -> datetime:
    dt = datetime.fromisoformat(s)
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _files(source: Path) -> list[Path]:
    if source.is_file():
        return [source]
    if source.is_dir():
        return sorted(p for p in source.rglob("*.json") if p.is_file())
    raise FileNotFoundError(f"{source}: no such export")


def looks_like_discord(source: Path) -> bool:
    """True when the (first) JSON file starts like a DiscordChatExporter export."""
    try:
        files = _files(source)
    except FileNotFoundError:
        return False
    for p in files[:3]:
        with open(p, "rb") as f:
            head = f.read(4096)
        if b'"guild"' in head and b'"channel"' in head:
            return True
    return False


class _Header:
    def __init__(self, path: Path, channel: dict, guild: dict) -> None:
        self.path = path
        self.channel_id = str(channel.get("id") or path.stem)
        self.name = str(channel.get("name") or self.channel_id)
        self.type = str(channel.get("type") or "GuildTextChat")
        self.topic = str(channel.get("topic") or "")
        self.is_thread = self.type in THREAD_TYPES
        self.guild_id = str(guild.get("id") or "")


class DiscordExport(Export):
    """Streams DiscordChatExporter JSON as core records and events.

    ``records()`` yields every ``Channel`` first, then events of all channels in time order, each
    member's ``Member`` record just before that member's first event. ``progress(done, total)`` is
    called with bytes read.
    """

    platform = PLATFORM

    def __init__(self, source: str | Path, *, progress: Callable[[int, int], None] | None = None) -> None:
        super().__init__(source, progress=progress)
        #: members met in the files but not yet yielded (each is yielded before its first event)
        self._authors: dict[str, Member] = {}
        self._emitted: set[str] = set()
        self._headers: list[_Header] | None = None

    # ------------------------------------------------------------------ headers and span
    def _read_headers(self) -> list[_Header]:
        if self._headers is not None:
            return self._headers
        headers = []
        for p in _files(self.source):
            guild: Any = {}
            channel: Any = None
            try:
                with open(p, "rb") as f:
                    # both objects precede "messages": parsing stops as soon as the channel is read
                    for key, obj in JsonStream(f).members("messages"):
                        if key == "guild":
                            guild = obj
                        elif key == "channel":
                            channel = obj
                            break
                        elif key == "messages":
                            break
            except JsonError as e:
                self.summary.problem(str(p), f"{e.message} before any message; file skipped", offset=e.offset)
                continue
            if not isinstance(channel, dict):
                self.summary.problem(str(p), "not a DiscordChatExporter JSON file (no channel); skipped")
                continue
            headers.append(_Header(p, channel, guild if isinstance(guild, dict) else {}))
        for h in headers:
            if h.name == "general" and not h.is_thread:
                self.general_channel = h.channel_id
        self._headers = headers
        self.summary.channels = len(headers)
        return headers

    def span(self) -> tuple[datetime, datetime]:
        """First and last message time over all files (reads only each file's head and tail)."""
        first: datetime | None = None
        last: datetime | None = None
        for h in self._read_headers():
            size = h.path.stat().st_size
            with open(h.path, "rb") as f:
                m = _TS.search(f.read(1 << 16))
                f.seek(max(0, size - (1 << 18)))
                tail = _TS.findall(f.read())
            for raw in ([m.group(1)] if m else []) + tail[-1:]:
                try:
                    t = parse_time(raw.decode())
                except ValueError:
                    continue
                first = t if first is None or t < first else first
                last = t if last is None or t > last else last
        if first is None or last is None:
            now = datetime.now(UTC)
            return now, now
        # the end is exclusive: the last message belongs inside
        return first, last + timedelta(seconds=1)

    # ------------------------------------------------------------------ records
    def records(self) -> Iterator[Record]:
        headers = self._read_headers()
        for h in headers:
            yield Channel(PLATFORM, h.channel_id, h.name, "thread" if h.is_thread else "text", h.topic)
        total = sum(h.path.stat().st_size for h in headers) or 1
        opened: list[IO[bytes]] = []
        streams = []
        for h in headers:
            f = open(h.path, "rb")
            opened.append(f)
            streams.append(self._file_events(h, f))
        emitted = self._emitted
        s = self.summary
        try:
            for n, ev in enumerate(heapq.merge(*streams, key=lambda e: e.at)):
                mid = getattr(ev, "author_id", None) or getattr(ev, "member_id", None)
                if mid and mid not in emitted and mid in self._authors:
                    emitted.add(mid)
                    s.members += 1
                    yield self._authors.pop(mid)
                if s.first_at is None:
                    s.first_at = ev.at
                s.last_at = ev.at
                yield ev
                if self.progress is not None and n % 2000 == 0:
                    self.progress(min(total, sum(_tell(f) for f in opened)), total)
        finally:
            for f in opened:
                f.close()
        if self.progress is not None:
            self.progress(total, total)

    def _file_events(self, h: _Header, f: IO[bytes]) -> Iterator[Event]:
        buf = Reorder()
        s = self.summary
        s.files += 1
        i = 0
        messages = (m for key, m in JsonStream(f).members("messages") if key == "messages")
        try:
            for i, m in enumerate(messages, 1):
                try:
                    evs = self._message(h, m)
                except (KeyError, TypeError, ValueError, AttributeError) as e:
                    s.problem(str(h.path), f"message #{i} unreadable ({e!r}); skipped")
                    continue
                if not evs:
                    continue
                yield from buf.release_before(evs[0].at)
                for ev in evs:
                    buf.push(ev)
        except JsonError as e:
            what = "truncated JSON" if e.message.startswith("truncated") else e.message
            s.problem(str(h.path), f"{what}; {i} message(s) before it imported, the rest of the file skipped",
                      offset=e.offset)
        yield from buf.release_before(None)

    def _message(self, h: _Header, m: dict[str, Any]) -> list[Event]:
        s = self.summary
        mtype = m.get("type") or "Default"
        author = m.get("author") or {}
        aid = str(author["id"])
        at = parse_time(m["timestamp"])
        is_bot = bool(author.get("isBot"))
        if aid and aid not in self._authors and aid not in self._emitted:
            self._authors[aid] = (Member(
                PLATFORM, aid, display_name=str(author.get("nickname") or author.get("name") or ""),
                is_bot=is_bot, roles=tuple(str(r.get("id")) for r in author.get("roles") or () if isinstance(r, dict)),
            ))
        if mtype in JOIN_TYPES:
            s.counts["joins"] += 1
            return [MemberJoined(PLATFORM, at, member_id=aid, display_name=str(author.get("name") or ""),
                                 is_bot=is_bot)]
        if mtype not in MESSAGE_TYPES:
            s.counts["notices"] += 1
            return []
        mid = str(m["id"])
        text = m.get("content") or ""
        ref = m.get("reference") or {}
        reply_to = str(ref["messageId"]) if ref.get("messageId") else None
        cid = h.channel_id
        out: list[Event] = [MessagePosted(
            PLATFORM, at, channel_id=cid, message_id=mid, author_id=aid, text=text,
            thread_id=cid if h.is_thread else None, reply_to=reply_to,
            mentions=tuple(str(x["id"]) for x in m.get("mentions") or () if isinstance(x, dict) and x.get("id")),
            is_bot=is_bot, author_name=str(author.get("nickname") or author.get("name") or "") or None,
            channel_name=h.name,
        )]
        s.counts["bot_messages" if is_bot else "messages"] += 1
        if m.get("attachments"):
            s.counts["files_shared"] += len(m["attachments"])
        if m.get("timestampEdited"):
            out.append(MessageEdited(PLATFORM, max(at, parse_time(m["timestampEdited"])), channel_id=cid,
                                     message_id=mid, author_id=aid, text=text))
            s.counts["edits"] += 1
        for r in m.get("reactions") or ():
            emoji = r.get("emoji") or {}
            name = str(emoji.get("code") or emoji.get("name") or "")
            users = r.get("users")
            if users is None:
                s.counts["reactions_without_users"] += int(r.get("count") or 0)
                continue
            for u in users:
                uid = str(u.get("id"))
                if uid not in self._authors and uid not in self._emitted:
                    self._authors[uid] = Member(PLATFORM, uid, display_name=str(u.get("nickname") or u.get("name") or ""),
                                                is_bot=bool(u.get("isBot")))
                out.append(ReactionAdded(PLATFORM, at, channel_id=cid, message_id=mid, member_id=uid,
                                         emoji=name, message_author_id=aid))
                s.counts["reactions"] += 1
        return out


def _tell(f: IO[bytes]) -> int:
    try:
        return f.tell()
    except (OSError, ValueError):
        return 0
