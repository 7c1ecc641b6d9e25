"""Repositories for a scratch SQLite database (the backtest's): the hot paths of a replay written the
way the raw ``sqlite3`` reference writes. ``Store(engine, scratch=True)`` chooses them.

A replay posts far more messages per second than a live community, and one thing happens at a time
on a scratch database that nothing else opens. Messages and reactions are kept as plain tuples and
written with ``executemany``; the statements every playbook run and every outreach decision makes
(preferences, run keys and counts, outbox rows, the outreach caps' counts, open cases, channels,
channel joins, edits) run as plain SQL on one ``sqlite3`` connection, without the statement
compilation and row processing SQLAlchemy does each time. The rows written and the answers read are
exactly the plain repositories' (same columns, same values, times and JSON in SQLAlchemy's SQLite
formats; ``tests/replay/test_replay_store.py`` compares whole databases). Everything else is the
plain repositories' own code.

Each write commits at once, as the plain repositories' do, so SQLAlchemy's connections and this one
always see the same committed database: in a replay nothing runs concurrently.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.events import MemberJoined, MessageEdited, MessagePosted, ReactionAdded
from bot.core.records import Channel, Preferences
from bot.storage.base import Db, sqlite_time
from bot.storage.channels import Channels
from bot.storage.members import Members, first_join
from bot.storage.messages import SQLITE_MSG_SQL, Messages
from bot.storage.outbox import COUNTED_STATUSES, Enqueue, OutboxRows
from bot.storage.preferences import MemberPreferences
from bot.storage.runs import Runs


async def prepare(engine: AsyncEngine) -> bool:
    """Make a scratch SQLite database fast: durability traded for speed, and statements run inline
    on the loop's thread (``bot/storage/inline_sqlite.py``). False when ``engine`` is not SQLite (then
    the plain repositories are the ones to use)."""
    from bot.storage.inline_sqlite import go_inline

    if engine.dialect.name != "sqlite":
        return False

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_conn, _record):
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA synchronous=OFF")
        cur.execute("PRAGMA cache_size=-65536")
        cur.execute("PRAGMA temp_store=MEMORY")
        cur.close()

    return await go_inline(engine)


class Raw:
    """The one ``sqlite3`` connection the scratch repositories share (opened when first needed)."""

    def __init__(self, db: Db) -> None:
        self.path = db.engine.url.database
        self._con: sqlite3.Connection | None = None

    @property
    def con(self) -> sqlite3.Connection:
        if self._con is None:
            con = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            con.execute("PRAGMA synchronous=OFF")
            con.execute("PRAGMA cache_size=-65536")
            self._con = con
        return self._con

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None


_REACT_SQL = ("INSERT INTO reactions (platform, channel_id, message_id, member_id, message_author_id, emoji, at, "
              "removed) VALUES (?, ?, ?, ?, ?, ?, ?, 0) "
              "ON CONFLICT (platform, channel_id, message_id, member_id, emoji) DO UPDATE SET removed = 0")
_RUN_SQL = ("INSERT INTO playbook_runs (run_key, playbook_id, platform, subject, period, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)")
_OUTBOX_SQL = ("INSERT INTO outbox (dedupe_key, platform, playbook_id, action, kind, member_id, channel_id, thread_id, "
               "text, payload, reason, status, error, attempts, not_before, created_at, automated) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 0, ?, ?, ?)")
_CM_SQL = ("INSERT INTO channel_members (platform, channel_id, member_id, joined_at, left_at) VALUES (?, ?, ?, ?, NULL) "
           "ON CONFLICT (platform, channel_id, member_id) DO NOTHING")
_NEW_MEMBER_SQL = ("INSERT INTO members (platform, member_id, display_name, locale, timezone, joined_at, first_joined_at, "
                   "is_bot, is_staff, roles, join_count, forgotten) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, '[]', 1, 0)")
_LINK_SQL = "UPDATE messages SET linked_to = ? WHERE platform = ? AND channel_id = ? AND message_id = ?"
# positions in a message row
_CHANNEL, _MESSAGE, _TEXT, _EDITED, _LINKED = 1, 2, 4, 12, 14


class ScratchMessages(Messages):
    def __init__(self, db: Db, raw: Raw, *, batch_size: int, retain_text: bool) -> None:
        super().__init__(db, batch_size=batch_size, retain_text=retain_text)
        self.raw = raw
        self._msgs: list[list[Any]] = []
        self._reacts: list[tuple] = []
        self._links: list[tuple[str, str, str, str]] = []

    async def posted(self, ev: MessagePosted) -> None:
        self._msgs.append([
            ev.platform, ev.channel_id, ev.message_id, ev.author_id, self._text(ev.text), sqlite_time(ev.at),
            ev.thread_id, ev.reply_to, " ".join(ev.mentions) if ev.mentions else None, int(bool(ev.is_bot)), 0,
            ev.kind, None, 0, None,
        ])
        if len(self._msgs) >= self.buffer.batch_size:
            self._write_raw()

    def linked(self, platform: str, channel_id: str, message_id: str, to: str) -> None:
        for row in reversed(self._msgs[-8:]):
            if row[_MESSAGE] == message_id and row[_CHANNEL] == channel_id and row[0] == platform:
                row[_LINKED] = to
                return
        self._links.append((to, platform, channel_id, message_id))

    async def reacted(self, ev: ReactionAdded) -> None:
        self._reacts.append((ev.platform, ev.channel_id, ev.message_id, ev.member_id, ev.message_author_id,
                             ev.emoji, sqlite_time(ev.at)))
        if len(self._reacts) >= self.buffer.batch_size:
            self._write_raw()

    async def edited(self, ev: MessageEdited) -> None:
        for row in reversed(self._msgs[-256:]):  # an edit of a message still in the buffer changes the row
            if row[_MESSAGE] == ev.message_id and row[_CHANNEL] == ev.channel_id and row[0] == ev.platform:
                row[_TEXT] = self._text(ev.text)
                row[_EDITED] = sqlite_time(ev.at)
                return
        await self.flush()
        with self.raw.con as con:
            con.execute("UPDATE messages SET text = ?, edited_at = ? "
                        "WHERE platform = ? AND channel_id = ? AND message_id = ?",
                        (self._text(ev.text), sqlite_time(ev.at), ev.platform, ev.channel_id, ev.message_id))

    async def flush(self) -> None:
        await super().flush()
        self._write_raw()

    def _write_raw(self) -> None:
        if not self._msgs and not self._reacts and not self._links:
            return
        msgs, self._msgs = self._msgs, []
        reacts, self._reacts = self._reacts, []
        links, self._links = self._links, []
        con = self.raw.con
        try:
            with con:  # one transaction, committed (or rolled back) here
                if msgs:
                    con.executemany(SQLITE_MSG_SQL, msgs)
                if reacts:
                    con.executemany(_REACT_SQL, reacts)
                if links:
                    con.executemany(_LINK_SQL, links)
        except BaseException:
            self._msgs[:0] = msgs
            self._reacts[:0] = reacts
            self._links[:0] = links
            raise


class ScratchMembers(Members):
    def __init__(self, db: Db, raw: Raw) -> None:
        super().__init__(db)
        self.raw = raw

    async def joined(self, ev: MemberJoined) -> dict[str, Any]:
        if not ev.channel_id:
            return await super().joined(ev)
        # a member joining a channel (Slack's join notices): the channel membership, and the member
        # when not known yet (then it is also their first join)
        at = sqlite_time(ev.at)
        with self.raw.con as con:
            con.execute(_CM_SQL, (ev.platform, ev.channel_id, ev.member_id, at))
            row = con.execute("SELECT id, join_count, first_joined_at FROM members WHERE platform = ? AND member_id = ?",
                              (ev.platform, ev.member_id)).fetchone()
            if row is not None:
                seen = datetime.fromisoformat(row[2]) if row[2] else None
                if not first_join(row[1] or 0, seen, ev.at, community=False):
                    return {"first_join": False, "channel_join": True}
                # only seen after this join so far (a leave handled first): this is the first join
                con.execute("UPDATE members SET joined_at = ?, first_joined_at = ?, left_at = NULL, join_count = ? "
                            "WHERE id = ?", (at, at, (row[1] or 0) + 1, row[0]))
            else:
                con.execute(_NEW_MEMBER_SQL, (ev.platform, ev.member_id, ev.display_name, ev.locale, ev.timezone,
                                              at, at, int(bool(ev.is_bot))))
        self.forget_cached(ev.platform, ev.member_id)
        return {"first_join": True, "channel_join": True}

    async def has_open_case(self, platform: str, member_id: str) -> bool:
        return self.raw.con.execute(
            "SELECT id FROM moderation_cases WHERE platform = ? AND member_id = ? AND status = 'open' LIMIT 1",
            (platform, member_id)).fetchone() is not None


class ScratchChannels(Channels):
    def __init__(self, db: Db, raw: Raw) -> None:
        super().__init__(db)
        self.raw = raw

    async def all(self, platform: str) -> list[Channel]:
        rows = self.raw.con.execute("SELECT platform, channel_id, name, kind, topic FROM channels WHERE platform = ?",
                                    (platform,)).fetchall()
        return [Channel(p, cid, name or "", kind, topic or "") for p, cid, name, kind, topic in rows]


class ScratchPreferences(MemberPreferences):
    def __init__(self, db: Db, raw: Raw) -> None:
        super().__init__(db)
        self.raw = raw

    async def get(self, platform: str, member_id: str) -> Preferences:
        r = self.raw.con.execute("SELECT opted_out, locale FROM member_preferences WHERE platform = ? AND member_id = ?",
                                 (platform, member_id)).fetchone()
        if r is None:
            return Preferences(platform, member_id)
        return Preferences(platform, member_id, bool(r[0]), r[1])


class ScratchRuns(Runs):
    def __init__(self, db: Db, raw: Raw) -> None:
        super().__init__(db)
        self.raw = raw

    async def claim(self, *, run_key: str, playbook_id: str, platform: str, subject: str,
                    period: str, now: datetime) -> bool:
        try:
            with self.raw.con as con:
                con.execute(_RUN_SQL, (run_key, playbook_id, platform, subject, period, sqlite_time(now)))
            return True
        except sqlite3.IntegrityError:
            return False

    async def since(self, playbook_id: str, platform: str, subject: str, since: datetime) -> int:
        return int(self.raw.con.execute(
            "SELECT count(*) FROM playbook_runs WHERE playbook_id = ? AND platform = ? AND subject = ? "
            "AND created_at >= ?", (playbook_id, platform, subject, sqlite_time(since))).fetchone()[0])

    async def in_window(self, playbook_id: str, since: datetime) -> int:
        return int(self.raw.con.execute(
            "SELECT count(*) FROM playbook_runs WHERE playbook_id = ? AND created_at >= ?",
            (playbook_id, sqlite_time(since))).fetchone()[0])


class ScratchOutbox(OutboxRows):
    def __init__(self, db: Db, raw: Raw) -> None:
        super().__init__(db)
        self.raw = raw

    async def enqueue(self, req: Enqueue) -> int | None:
        msg, kw = req.msg, req.kw
        try:
            with self.raw.con as con:
                cur = con.execute(_OUTBOX_SQL, (
                    msg.dedupe_key, msg.platform, kw["playbook_id"], kw["action"], msg.kind, msg.member_id,
                    msg.channel_id, msg.thread_id, msg.text, json.dumps(req.payload), kw["reason"], kw["status"],
                    sqlite_time(kw["not_before"]), sqlite_time(kw["now"]), int(bool(kw["automated"]))))
            return int(cur.lastrowid)
        except sqlite3.IntegrityError:
            return None

    async def automated_dms_since(self, platform: str, member_id: str, since: datetime,
                                  playbook_id: str | None = None) -> int:
        sql = ("SELECT count(*) FROM outbox WHERE platform = ? AND member_id = ? AND kind = 'dm' AND automated IS 1 "
               "AND created_at >= ? AND status IN (?, ?, ?, ?)")
        args: list[Any] = [platform, member_id, sqlite_time(since), *COUNTED_STATUSES]
        if playbook_id:
            sql += " AND playbook_id = ?"
            args.append(playbook_id)
        return int(self.raw.con.execute(sql, args).fetchone()[0])

    async def count(self, platform: str, member_id: str, since: datetime, *, statuses: tuple[str, ...],
                    actions: tuple[str, ...] = (), kind: str | None = None, automated_only: bool = False,
                    before_id: int | None = None) -> int:
        sql = (f"SELECT count(*) FROM outbox WHERE platform = ? AND member_id = ? AND created_at >= ? "
               f"AND status IN ({', '.join('?' * len(statuses))})")
        args: list[Any] = [platform, member_id, sqlite_time(since), *statuses]
        if automated_only:
            sql += " AND automated IS 1"
        if before_id is not None:
            sql += " AND id < ?"
            args.append(before_id)
        if actions:
            sql += f" AND action IN ({', '.join('?' * len(actions))})"
            args += actions
        if kind is not None:
            sql += " AND kind = ?"
            args.append(kind)
        return int(self.raw.con.execute(sql, args).fetchone()[0])
