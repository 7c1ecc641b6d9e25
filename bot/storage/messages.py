"""Messages and reactions: the hot path, buffered and written behind in batches (``executemany``)."""

from __future__ import annotations

from sqlalchemy import and_, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.events import MessageDeleted, MessageEdited, MessagePosted, ReactionAdded, ReactionRemoved
from bot.storage.base import Db, sqlite_time, storable_text
from bot.storage.buffer import WriteBehind
from bot.storage.models import MessageRow, ReactionRow

MSG = MessageRow.__table__
R = ReactionRow.__table__
LINK_SQL = (update(MSG).where(MSG.c.platform == bindparam("p"), MSG.c.channel_id == bindparam("c"),
                              MSG.c.message_id == bindparam("m")).values(linked_to=bindparam("to")))

SQLITE_MSG_SQL = ("INSERT INTO messages (platform, channel_id, message_id, author_id, text, posted_at, thread_id, "
                  "reply_to, mentions, is_bot, is_question, kind, edited_at, deleted, linked_to) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                  "ON CONFLICT (platform, channel_id, message_id) DO NOTHING")


def _sqlite_msg_row(m: dict) -> tuple:
    """A buffered message as the values SQLAlchemy would bind for it on SQLite."""
    return (m["platform"], m["channel_id"], m["message_id"], m["author_id"], m["text"], sqlite_time(m["posted_at"]),
            m["thread_id"], m["reply_to"], m["mentions"], int(m["is_bot"]), int(m["is_question"]), m["kind"],
            sqlite_time(m["edited_at"]), int(m["deleted"]), m["linked_to"])


class Messages:
    """Messages and reactions. A full buffer is written behind (``bot/storage/buffer.py``);
    ``flush()`` writes everything and waits. Edits, deletions and removed reactions commit at once
    (after a flush, so they find their row), except an edit of a message still in the buffer."""

    def __init__(self, db: Db, *, batch_size: int, retain_text: bool) -> None:
        self.db = db
        self.retain_text = retain_text
        self._msg_buf: list[dict] = []
        self._react_buf: list[dict] = []
        #: the reply model's links of rows already taken from the buffer: (to, platform, channel, message)
        self._link_buf: list[tuple[str, str, str, str]] = []
        self.buffer = WriteBehind(take=self._take, write=self._write, pending=self._pending,
                                  batch_size=batch_size, lock=db.batch_lock)

    def _text(self, text: str | None) -> str | None:
        return storable_text(text) if self.retain_text else None

    async def posted(self, ev: MessagePosted) -> None:
        self._msg_buf.append({
            "platform": ev.platform, "channel_id": ev.channel_id, "message_id": ev.message_id,
            "author_id": ev.author_id, "text": self._text(ev.text), "posted_at": ev.at,
            "thread_id": ev.thread_id, "reply_to": ev.reply_to,
            "mentions": " ".join(ev.mentions) if ev.mentions else None, "is_bot": ev.is_bot,
            "is_question": False, "kind": ev.kind, "edited_at": None, "deleted": False, "linked_to": None,
        })
        if len(self._msg_buf) >= self.buffer.batch_size:
            await self.buffer.write_behind()

    def linked(self, platform: str, channel_id: str, message_id: str, to: str) -> None:
        """Keep the reply model's link of a message (``MessageRow.linked_to``). The observers run just
        after ``posted``, so its row is normally the newest buffered one; a row a batch has taken
        meanwhile gets an UPDATE written with the next batch (no query of its own)."""
        for row in reversed(self._msg_buf[-8:]):  # newest first: another event's row rarely comes between
            if row["message_id"] == message_id and row["channel_id"] == channel_id and row["platform"] == platform:
                row["linked_to"] = to
                return
        self._link_buf.append((to, platform, channel_id, message_id))

    async def reacted(self, ev: ReactionAdded) -> None:
        self._react_buf.append({
            "platform": ev.platform, "channel_id": ev.channel_id, "message_id": ev.message_id,
            "member_id": ev.member_id, "message_author_id": ev.message_author_id, "emoji": ev.emoji,
            "at": ev.at, "removed": False,
        })
        if len(self._react_buf) >= self.buffer.batch_size:
            await self.buffer.write_behind()

    async def edited(self, ev: MessageEdited) -> None:
        if self._edit_buffered(ev):
            return
        await self.flush()
        async with self.db.engine.begin() as conn:
            await conn.execute(update(MSG).where(_message_is(ev)).values(text=self._text(ev.text), edited_at=ev.at))

    async def deleted(self, ev: MessageDeleted) -> None:
        await self.flush()
        async with self.db.engine.begin() as conn:
            await conn.execute(update(MSG).where(_message_is(ev)).values(deleted=True, text=None))

    async def unreacted(self, ev: ReactionRemoved) -> None:
        await self.flush()
        async with self.db.engine.begin() as conn:
            await conn.execute(
                update(R).where(and_(R.c.platform == ev.platform, R.c.channel_id == ev.channel_id,
                                     R.c.message_id == ev.message_id, R.c.member_id == ev.member_id,
                                     R.c.emoji == ev.emoji))
                .values(removed=True))

    def _edit_buffered(self, ev: MessageEdited) -> bool:
        """Apply an edit to a message still waiting in the write buffer (imports edit soon after
        posting); True when it was there. Looks only at the newest rows, where a fresh edit lands."""
        for row in reversed(self._msg_buf[-256:]):
            if (row["message_id"] == ev.message_id and row["channel_id"] == ev.channel_id
                    and row["platform"] == ev.platform):
                row["text"] = self._text(ev.text)
                row["edited_at"] = ev.at
                return True
        return False

    async def flush(self) -> None:
        await self.buffer.flush()

    async def texts(self, platform: str, keys: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """(channel_id, message_id) → the kept text of those of ``keys`` that have one (written rows only)."""
        out: dict[tuple[str, str], str] = {}
        want = set(keys)
        for i in range(0, len(keys), 500):
            ids = sorted({m for _, m in keys[i:i + 500]})
            q = select(MSG.c.channel_id, MSG.c.message_id, MSG.c.text).where(
                MSG.c.platform == platform, MSG.c.message_id.in_(ids), MSG.c.text.is_not(None))
            async with self.db.engine.connect() as conn:
                for r in (await conn.execute(q)).all():
                    if (r.channel_id, r.message_id) in want:
                        out[(r.channel_id, r.message_id)] = r.text
        return out

    def _pending(self) -> int:
        return len(self._msg_buf) + len(self._react_buf) + len(self._link_buf)

    def _take(self, _final: bool) -> tuple[list[dict], list[dict], list[tuple]] | None:
        if not self._msg_buf and not self._react_buf and not self._link_buf:
            return None
        msgs, self._msg_buf = self._msg_buf, []
        reacts, self._react_buf = self._react_buf, []
        links, self._link_buf = self._link_buf, []
        return msgs, reacts, links

    async def _write(self, batch: tuple[list[dict], list[dict], list[tuple]]) -> None:
        msgs, reacts, links = batch
        try:
            async with self.db.batch_lock, self.db.engine.begin() as conn:
                if msgs and not self.db.is_postgres:
                    # the hot batch on SQLite: plain executemany on the driver's connection, in this
                    # transaction (SQLAlchemy's per-row parameter processing cost ~5 us a row on the loop)
                    raw = (await conn.get_raw_connection()).driver_connection
                    await raw.executemany(SQLITE_MSG_SQL, [_sqlite_msg_row(m) for m in msgs])
                elif msgs:
                    await self.db.insert_ignore(conn, MSG, msgs, ("platform", "channel_id", "message_id"))
                if reacts:
                    await self._upsert_reactions(conn, reacts)
                if links:  # after the inserts: a row put back by a failed batch is in this one
                    await conn.execute(LINK_SQL, [{"to": t, "p": p, "c": c, "m": m} for t, p, c, m in links])
        except BaseException:
            # the batch was rolled back: keep it for the next flush rather than lose the events
            self._msg_buf[:0] = msgs
            self._react_buf[:0] = reacts
            self._link_buf[:0] = links
            raise

    async def _upsert_reactions(self, conn: AsyncConnection, reacts: list[dict]) -> None:
        """A reaction delivered twice is one row; one added again after its removal is back."""
        unique: dict[tuple, dict] = {}
        for r in reacts:
            unique[(r["platform"], r["channel_id"], r["message_id"], r["member_id"], r["emoji"])] = r
        stmt = self.db.dialect_insert(R).values(list(unique.values()))
        await conn.execute(stmt.on_conflict_do_update(
            index_elements=["platform", "channel_id", "message_id", "member_id", "emoji"],
            set_={"removed": False, "at": stmt.excluded.at,
                  "message_author_id": func.coalesce(stmt.excluded.message_author_id, R.c.message_author_id)}))


def _message_is(ev: MessageEdited | MessageDeleted):
    return and_(MSG.c.platform == ev.platform, MSG.c.channel_id == ev.channel_id, MSG.c.message_id == ev.message_id)
