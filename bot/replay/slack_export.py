"""Slack workspace export importer (the folder or the .zip Slack gives).

Layout: ``users.json``, ``channels.json`` (and ``groups.json`` for private channels), and one
``<channel>/YYYY-MM-DD.json`` per channel and day. Day files are read one day at a time across
all channels, so memory follows the busiest day, not the size of the export. ``users.json`` is
streamed a member at a time. Unreadable files are reported with their path and line, what could be
read before the error is kept, and the import goes on; so are hostile ones: a file nested past the
parser's depth, a day file over ``MAX_FILE_BYTES``, a zip member that expands more than
``MAX_ZIP_RATIO`` times (a zip bomb) is reported and skipped unread, and a zip listing more than
``MAX_ZIP_MEMBERS`` files is refused before its listing is loaded (the limits and the folder-or-zip
reading are in ``slack_files.py``).

Native IDs are kept: Slack user IDs for members, channel IDs, and message ``ts`` strings.
"""

from __future__ import annotations

import io
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from bot.core.events import (
    MemberJoined,
    MemberLeft,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    ReactionAdded,
)
from bot.core.records import Channel, Member
from bot.replay.importing import Export, JsonError, JsonStream, Record, Reorder
from bot.replay.slack_files import ZIP_ERRORS, ExportFiles, Unreadable

PLATFORM = "slack"
_DAY_FILE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.json$")
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)")

JOIN_SUBTYPES = frozenset({"channel_join", "group_join"})
LEAVE_SUBTYPES = frozenset({"channel_leave", "group_leave"})
#: channel notices and housekeeping: none of these is a message a member wrote
NOTICE_SUBTYPES = frozenset({
    "channel_topic", "channel_purpose", "channel_name", "channel_archive", "channel_unarchive",
    "group_topic", "group_purpose", "group_name", "group_archive", "group_unarchive",
    "pinned_item", "unpinned_item", "tombstone", "bot_add", "bot_remove", "bot_enable", "bot_disable",
    "reminder_add", "reminder_delete", "channel_convert_to_private", "channel_convert_to_public",
    "sh_room_created", "huddle_thread", "channel_canvas_updated", "joiner_notification",
})
BOT_SUBTYPES = frozenset({"bot_message", "slackbot_response"})


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

def ts_to_datetime(ts: str) -> datetime:
    """Slack ``ts`` ("1700000000.000100") → aware UTC datetime, exact to the microsecond (a float
    would turn .000000 into .999996 of the second before)."""
    sec, _, frac = ts.partition(".")
    return _EPOCH + timedelta(seconds=int(sec), microseconds=int((frac + "000000")[:6]))


def looks_like_slack(source: Path) -> bool:
    """True for a folder or zip with Slack's ``channels.json`` / ``users.json``."""
    try:
        files = ExportFiles(source)
    except (ValueError, FileNotFoundError):
        return False
    try:
        return files.exists("channels.json") or files.exists("users.json")
    finally:
        files.close()


class SlackExport(Export):
    """Streams a Slack export as core records and events.

    ``records()`` yields every ``Channel``, then every ``Member`` (from ``users.json``), then the
    events of all channels in time order. ``summary`` is complete once the stream is exhausted.
    ``progress(done, total)`` is called once per day file read.
    """

    platform = PLATFORM

    def __init__(self, source: str | Path, *, progress: Callable[[int, int], None] | None = None) -> None:
        super().__init__(source, progress=progress)
        self.channels: list[Channel] = []
        self._bots: set[str] = set()
        self._names: dict[str, str] = {}
        self._zones: dict[str, tuple[str | None, str | None]] = {}
        self._listing: list[str] | None = None

    def _files(self) -> ExportFiles:
        """The export's files; a folder is listed once (a listing of thousands of day files is not free)."""
        files = ExportFiles(self.source, self._listing)
        if files.zip is None:
            self._listing = files.names()
        return files

    # ------------------------------------------------------------------ public
    def active_days(self) -> list[datetime]:
        """Midnight (UTC) of every day that has a day file, in order (nothing else is read)."""
        files = self._files()
        try:
            days = sorted({m.group(1) for n in files.names() if n.count("/") == 1
                           and (m := _DAY_FILE.match(n.split("/")[1]))})
        finally:
            files.close()
        return [datetime.fromisoformat(d).replace(tzinfo=UTC) for d in days]

    def span(self) -> tuple[datetime, datetime]:
        """The days the export covers, from the day file names."""
        days = self.active_days()
        if not days:
            now = datetime.now(UTC)
            return now, now
        return days[0], days[-1] + timedelta(days=1)

    def joiners(self) -> set[str]:
        """IDs of members with a join notice anywhere in the export (a quick pass that parses only
        the day files that mention a join): the backtest lets those joins create the member."""
        found: set[str] = set()
        files = self._files()
        try:
            for n in files.names():
                if n.count("/") != 1 or not _DAY_FILE.match(n.split("/")[1]) or files.refusal(n):
                    continue  # a refused file is reported when the events are read
                try:
                    data = files.read(n)
                except Unreadable:
                    continue
                if b"_join" not in data:
                    continue
                try:
                    items = orjson.loads(data)
                except orjson.JSONDecodeError:
                    items = _salvage(data)
                for m in items if isinstance(items, list) else ():
                    if isinstance(m, dict) and m.get("subtype") in JOIN_SUBTYPES and m.get("user"):
                        found.add(m["user"])
        finally:
            files.close()
        return found

    def records(self) -> Iterator[Record]:
        files = self._files()
        try:
            folders = self._read_channels(files)
            yield from self.channels
            yield from self._read_users(files)
            yield from self._events(files, folders)
        finally:
            files.close()

    # ------------------------------------------------------------------ metadata
    def _load_json(self, files: ExportFiles, name: str) -> Any:
        if (why := files.refusal(name)) is not None:
            self.summary.problem(files.display(name), why)
            return None
        try:
            return orjson.loads(files.read(name))
        except Unreadable as e:
            self.summary.problem(files.display(name), str(e))
            return None
        except orjson.JSONDecodeError as e:
            self.summary.problem(files.display(name), f"malformed JSON ({e.msg}); file skipped",
                                 line=e.lineno, column=e.colno)
            return None

    def _read_channels(self, files: ExportFiles) -> dict[str, str]:
        """Channel records; returns folder name → channel ID."""
        folders: dict[str, str] = {}
        for name, private in (("channels.json", False), ("groups.json", True)):
            if not files.exists(name):
                continue
            data = self._load_json(files, name)
            if not isinstance(data, list):
                if data is not None:
                    self.summary.problem(files.display(name), "expected a list of channels; file skipped")
                continue
            for i, c in enumerate(data):
                if not isinstance(c, dict) or "id" not in c:
                    self.summary.problem(files.display(name), f"channel #{i + 1} has no id; skipped")
                    continue
                cid = str(c["id"])
                cname = str(c.get("name") or cid)
                folders[cname] = cid
                topic = (c.get("topic") or {}).get("value", "") if isinstance(c.get("topic"), dict) else ""
                self.channels.append(Channel(PLATFORM, cid, cname, "text", topic or ""))
                if c.get("is_general") and not private:
                    self.general_channel = cid
        if not folders:
            # an export without channels.json: every folder of day files is a channel
            for n in files.names():
                parts = n.split("/")
                if len(parts) == 2 and _DAY_FILE.match(parts[1]) and parts[0] not in folders:
                    folders[parts[0]] = parts[0]
                    self.channels.append(Channel(PLATFORM, parts[0], parts[0]))
        self.summary.channels = len(self.channels)
        return folders

    def _read_users(self, files: ExportFiles) -> Iterator[Member]:
        if not files.exists("users.json"):
            self.summary.problem(str(self.source), "no users.json: members are known only by their IDs")
            return
        if (why := files.refusal("users.json", whole=False)) is not None:
            self.summary.problem(files.display("users.json"), why)
            return
        with files.open("users.json") as f:
            stream = JsonStream(f)
            try:
                for u in stream.array():
                    m = _member(u)
                    if m is None:
                        self.summary.problem(files.display("users.json"), "a user without an id; skipped")
                        continue
                    if m.is_bot:
                        self._bots.add(m.member_id)
                    self._names[m.member_id] = m.display_name
                    if m.locale or m.timezone:
                        self._zones[m.member_id] = (m.locale, m.timezone)
                    self.summary.members += 1
                    yield m
            except JsonError as e:
                self.summary.problem(files.display("users.json"),
                                     f"{e.message}; {self.summary.members} member(s) read before it",
                                     offset=e.offset)
            except ZIP_ERRORS as e:
                self.summary.problem(files.display("users.json"), f"unreadable in the zip ({e}); "
                                     f"{self.summary.members} member(s) read before it")

    # ------------------------------------------------------------------ day files
    def _events(self, files: ExportFiles, folders: dict[str, str]) -> Iterator[Record]:
        by_day: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for n in files.names():
            parts = n.split("/")
            if len(parts) != 2:
                continue
            m = _DAY_FILE.match(parts[1])
            if m and parts[0] in folders:
                by_day[m.group(1)].append((n, folders[parts[0]]))
        total = sum(len(v) for v in by_day.values())
        done = 0
        buf = Reorder()
        summary = self.summary
        for day in sorted(by_day):
            for name, cid in sorted(by_day[day]):
                for ev in self._day_file(files, name, cid):
                    buf.push(ev)
                summary.files += 1
                done += 1
                if self.progress is not None:
                    self.progress(done, total)
            # day files are cut at the workspace's local midnight: keep a day of overlap open
            horizon = datetime.fromisoformat(day).replace(tzinfo=UTC) - timedelta(days=1)
            yield from self._released(buf, horizon)
        yield from self._released(buf, None)

    def _released(self, buf: Reorder, t: datetime | None) -> Iterator[Record]:
        s = self.summary
        for ev in buf.release_before(t):
            if s.first_at is None:
                s.first_at = ev.at
            s.last_at = ev.at
            yield ev

    def _day_file(self, files: ExportFiles, name: str, cid: str) -> list:
        if (why := files.refusal(name)) is not None:
            self.summary.problem(files.display(name), why)
            return []
        try:
            data = files.read(name)
        except Unreadable as e:
            self.summary.problem(files.display(name), str(e))
            return []
        try:
            items = orjson.loads(data)
        except orjson.JSONDecodeError as e:
            items = _salvage(data)
            self.summary.problem(files.display(name),
                                 f"malformed JSON ({e.msg}); {len(items)} message(s) before the error imported, "
                                 "the rest of the file skipped", line=e.lineno, column=e.colno)
        if not isinstance(items, list):
            self.summary.problem(files.display(name), "expected a list of messages; file skipped")
            return []
        out: list = []
        for i, m in enumerate(items):
            try:
                self._message(m, cid, out)
            except (KeyError, TypeError, ValueError, AttributeError) as e:
                self.summary.problem(files.display(name), f"message #{i + 1} unreadable ({e!r}); skipped")
        return out

    def _message(self, m: dict, cid: str, out: list) -> None:
        s = self.summary
        ts = m["ts"]
        at = ts_to_datetime(ts)
        sub = m.get("subtype")
        user = m.get("user")
        if sub in JOIN_SUBTYPES:
            locale, tz = self._zones.get(user, (None, None))
            out.append(MemberJoined(PLATFORM, at, member_id=user, display_name=self._names.get(user, ""),
                                    is_bot=user in self._bots, channel_id=cid, locale=locale, timezone=tz))
            s.counts["joins"] += 1
            return
        if sub in LEAVE_SUBTYPES:
            out.append(MemberLeft(PLATFORM, at, member_id=user, channel_id=cid))
            s.counts["leaves"] += 1
            return
        if sub in NOTICE_SUBTYPES:
            s.counts["notices"] += 1
            return
        if sub == "message_changed":
            new = m.get("message") or {}
            out.append(MessageEdited(PLATFORM, at, channel_id=cid, message_id=new["ts"],
                                     author_id=new.get("user", ""), text=new.get("text", "")))
            s.counts["edits"] += 1
            return
        if sub == "message_deleted":
            out.append(MessageDeleted(PLATFORM, at, channel_id=cid, message_id=m["deleted_ts"]))
            s.counts["notices"] += 1
            return
        is_bot = sub in BOT_SUBTYPES or "bot_id" in m or user in self._bots or user == "USLACKBOT"
        author = user or m.get("bot_id") or m.get("username") or ""
        text = m.get("text") or ""
        thread_ts = m.get("thread_ts")
        mentions = tuple(_MENTION.findall(text)) if "<@" in text else ()
        out.append(MessagePosted(
            PLATFORM, at, channel_id=cid, message_id=ts, author_id=author, text=text,
            thread_id=thread_ts if thread_ts and thread_ts != ts else None, mentions=mentions,
            is_bot=is_bot, author_name=self._names.get(author) or m.get("username"),
            kind="me" if sub == "me_message" else None,
        ))
        s.counts["bot_messages" if is_bot else "messages"] += 1
        if m.get("files"):
            s.counts["files_shared"] += len(m["files"])
        edited = m.get("edited")
        if edited and edited.get("ts") and edited["ts"] != ts:
            out.append(MessageEdited(PLATFORM, max(at, ts_to_datetime(edited["ts"])), channel_id=cid,
                                     message_id=ts, author_id=author, text=text))
            s.counts["edits"] += 1
        for r in m.get("reactions") or ():
            for u in r.get("users") or ():
                # exports carry no reaction times: the message's time is the best lower bound
                out.append(ReactionAdded(PLATFORM, at, channel_id=cid, message_id=ts, member_id=u,
                                         emoji=r.get("name", ""), message_author_id=author))
                s.counts["reactions"] += 1


def _member(u: Any) -> Member | None:
    if not isinstance(u, dict) or not u.get("id"):
        return None
    profile = u.get("profile") or {}
    name = profile.get("display_name") or profile.get("real_name") or u.get("real_name") or u.get("name") or ""
    return Member(
        platform=PLATFORM, member_id=str(u["id"]), display_name=str(name),
        locale=u.get("locale"), timezone=u.get("tz"),
        is_bot=bool(u.get("is_bot")) or u.get("id") == "USLACKBOT",
        is_staff=bool(u.get("is_admin") or u.get("is_owner") or u.get("is_primary_owner")),
    )


def _salvage(data: bytes) -> list:
    """The complete messages before the point where a broken day file stops parsing."""
    got: list = []
    try:
        for item in JsonStream(io.BytesIO(data)).array():
            got.append(item)
    except JsonError:
        pass
    return got
