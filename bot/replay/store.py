"""The backtest's store: the same Store, with the hot path of an import written the way the raw
``sqlite3`` reference writes it.

A replay posts far more messages per second than a live community, and one thing happens at a time,
so messages and reactions are kept as plain tuples and written with ``executemany`` on the SQLite
connection itself (inside the same kind of transaction SQLAlchemy would open), skipping the
statement compilation and per-row parameter processing SQLAlchemy does for every batch. The rows are
exactly the ones ``Store.record`` writes: same columns, same values, times in SQLAlchemy's SQLite
format. Everything else is the Store's own code.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.core.events import Event, MessageEdited, MessagePosted, ReactionAdded
from bot.storage.repositories import Store, storable_text

_MSG_SQL = ("INSERT INTO messages (platform, channel_id, message_id, author_id, text, posted_at, thread_id, "
            "reply_to, mentions, is_bot, is_question, kind, edited_at, deleted) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, 0) "
            "ON CONFLICT (platform, channel_id, message_id) DO NOTHING")
_REACT_SQL = ("INSERT INTO reactions (platform, channel_id, message_id, member_id, message_author_id, emoji, at, "
              "removed) VALUES (?, ?, ?, ?, ?, ?, ?, 0)")
# positions in a message row
_CHANNEL, _MESSAGE, _TEXT, _EDITED = 1, 2, 4, 11


def sqlite_time(dt: datetime | None) -> str | None:
    """A datetime as SQLAlchemy writes it into SQLite (wall time, microseconds always)."""
    if dt is None:
        return None
    return (f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d} "
            f"{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}.{dt.microsecond:06d}")


class ReplayStore(Store):
    """Store for a replay on a scratch SQLite database (see the module docstring)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._msgs: list[list[Any]] = []
        self._reacts: list[tuple] = []

    @classmethod
    def adopt(cls, store: Store) -> ReplayStore:
        """Turn a built app's Store into a ReplayStore in place (everything holding it keeps it)."""
        if not isinstance(store, cls):
            store.__class__ = cls
            store._msgs = []  # type: ignore[attr-defined]
            store._reacts = []  # type: ignore[attr-defined]
        return store  # type: ignore[return-value]

    async def record(self, ev: Event) -> dict[str, Any]:
        t = type(ev)
        if t is MessagePosted:
            self._msgs.append([
                ev.platform, ev.channel_id, ev.message_id, ev.author_id,
                storable_text(ev.text) if self.retain_text else None, sqlite_time(ev.at), ev.thread_id,
                ev.reply_to, " ".join(ev.mentions) if ev.mentions else None, int(bool(ev.is_bot)), ev.kind, None,
            ])
            if len(self._msgs) >= self.batch_size:
                await self.flush()
            return {}
        if t is ReactionAdded:
            self._reacts.append((ev.platform, ev.channel_id, ev.message_id, ev.member_id, ev.message_author_id,
                                 ev.emoji, sqlite_time(ev.at)))
            if len(self._reacts) >= self.batch_size:
                await self.flush()
            return {}
        if t is MessageEdited and self._edit_pending(ev):
            return {}
        return await super().record(ev)

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
        if not self._msgs and not self._reacts:
            return
        msgs, self._msgs = self._msgs, []
        reacts, self._reacts = self._reacts, []
        try:
            async with self.engine.begin() as conn:
                raw = (await conn.get_raw_connection()).driver_connection
                con = getattr(raw, "sqlite", None)
                if con is None:
                    raise RuntimeError("ReplayStore needs the inline SQLite connection (bot/replay/inline_sqlite.py)")
                if msgs:
                    con.executemany(_MSG_SQL, msgs)
                if reacts:
                    con.executemany(_REACT_SQL, reacts)
        except BaseException:
            self._msgs[:0] = msgs
            self._reacts[:0] = reacts
            raise
