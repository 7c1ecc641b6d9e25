"""The backtest's store: the same Store, with the hot paths of a replay written the way the raw
``sqlite3`` reference writes.

A replay posts far more messages per second than a live community, and one thing happens at a time
on a scratch database that nothing else opens. Messages and reactions are kept as plain tuples and
written with ``executemany``; the statements every playbook run and every outreach decision makes
(preferences, run keys and counts, outbox rows, the outreach caps' counts, open cases, channels,
joins, edits) run as plain SQL on one ``sqlite3`` connection, without the statement compilation
and row processing SQLAlchemy does each time. The
rows written and the answers read are exactly the Store's (same columns, same values, times and
JSON in SQLAlchemy's SQLite formats; ``tests/replay/test_replay_store.py`` compares whole
databases). Everything else is the Store's own code.

Each write commits at once, as the Store's do, so the engine's own connections (SQLAlchemy) and
this one always see the same committed database: in a replay nothing runs concurrently.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from bot.core.events import Event, MemberJoined, MessageEdited, MessagePosted, ReactionAdded
from bot.core.records import Channel, OutboundMessage, Preferences
from bot.storage.repositories import (
    _SQLITE_MSG_SQL,
    COUNTED_STATUSES,
    Store,
    first_join,
    outbox_payload,
    sqlite_time,
    storable_text,
)

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
# positions in a message row
_CHANNEL, _MESSAGE, _TEXT, _EDITED = 1, 2, 4, 12


class ReplayStore(Store):
    """Store for a replay on a scratch SQLite database (see the module docstring)."""

    _msgs: list[list[Any]]
    _reacts: list[tuple]
    _raw: sqlite3.Connection | None

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._setup()

    def _setup(self) -> None:
        self._msgs = []
        self._reacts = []
        self._raw = None

    @classmethod
    def adopt(cls, store: Store) -> ReplayStore:
        """Turn a built app's Store into a ReplayStore in place (everything holding it keeps it)."""
        if not isinstance(store, cls):
            store.__class__ = cls
            store._setup()  # type: ignore[attr-defined]
        return store  # type: ignore[return-value]

    @property
    def raw(self) -> sqlite3.Connection:
        if self._raw is None:
            con = sqlite3.connect(self.engine.url.database, timeout=30, check_same_thread=False)
            con.execute("PRAGMA synchronous=OFF")
            con.execute("PRAGMA cache_size=-65536")
            self._raw = con
        return self._raw

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()
            self._raw = None

    # ----------------------------------------------------------------- messages and reactions
    async def record(self, ev: Event) -> dict[str, Any]:
        t = type(ev)
        if t is MessagePosted:
            self._msgs.append([
                ev.platform, ev.channel_id, ev.message_id, ev.author_id,
                storable_text(ev.text) if self.retain_text else None, sqlite_time(ev.at), ev.thread_id,
                ev.reply_to, " ".join(ev.mentions) if ev.mentions else None, int(bool(ev.is_bot)), 0, ev.kind, None, 0,
            ])
            if len(self._msgs) >= self.batch_size:
                self._write()
            return {}
        if t is ReactionAdded:
            self._reacts.append((ev.platform, ev.channel_id, ev.message_id, ev.member_id, ev.message_author_id,
                                 ev.emoji, sqlite_time(ev.at)))
            if len(self._reacts) >= self.batch_size:
                self._write()
            return {}
        if t is MessageEdited:
            if not self._edit_pending(ev):
                await self.flush()
                with self.raw as con:
                    con.execute("UPDATE messages SET text = ?, edited_at = ? "
                                "WHERE platform = ? AND channel_id = ? AND message_id = ?",
                                (storable_text(ev.text) if self.retain_text else None, sqlite_time(ev.at),
                                 ev.platform, ev.channel_id, ev.message_id))
            return {}
        if t is MemberJoined and ev.channel_id:
            return self._channel_join(ev)
        return await super().record(ev)

    def _channel_join(self, ev: MemberJoined) -> dict[str, Any]:
        """A member joining a channel (Slack's join notices), as ``Store`` records it: the channel
        membership, and the member when not known yet (then it is also their first join)."""
        at = sqlite_time(ev.at)
        with self.raw as con:
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
        self._member_cache.pop((ev.platform, ev.member_id), None)
        return {"first_join": True, "channel_join": True}

    def _edit_pending(self, ev: MessageEdited) -> bool:
        """An edit of a message still in the buffer changes the buffered row (as ``Store`` does)."""
        for row in reversed(self._msgs[-256:]):
            if row[_MESSAGE] == ev.message_id and row[_CHANNEL] == ev.channel_id and row[0] == ev.platform:
                row[_TEXT] = storable_text(ev.text) if self.retain_text else None
                row[_EDITED] = sqlite_time(ev.at)
                return True
        return False

    async def flush(self) -> None:
        await super().flush()
        self._write()

    def _write(self) -> None:
        if not self._msgs and not self._reacts:
            return
        msgs, self._msgs = self._msgs, []
        reacts, self._reacts = self._reacts, []
        con = self.raw
        try:
            with con:  # one transaction, committed (or rolled back) here
                if msgs:
                    con.executemany(_SQLITE_MSG_SQL, msgs)
                if reacts:
                    con.executemany(_REACT_SQL, reacts)
        except BaseException:
            self._msgs[:0] = msgs
            self._reacts[:0] = reacts
            raise

    # ----------------------------------------------------------------- what runs and outreach ask
    async def channels(self, platform: str) -> list[Channel]:
        rows = self.raw.execute("SELECT platform, channel_id, name, kind, topic FROM channels WHERE platform = ?",
                                (platform,)).fetchall()
        return [Channel(p, cid, name or "", kind, topic or "") for p, cid, name, kind, topic in rows]

    async def preferences(self, platform: str, member_id: str) -> Preferences:
        r = self.raw.execute("SELECT opted_out, locale FROM member_preferences WHERE platform = ? AND member_id = ?",
                             (platform, member_id)).fetchone()
        if r is None:
            return Preferences(platform, member_id)
        return Preferences(platform, member_id, bool(r[0]), r[1])

    async def claim_run(self, *, run_key: str, playbook_id: str, platform: str, subject: str,
                        period: str, now: datetime) -> bool:
        try:
            with self.raw as con:
                con.execute(_RUN_SQL, (run_key, playbook_id, platform, subject, period, sqlite_time(now)))
            return True
        except sqlite3.IntegrityError:
            return False

    async def runs_since(self, playbook_id: str, platform: str, subject: str, since: datetime) -> int:
        return int(self.raw.execute(
            "SELECT count(*) FROM playbook_runs WHERE playbook_id = ? AND platform = ? AND subject = ? "
            "AND created_at >= ?", (playbook_id, platform, subject, sqlite_time(since))).fetchone()[0])

    async def runs_in_window(self, playbook_id: str, since: datetime) -> int:
        return int(self.raw.execute(
            "SELECT count(*) FROM playbook_runs WHERE playbook_id = ? AND created_at >= ?",
            (playbook_id, sqlite_time(since))).fetchone()[0])

    async def enqueue(self, msg: OutboundMessage, *, playbook_id: str, action: str, reason: str,
                      status: str, not_before: datetime, now: datetime, automated: bool = False,
                      fallback: dict | None = None, outreach: bool = False, extra: dict | None = None) -> int | None:
        payload = outbox_payload(msg, fallback, outreach, extra)
        try:
            with self.raw as con:
                cur = con.execute(_OUTBOX_SQL, (
                    msg.dedupe_key, msg.platform, playbook_id, action, msg.kind, msg.member_id, msg.channel_id,
                    msg.thread_id, msg.text, json.dumps(payload), reason, status, sqlite_time(not_before),
                    sqlite_time(now), int(bool(automated))))
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
        return int(self.raw.execute(sql, args).fetchone()[0])

    async def outbox_count(self, platform: str, member_id: str, since: datetime, *, statuses: tuple[str, ...],
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
        return int(self.raw.execute(sql, args).fetchone()[0])

    async def has_open_case(self, platform: str, member_id: str) -> bool:
        return self.raw.execute(
            "SELECT id FROM moderation_cases WHERE platform = ? AND member_id = ? AND status = 'open' LIMIT 1",
            (platform, member_id)).fetchone() is not None
