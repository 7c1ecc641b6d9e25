"""Repositories: the only code that reads and writes tables. They return core records."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, insert, or_, select, update
from sqlalchemy import text as sql_text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.core.clock import as_utc
from bot.core.events import (
    Event,
    MemberJoined,
    MemberLeft,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    ReactionAdded,
    ReactionRemoved,
)
from bot.core.records import Channel, Member, MemberListPass, OutboundMessage, OutboxItem, Preferences
from bot.storage.models import (
    AuditRow,
    ChannelMemberRow,
    ChannelRow,
    MemberListRow,
    MemberRow,
    MessageRow,
    ModerationCaseRow,
    OutboxRow,
    PlaybookRunRow,
    PreferenceRow,
    ReactionRow,
)

M = MemberRow.__table__
ML = MemberListRow.__table__
C = ChannelRow.__table__
CM = ChannelMemberRow.__table__
MSG = MessageRow.__table__
R = ReactionRow.__table__
RUNS = PlaybookRunRow.__table__
OB = OutboxRow.__table__
P = PreferenceRow.__table__
A = AuditRow.__table__
CASES = ModerationCaseRow.__table__
#: the outbox again, for counting the budget's places inside an UPDATE of one of its rows
OB_BUDGET = OutboxRow.__table__.alias("budgeted")
#: PostgreSQL advisory lock around taking a place in the hourly outreach budget
_BUDGET_LOCK = int.from_bytes(b"stwbudgt", "big", signed=True)


_SURROGATE = re.compile("[\ud800-\udfff]")


def storable_text(text: str | None) -> str | None:
    """Text both databases accept: lone surrogates (JSON can carry them) and NUL (PostgreSQL refuses
    it) would fail a whole batch of messages, so they become U+FFFD."""
    if not text:
        return text
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = _SURROGATE.sub("\ufffd", text)
    return text


def _u(dt: datetime | None) -> datetime | None:
    return as_utc(dt) if dt is not None else None


def first_join(join_count: int, first_seen: datetime | None, at: datetime, *, community: bool) -> bool:
    """Whether a join at ``at`` is the member's first, decided by event times rather than by the
    order events are processed in. ``community``: a workspace/server join (else a channel join).

    A member with a join on record is rejoining. Otherwise ``first_seen`` is the earliest sign of
    them (a message or a leave, or the platform's join date); a join no later than it is their
    first, whatever was processed before it. None means the member list says they are here, since
    an unknown time: a channel join is then not a first join, but a workspace join (``team_join``,
    which the platform sends only for newcomers) is.
    """
    if join_count:
        return False
    if first_seen is None:
        return community
    return as_utc(at) <= as_utc(first_seen)


def member_from_row(r: Any) -> Member:
    return Member(
        platform=r.platform,
        member_id=r.member_id,
        display_name=r.display_name or "",
        locale=r.locale,
        timezone=r.timezone,
        joined_at=_u(r.joined_at),
        is_bot=bool(r.is_bot),
        is_staff=bool(r.is_staff),
        roles=tuple(r.roles or ()),
        last_active_at=_u(r.last_active_at),
        left_at=_u(r.left_at),
    )


def _outbox_from_row(r: Any) -> OutboxItem:
    payload = r.payload or {}
    msg = OutboundMessage(
        platform=r.platform,
        kind=r.kind,
        text=r.text or "",
        member_id=r.member_id,
        channel_id=r.channel_id,
        thread_id=r.thread_id,
        emoji=payload.get("emoji"),
        digest=_digest_from(payload.get("digest")),
        mention_ids=tuple(payload.get("mention_ids") or ()),
        dedupe_key=r.dedupe_key,
    )
    return OutboxItem(
        id=r.id,
        dedupe_key=r.dedupe_key,
        message=msg,
        status=r.status,
        playbook_id=r.playbook_id,
        action=r.action,
        reason=r.reason or "",
        not_before=as_utc(r.not_before),
        created_at=as_utc(r.created_at),
        attempts=r.attempts,
        error=r.error,
        sent_at=_u(r.sent_at),
        native_id=r.native_id,
        fallback=payload.get("fallback"),
        automated=bool(getattr(r, "automated", False)),
        outreach=bool(payload.get("outreach")),
        unsure=bool(getattr(r, "unsure", False)),
    )


def outbox_payload(msg: OutboundMessage, fallback: dict | None, outreach: bool,
                   extra: dict | None = None) -> dict[str, Any]:
    """What an outbox row keeps beside its columns (the same in every store)."""
    payload: dict[str, Any] = {"emoji": msg.emoji, "digest": _digest_to(msg.digest),
                               "mention_ids": list(msg.mention_ids), "fallback": fallback}
    if outreach:
        payload["outreach"] = True
    if extra:
        payload.update(extra)
    return payload


def _digest_to(d) -> dict | None:
    if d is None:
        return None
    return {
        "title": d.title,
        "footer": d.footer,
        "items": [
            {"text": i.text, "buttons": [[b.action, b.label, b.value, b.style] for b in i.buttons]}
            for i in d.items
        ],
    }


def _digest_from(d: dict | None):
    from bot.core.records import Button, Digest, DigestItem

    if not d:
        return None
    return Digest(
        title=d["title"],
        footer=d.get("footer", ""),
        items=tuple(
            DigestItem(text=i["text"], buttons=tuple(Button(*b) for b in i.get("buttons", ())))
            for i in d["items"]
        ),
    )


#: outbox statuses the outreach caps count: queued, being sent, sent, or recorded in a dry run
COUNTED_STATUSES = ("pending", "sending", "sent", "dry_run")


def sqlite_time(dt: datetime | None) -> str | None:
    """A datetime as SQLAlchemy writes it into SQLite (wall time, microseconds always)."""
    if dt is None:
        return None
    return (f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d} "
            f"{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}.{dt.microsecond:06d}")


_SQLITE_MSG_SQL = ("INSERT INTO messages (platform, channel_id, message_id, author_id, text, posted_at, thread_id, "
                   "reply_to, mentions, is_bot, is_question, kind, edited_at, deleted) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                   "ON CONFLICT (platform, channel_id, message_id) DO NOTHING")


def _sqlite_msg_row(m: dict) -> tuple:
    """A buffered message as the values SQLAlchemy would bind for it on SQLite."""
    return (m["platform"], m["channel_id"], m["message_id"], m["author_id"], m["text"], sqlite_time(m["posted_at"]),
            m["thread_id"], m["reply_to"], m["mentions"], int(m["is_bot"]), int(m["is_question"]), m["kind"],
            sqlite_time(m["edited_at"]), int(m["deleted"]))


def _same_columns(table, rows: list[dict]) -> list[dict]:
    """``rows`` with one set of keys (an executemany binds every row by the first row's keys)."""
    if len(rows) < 2:
        return rows
    first = rows[0].keys()
    if all(r.keys() == first for r in rows):
        return rows
    names: dict[str, None] = {}
    for r in rows:
        names.update(dict.fromkeys(r))
    fill = {}
    for name in names:
        d = table.c[name].default
        fill[name] = d.arg if d is not None and d.is_scalar else None
    return [r if r.keys() == names.keys() else {**fill, **r} for r in rows]


class Store:
    """Async store over one SQLAlchemy engine.

    Messages and reactions are the hot path: they are buffered and written in batches
    (``executemany``). A full buffer is written behind: the batch goes to the database in a
    background task while events keep coming (one batch in flight at a time; the next full buffer
    waits for it). ``flush()`` writes everything and waits, and comes before any read that needs the
    rows. A batch that fails goes back to the front of the buffer and its error surfaces at the
    next write or flush, so nothing is lost. Everything with a consequence (runs, outbox,
    preferences, audit) commits at once.
    """

    def __init__(self, engine: AsyncEngine, *, batch_size: int = 500, retain_text: bool = True) -> None:
        self.engine = engine
        self.batch_size = batch_size
        self.retain_text = retain_text
        self._msg_buf: list[dict] = []
        self._react_buf: list[dict] = []
        self._writing: asyncio.Task | None = None
        #: batch writes (this store's and the features') take turns: on SQLite two writers at once
        #: would make one of them sleep in the busy handler
        self.batch_lock = asyncio.Lock()
        self._member_cache: dict[tuple[str, str], Member] = {}
        self.is_postgres = engine.dialect.name == "postgresql"
        #: PostgreSQL: the same pool in autocommit, for operations that are one statement (a
        #: statement is its own transaction: no BEGIN and COMMIT round trips around it)
        self._auto = engine.execution_options(isolation_level="AUTOCOMMIT") if self.is_postgres else None
        #: PostgreSQL: concurrent requests of the hot one-row kinds share one statement
        #: (bot/storage/coalesce.py); each answers as its one-row code below would
        self._batches = None
        if self.is_postgres:
            from bot.storage.coalesce import StoreBatches

            self._batches = StoreBatches(self, one_member=self._insert_member_alone, one_run=self._claim_run_alone,
                                         one_prefs=self._preferences_alone, one_enqueue=self._enqueue_alone)

    def single(self, *, write: bool = True):
        """A connection for ONE statement: autocommit on PostgreSQL; on SQLite a transaction for
        writes (reads need none). Never use it for two statements that must commit together."""
        if self._auto is not None:
            return self._auto.connect()
        return self.engine.begin() if write else self.engine.connect()

    # ----------------------------------------------------------------- writes of events
    async def record(self, ev: Event) -> dict[str, Any]:
        """Store what an event tells us. Returns facts the engine needs (e.g. ``first_join``)."""
        if isinstance(ev, MessagePosted):
            self._msg_buf.append(
                {
                    "platform": ev.platform,
                    "channel_id": ev.channel_id,
                    "message_id": ev.message_id,
                    "author_id": ev.author_id,
                    "text": storable_text(ev.text) if self.retain_text else None,
                    "posted_at": ev.at,
                    "thread_id": ev.thread_id,
                    "reply_to": ev.reply_to,
                    "mentions": " ".join(ev.mentions) if ev.mentions else None,
                    "is_bot": ev.is_bot,
                    "is_question": False,
                    "kind": ev.kind,
                    "edited_at": None,
                    "deleted": False,
                }
            )
            if len(self._msg_buf) >= self.batch_size:
                await self._write_behind()
            return {}
        if isinstance(ev, ReactionAdded):
            self._react_buf.append(
                {
                    "platform": ev.platform,
                    "channel_id": ev.channel_id,
                    "message_id": ev.message_id,
                    "member_id": ev.member_id,
                    "message_author_id": ev.message_author_id,
                    "emoji": ev.emoji,
                    "at": ev.at,
                    "removed": False,
                }
            )
            if len(self._react_buf) >= self.batch_size:
                await self._write_behind()
            return {}
        if isinstance(ev, MemberJoined):
            return await self._member_joined(ev)
        if isinstance(ev, MemberLeft):
            await self._member_left(ev)
            return {}
        if isinstance(ev, MessageEdited) and self._edit_buffered(ev):
            return {}
        if isinstance(ev, (MessageEdited, MessageDeleted, ReactionRemoved)):
            await self.flush()
            async with self.engine.begin() as conn:
                if isinstance(ev, MessageEdited):
                    await conn.execute(
                        update(MSG)
                        .where(and_(MSG.c.platform == ev.platform, MSG.c.channel_id == ev.channel_id,
                                    MSG.c.message_id == ev.message_id))
                        .values(text=storable_text(ev.text) if self.retain_text else None, edited_at=ev.at)
                    )
                elif isinstance(ev, MessageDeleted):
                    await conn.execute(
                        update(MSG)
                        .where(and_(MSG.c.platform == ev.platform, MSG.c.channel_id == ev.channel_id,
                                    MSG.c.message_id == ev.message_id))
                        .values(deleted=True, text=None)
                    )
                else:
                    await conn.execute(
                        update(R)
                        .where(and_(R.c.platform == ev.platform, R.c.channel_id == ev.channel_id,
                                    R.c.message_id == ev.message_id, R.c.member_id == ev.member_id,
                                    R.c.emoji == ev.emoji))
                        .values(removed=True)
                    )
            return {}
        return {}

    def _edit_buffered(self, ev: MessageEdited) -> bool:
        """Apply an edit to a message still waiting in the write buffer (imports edit soon after
        posting); True when it was there. Looks only at the newest rows, where a fresh edit lands."""
        for row in reversed(self._msg_buf[-256:]):
            if (row["message_id"] == ev.message_id and row["channel_id"] == ev.channel_id
                    and row["platform"] == ev.platform):
                row["text"] = storable_text(ev.text) if self.retain_text else None
                row["edited_at"] = ev.at
                return True
        return False

    async def _write_behind(self) -> None:
        """Start writing the buffers in the background (after the batch before them is in). While
        that batch is still being written the buffers grow, up to four batches, instead of waiting."""
        task = self._writing
        if task is not None and not task.done() \
                and len(self._msg_buf) + len(self._react_buf) < 4 * self.batch_size:
            return
        await self._join_writer()
        msgs, self._msg_buf = self._msg_buf, []
        reacts, self._react_buf = self._react_buf, []
        self._writing = asyncio.create_task(self._write(msgs, reacts))

    async def _join_writer(self) -> None:
        while (task := self._writing) is not None:
            try:
                # shielded: a caller that gives up waiting does not cut the write short
                await asyncio.shield(task)  # its failure (rows back in the buffer) is the caller's error
            finally:
                if self._writing is task:
                    self._writing = None

    async def flush(self) -> None:
        """Write every buffered row and wait until it is committed."""
        await self._join_writer()
        if not self._msg_buf and not self._react_buf:
            # a batch another flush took may still be on its way in: batch writes hold this lock
            async with self.batch_lock:
                return
        msgs, self._msg_buf = self._msg_buf, []
        reacts, self._react_buf = self._react_buf, []
        await self._write(msgs, reacts)

    async def _write(self, msgs: list[dict], reacts: list[dict]) -> None:
        try:
            async with self.batch_lock, self.engine.begin() as conn:
                if msgs and not self.is_postgres:
                    # the hot batch on SQLite: plain executemany on the driver's connection, in this
                    # transaction (SQLAlchemy's per-row parameter processing cost ~5 us a row on the loop)
                    raw = (await conn.get_raw_connection()).driver_connection
                    await raw.executemany(_SQLITE_MSG_SQL, [_sqlite_msg_row(m) for m in msgs])
                elif msgs:
                    await self.insert_ignore(conn, MSG, msgs, ("platform", "channel_id", "message_id"))
                if reacts:
                    await self._upsert_reactions(conn, reacts)
        except BaseException:
            # the batch was rolled back: keep it for the next flush rather than lose the events
            self._msg_buf[:0] = msgs
            self._react_buf[:0] = reacts
            raise

    async def _upsert_reactions(self, conn: AsyncConnection, reacts: list[dict]) -> None:
        """A reaction delivered twice is one row; one added again after its removal is back."""
        from sqlalchemy.dialects.postgresql import insert as pg_insert
        from sqlalchemy.dialects.sqlite import insert as sq_insert

        unique: dict[tuple, dict] = {}
        for r in reacts:
            unique[(r["platform"], r["channel_id"], r["message_id"], r["member_id"], r["emoji"])] = r
        stmt = (pg_insert(R) if self.is_postgres else sq_insert(R)).values(list(unique.values()))
        await conn.execute(stmt.on_conflict_do_update(
            index_elements=["platform", "channel_id", "message_id", "member_id", "emoji"],
            set_={"removed": False, "at": stmt.excluded.at,
                  "message_author_id": func.coalesce(stmt.excluded.message_author_id, R.c.message_author_id)}))

    async def insert_ignore(self, conn: AsyncConnection, table, rows: list[dict], keys: Sequence[str]) -> None:
        """Insert, skipping rows whose natural key exists (a redelivered event is not a new one).
        Rows may name different columns (one batch can hold a question asked and one asked and
        resolved): a column a row leaves out gets the column's default, as a one-row insert would."""
        rows = _same_columns(table, rows)
        if self.is_postgres:
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            await conn.execute(pg_insert(table).on_conflict_do_nothing(index_elements=list(keys)), rows)
        else:
            from sqlalchemy.dialects.sqlite import insert as sq_insert

            await conn.execute(sq_insert(table).on_conflict_do_nothing(index_elements=list(keys)), rows)

    async def _member_joined(self, ev: MemberJoined) -> dict[str, Any]:
        try:
            return await self._member_joined_once(ev)
        except IntegrityError:
            # another task or instance inserted this member between our read and our insert:
            # read again, now as a known member
            return await self._member_joined_once(ev)

    async def _member_joined_once(self, ev: MemberJoined) -> dict[str, Any]:
        if not ev.channel_id and await self._insert_new(ev):
            return {"first_join": True, "channel_join": False}
        async with self.engine.begin() as conn:
            if ev.channel_id:
                await self.insert_ignore(
                    conn, CM,
                    [{"platform": ev.platform, "channel_id": ev.channel_id, "member_id": ev.member_id,
                      "joined_at": ev.at, "left_at": None}],
                    ("platform", "channel_id", "member_id"),
                )
            row = (
                await conn.execute(
                    select(M.c.id, M.c.join_count, M.c.first_joined_at, M.c.joined_at).where(
                        M.c.platform == ev.platform, M.c.member_id == ev.member_id
                    )
                )
            ).first()
            if (not ev.channel_id and row is not None and row.first_joined_at is not None
                    and as_utc(row.first_joined_at) == as_utc(ev.at) and as_utc(row.joined_at) == as_utc(ev.at)):
                # the very join event again (redelivered after an instance died mid-event): the same
                # facts, so the playbooks decide the same and their run keys stop a second send
                return {"first_join": True, "channel_join": False}
            if row is None:
                await conn.execute(
                    insert(M).values(
                        platform=ev.platform, member_id=ev.member_id, display_name=ev.display_name,
                        locale=ev.locale, timezone=ev.timezone, joined_at=ev.at, first_joined_at=ev.at,
                        is_bot=ev.is_bot, is_staff=False, roles=[], join_count=1, forgotten=False,
                    )
                )
                self._member_cache.pop((ev.platform, ev.member_id), None)
                return {"first_join": True, "channel_join": bool(ev.channel_id)}
            first = first_join(row.join_count, row.first_joined_at, ev.at, community=not ev.channel_id)
            if ev.channel_id and not first:
                # joining a channel is not joining the community
                return {"first_join": False, "channel_join": True}
            values: dict[str, Any] = {"joined_at": ev.at, "left_at": None, "join_count": row.join_count + 1}
            if ev.display_name:
                values["display_name"] = ev.display_name
            if ev.locale:
                values["locale"] = ev.locale
            if ev.timezone:
                values["timezone"] = ev.timezone
            if first:
                values["first_joined_at"] = ev.at
            await conn.execute(update(M).where(M.c.id == row.id).values(**values))
            self._member_cache.pop((ev.platform, ev.member_id), None)
            return {"first_join": first, "channel_join": bool(ev.channel_id)}

    async def _insert_new(self, ev: MemberJoined) -> bool:
        """The common case of a join, a member never seen, in one statement (no read first): True
        when this inserted the row; False when the member existed (the slower path decides)."""
        if self._batches is not None:
            inserted = await self._batches.new_member(ev)
        else:
            inserted = await self._insert_member_alone(ev)
        if inserted:
            if len(self._member_cache) > 50_000:
                self._member_cache.clear()
            # what the playbooks ask next (not_bot, the template's name) is what was just written
            self._member_cache[(ev.platform, ev.member_id)] = Member(
                ev.platform, ev.member_id, display_name=ev.display_name or "", locale=ev.locale,
                timezone=ev.timezone, joined_at=ev.at, is_bot=ev.is_bot)
        return inserted

    async def _insert_member_alone(self, ev: MemberJoined) -> bool:
        if self.is_postgres:
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        stmt = dialect_insert(M).values(
            platform=ev.platform, member_id=ev.member_id, display_name=ev.display_name, locale=ev.locale,
            timezone=ev.timezone, joined_at=ev.at, first_joined_at=ev.at, is_bot=ev.is_bot, is_staff=False,
            roles=[], join_count=1, forgotten=False,
        ).on_conflict_do_nothing(index_elements=["platform", "member_id"]).returning(M.c.id)
        async with self.single() as conn:
            return (await conn.execute(stmt)).first() is not None

    async def _member_left(self, ev: MemberLeft) -> None:
        async with self.engine.begin() as conn:
            if ev.channel_id:
                await conn.execute(
                    update(CM)
                    .where(CM.c.platform == ev.platform, CM.c.channel_id == ev.channel_id,
                           CM.c.member_id == ev.member_id)
                    .values(left_at=ev.at)
                )
            else:
                await conn.execute(
                    update(M).where(M.c.platform == ev.platform, M.c.member_id == ev.member_id)
                    .values(left_at=ev.at)
                )
            # leaving shows the member was here before: someone not yet known is recorded as seen
            # then, so that a later join is a rejoin (and an earlier one, processed late, still a first)
            await self._seen(conn, ev.platform, ev.member_id, ev.at, left_at=None if ev.channel_id else ev.at)
        self._member_cache.pop((ev.platform, ev.member_id), None)

    async def _seen(self, conn: AsyncConnection, platform: str, member_id: str, at: datetime,
                    left_at: datetime | None = None) -> None:
        """Record that an event other than a join showed this member present at ``at``: a new row
        (no join seen, ``first_joined_at`` = the earliest such sign), or an earlier sign on a row
        that has no join yet. Rows the directory listed (no date) and rows with a join are left alone."""
        if not member_id:
            return
        await self.insert_ignore(conn, M, [{
            "platform": platform, "member_id": member_id, "display_name": None, "locale": None, "timezone": None,
            "joined_at": None, "first_joined_at": at, "left_at": left_at, "is_bot": False, "is_staff": False,
            "roles": [], "join_count": 0, "forgotten": False}], ("platform", "member_id"))
        await conn.execute(update(M).where(
            M.c.platform == platform, M.c.member_id == member_id, M.c.join_count == 0,
            M.c.first_joined_at.is_not(None), M.c.first_joined_at > at).values(first_joined_at=at))

    # ----------------------------------------------------------------- members & channels
    async def upsert_member(self, m: Member, *, seen_at: datetime | None = None) -> None:
        """Create or enrich a member (display name, locale, time zone, bot/staff flags). ``seen_at``:
        the time of the event that showed this member (a message), when no join did."""
        async with self.engine.begin() as conn:
            if seen_at is not None and m.joined_at is None:
                await self._seen(conn, m.platform, m.member_id, seen_at)
            row = (
                await conn.execute(select(M.c.id).where(M.c.platform == m.platform, M.c.member_id == m.member_id))
            ).first()
            values = {
                "display_name": m.display_name or None,
                "locale": m.locale,
                "timezone": m.timezone,
                "is_bot": m.is_bot,
                "is_staff": m.is_staff,
                "roles": list(m.roles),
            }
            values = {k: v for k, v in values.items() if v is not None}
            if row is None:
                await conn.execute(
                    insert(M).values(
                        platform=m.platform, member_id=m.member_id, joined_at=m.joined_at,
                        first_joined_at=m.joined_at, join_count=0, forgotten=False,
                        **{"is_bot": False, "is_staff": False, "roles": [], **values},
                    )
                )
            else:
                await conn.execute(update(M).where(M.c.id == row.id).values(**values))
        self._member_cache.pop((m.platform, m.member_id), None)

    async def upsert_members(self, members: Iterable[Member]) -> None:
        for m in members:
            await self.upsert_member(m)

    async def add_members_bulk(self, members: Iterable[Member], batch: int = 5000) -> int:
        """Record members as known, in batches (imports, a platform's member list). A member not yet
        stored is inserted; an existing row only gains what it lacks: a join date, a name, and an
        earlier first sign of the member (``first_joined_at``). Forgotten members are left alone.
        Returns how many rows were offered."""
        n = 0
        rows: list[dict] = []
        if self.is_postgres:
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        stmt = dialect_insert(M)
        new = stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=["platform", "member_id"],
            set_={"joined_at": func.coalesce(M.c.joined_at, new.joined_at),
                  "display_name": func.coalesce(M.c.display_name, new.display_name),
                  "first_joined_at": case((M.c.first_joined_at.is_(None), new.first_joined_at),
                                          (new.first_joined_at < M.c.first_joined_at, new.first_joined_at),
                                          else_=M.c.first_joined_at)},
            # rows that already have all of it are not rewritten (a second pass over the list is reads)
            where=and_(M.c.forgotten.is_not(True), or_(
                and_(M.c.joined_at.is_(None), new.joined_at.is_not(None)),
                and_(M.c.display_name.is_(None), new.display_name.is_not(None)),
                and_(M.c.first_joined_at.is_(None), new.first_joined_at.is_not(None)),
                new.first_joined_at < M.c.first_joined_at)))

        async def _write() -> None:
            async with self.engine.begin() as conn:
                await conn.execute(stmt, rows)
            for r in rows:
                self._member_cache.pop((r["platform"], r["member_id"]), None)

        for m in members:
            rows.append({"platform": m.platform, "member_id": m.member_id, "display_name": m.display_name or None,
                         "locale": m.locale, "timezone": m.timezone, "joined_at": m.joined_at,
                         "first_joined_at": m.joined_at, "left_at": m.left_at, "is_bot": m.is_bot,
                         "is_staff": m.is_staff, "roles": list(m.roles), "join_count": 0, "forgotten": False})
            n += 1
            if len(rows) >= batch:
                await _write()
                rows = []
        if rows:
            await _write()
        return n

    async def member_list_pass(self, platform: str, scope: str, *, now: datetime) -> MemberListPass:
        """The pass over a member list to work on: an unfinished one continues from its cursor;
        after a complete one (or none), a new pass starts at the beginning. ``completed_at`` is the
        end of the last complete pass (None: the list was never read to the end)."""
        async with self.engine.begin() as conn:
            r = (await conn.execute(select(ML).where(ML.c.platform == platform, ML.c.scope == scope))).first()
            done = _u(r.completed_at) if r is not None else None
            if r is not None and (done is None or as_utc(r.started_at) > done):
                return MemberListPass(platform, scope, r.cursor, as_utc(r.started_at), done, r.members)
            values = {"cursor": None, "started_at": now, "members": 0}
            if r is None:
                await conn.execute(insert(ML).values(platform=platform, scope=scope, completed_at=None, **values))
            else:
                await conn.execute(update(ML).where(ML.c.platform == platform, ML.c.scope == scope).values(**values))
        return MemberListPass(platform, scope, None, now, done)

    async def member_list_page_done(self, platform: str, scope: str, cursor: str | None, members: int, *,
                                    completed_at: datetime | None = None) -> None:
        """Record that the pages before ``cursor`` are stored (``members`` more of them); with
        ``completed_at`` the pass is complete and the cursor is dropped."""
        values: dict[str, Any] = {"cursor": None if completed_at is not None else cursor,
                                  "members": ML.c.members + members}
        if completed_at is not None:
            values["completed_at"] = completed_at
        async with self.engine.begin() as conn:
            await conn.execute(update(ML).where(ML.c.platform == platform, ML.c.scope == scope).values(**values))

    async def member_list(self, platform: str, scope: str) -> MemberListPass | None:
        """Where the pass over a member list stands (None: never started); reads only."""
        async with self.single(write=False) as conn:
            r = (await conn.execute(select(ML).where(ML.c.platform == platform, ML.c.scope == scope))).first()
        if r is None:
            return None
        return MemberListPass(platform, scope, r.cursor, as_utc(r.started_at), _u(r.completed_at), r.members)

    async def get_member(self, platform: str, member_id: str) -> Member | None:
        key = (platform, member_id)
        hit = self._member_cache.get(key)
        if hit is not None:
            return hit
        async with self.single(write=False) as conn:
            r = (await conn.execute(select(M).where(M.c.platform == platform, M.c.member_id == member_id))).first()
        if r is None:
            return None
        m = member_from_row(r)
        if len(self._member_cache) > 50_000:
            self._member_cache.clear()
        self._member_cache[key] = m
        return m

    async def upsert_channel(self, ch: Channel) -> None:
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(select(C.c.id).where(C.c.platform == ch.platform, C.c.channel_id == ch.channel_id))
            ).first()
            if row is None:
                await conn.execute(insert(C).values(platform=ch.platform, channel_id=ch.channel_id,
                                                    name=ch.name, kind=ch.kind, topic=ch.topic))
            else:
                await conn.execute(update(C).where(C.c.id == row.id).values(name=ch.name, kind=ch.kind, topic=ch.topic))

    async def channels(self, platform: str) -> list[Channel]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(C).where(C.c.platform == platform))).all()
        return [Channel(r.platform, r.channel_id, r.name or "", r.kind, r.topic or "") for r in rows]

    async def channel_by_name(self, platform: str, name: str) -> Channel | None:
        name = name.lstrip("#")
        async with self.engine.connect() as conn:
            r = (await conn.execute(select(C).where(C.c.platform == platform, C.c.name == name))).first()
        return Channel(r.platform, r.channel_id, r.name or "", r.kind, r.topic or "") if r else None

    # ----------------------------------------------------------------- preferences
    async def preferences(self, platform: str, member_id: str) -> Preferences:
        if self._batches is not None:
            return await self._batches.preferences((platform, member_id))
        return await self._preferences_alone((platform, member_id))

    async def _preferences_alone(self, key: tuple[str, str]) -> Preferences:
        platform, member_id = key
        async with self.single(write=False) as conn:
            r = (await conn.execute(select(P).where(P.c.platform == platform, P.c.member_id == member_id))).first()
        if r is None:
            return Preferences(platform, member_id)
        return Preferences(platform, member_id, bool(r.opted_out), r.locale)

    async def set_preferences(self, platform: str, member_id: str, *, now: datetime,
                              opted_out: bool | None = None, locale: str | None = None) -> Preferences:
        async with self.engine.begin() as conn:
            r = (await conn.execute(select(P).where(P.c.platform == platform, P.c.member_id == member_id))).first()
            values: dict[str, Any] = {"updated_at": now}
            if opted_out is not None:
                values["opted_out"] = opted_out
                values["opted_out_at"] = now if opted_out else None
            if locale is not None:
                values["locale"] = locale
            if r is None:
                await conn.execute(insert(P).values(platform=platform, member_id=member_id,
                                                    **{"opted_out": False, **values}))
            else:
                await conn.execute(update(P).where(P.c.id == r.id).values(**values))
        return await self.preferences(platform, member_id)

    # ----------------------------------------------------------------- playbook runs
    async def claim_run(self, *, run_key: str, playbook_id: str, platform: str, subject: str,
                        period: str, now: datetime) -> bool:
        """Write the run's unique key; False when this (playbook, subject, period) already ran."""
        run = {"run_key": run_key, "playbook_id": playbook_id, "platform": platform, "subject": subject,
               "period": period, "now": now}
        if self._batches is not None:
            return await self._batches.run(run)
        return await self._claim_run_alone(run)

    async def _claim_run_alone(self, run: dict) -> bool:
        try:
            async with self.single() as conn:
                await conn.execute(insert(RUNS).values(run_key=run["run_key"], playbook_id=run["playbook_id"],
                                                       platform=run["platform"], subject=run["subject"],
                                                       period=run["period"], created_at=run["now"]))
            return True
        except IntegrityError:
            return False

    async def runs_since(self, playbook_id: str, platform: str, subject: str, since: datetime) -> int:
        async with self.single(write=False) as conn:
            return int(
                (await conn.execute(
                    select(func.count()).select_from(RUNS).where(
                        RUNS.c.playbook_id == playbook_id, RUNS.c.platform == platform,
                        RUNS.c.subject == subject, RUNS.c.created_at >= since)
                )).scalar_one()
            )

    async def runs_in_window(self, playbook_id: str, since: datetime) -> int:
        async with self.single(write=False) as conn:
            return int(
                (await conn.execute(
                    select(func.count()).select_from(RUNS).where(
                        RUNS.c.playbook_id == playbook_id, RUNS.c.created_at >= since)
                )).scalar_one()
            )

    # ----------------------------------------------------------------- outbox
    async def enqueue(self, msg: OutboundMessage, *, playbook_id: str, action: str, reason: str,
                      status: str, not_before: datetime, now: datetime, automated: bool = False,
                      fallback: dict | None = None, outreach: bool = False, extra: dict | None = None) -> int | None:
        """Insert an outbox row. None when the dedupe key exists (it was already queued or sent).
        ``extra``: more for the row's payload (what a feature needs to change the row later)."""
        payload = outbox_payload(msg, fallback, outreach, extra)
        from bot.storage.coalesce import Enqueue

        req = Enqueue(msg, payload, {"playbook_id": playbook_id, "action": action, "reason": reason, "status": status,
                                     "not_before": not_before, "now": now, "automated": automated})
        if self._batches is not None:
            return await self._batches.enqueue(req)
        return await self._enqueue_alone(req)

    async def _enqueue_alone(self, req) -> int | None:
        msg, kw = req.msg, req.kw
        try:
            async with self.single() as conn:
                res = await conn.execute(
                    insert(OB).values(
                        dedupe_key=msg.dedupe_key, platform=msg.platform, playbook_id=kw["playbook_id"],
                        action=kw["action"], kind=msg.kind, member_id=msg.member_id, channel_id=msg.channel_id,
                        thread_id=msg.thread_id, text=msg.text, payload=req.payload, reason=kw["reason"],
                        status=kw["status"], error=None, attempts=0, not_before=kw["not_before"],
                        created_at=kw["now"], automated=kw["automated"],
                    ).returning(OB.c.id)
                )
                return int(res.scalar_one())
        except IntegrityError:
            return None

    async def outbox_item(self, item_id: int) -> OutboxItem | None:
        async with self.single(write=False) as conn:
            r = (await conn.execute(select(OB).where(OB.c.id == item_id))).first()
        return _outbox_from_row(r) if r else None

    async def outbox_by_key(self, key: str) -> OutboxItem | None:
        async with self.engine.connect() as conn:
            r = (await conn.execute(select(OB).where(OB.c.dedupe_key == key))).first()
        return _outbox_from_row(r) if r else None

    async def claim_due(self, *, now: datetime, limit: int, worker: str, lease_s: float = 300) -> list[OutboxItem]:
        """Claim due rows for sending. PostgreSQL: ``FOR UPDATE SKIP LOCKED`` so instances never
        claim the same row; SQLite has one writer, so a conditional update does the same."""
        from datetime import timedelta

        stale = now - timedelta(seconds=lease_s)
        async with self.engine.begin() as conn:
            q = (
                select(OB.c.id)
                .where(OB.c.status == "pending", OB.c.not_before <= now)
                .order_by(OB.c.not_before, OB.c.id)
                .limit(limit)
            )
            if self.is_postgres:
                q = q.with_for_update(skip_locked=True)
            ids = [r.id for r in (await conn.execute(q)).all()]
            if not ids:
                return []
            await conn.execute(
                update(OB).where(OB.c.id.in_(ids), OB.c.status == "pending")
                .values(status="sending", claimed_by=worker, claimed_at=now, attempts=OB.c.attempts + 1)
            )
            rows = (await conn.execute(select(OB).where(OB.c.id.in_(ids), OB.c.claimed_by == worker,
                                                        OB.c.status == "sending"))).all()
        del stale
        return [_outbox_from_row(r) for r in rows]

    async def mark_outbox(self, item_id: int, *, status: str, now: datetime, error: str | None = None,
                          native_id: str | None = None, not_before: datetime | None = None,
                          unsure: bool | None = None) -> None:
        """Record an attempt's outcome. ``unsure=True``: the platform may have made the message (the
        next attempt asks it first); None leaves that as it was; a sent row is sure."""
        values: dict[str, Any] = {"status": status, "error": error}
        if unsure is not None or status == "sent":
            values["unsure"] = bool(unsure)
        if status == "sent":
            values["sent_at"] = now
            values["native_id"] = native_id
        if not_before is not None:
            values["not_before"] = not_before
        async with self.single() as conn:
            await conn.execute(update(OB).where(OB.c.id == item_id).values(**values))

    async def outbox(self, *, status: str | None = None, playbook_id: str | None = None) -> list[OutboxItem]:
        q = select(OB).order_by(OB.c.not_before, OB.c.id)
        if status:
            q = q.where(OB.c.status == status)
        if playbook_id:
            q = q.where(OB.c.playbook_id == playbook_id)
        async with self.engine.connect() as conn:
            return [_outbox_from_row(r) for r in (await conn.execute(q)).all()]

    async def automated_dms_since(self, platform: str, member_id: str, since: datetime,
                                  playbook_id: str | None = None) -> int:
        """Automated DMs queued or sent to a member since ``since`` (caps count these)."""
        q = select(func.count()).select_from(OB).where(
            OB.c.platform == platform, OB.c.member_id == member_id, OB.c.kind == "dm",
            OB.c.automated.is_(True), OB.c.created_at >= since,
            OB.c.status.in_(COUNTED_STATUSES),
        )
        if playbook_id:
            q = q.where(OB.c.playbook_id == playbook_id)
        async with self.single(write=False) as conn:
            return int((await conn.execute(q)).scalar_one())

    async def outbox_count(self, platform: str, member_id: str, since: datetime, *, statuses: tuple[str, ...],
                           actions: tuple[str, ...] = (), kind: str | None = None, automated_only: bool = False,
                           before_id: int | None = None) -> int:
        """Outbox rows to a member created since ``since`` with one of ``statuses``; only these
        ``actions`` / this ``kind`` when given, only automated ones with ``automated_only``, only rows
        queued before row ``before_id`` when given (what the outreach caps count)."""
        q = select(func.count()).select_from(OB).where(
            OB.c.platform == platform, OB.c.member_id == member_id, OB.c.created_at >= since,
            OB.c.status.in_(statuses))
        if automated_only:
            q = q.where(OB.c.automated.is_(True))
        if before_id is not None:
            q = q.where(OB.c.id < before_id)
        if actions:
            q = q.where(OB.c.action.in_(actions))
        if kind is not None:
            q = q.where(OB.c.kind == kind)
        async with self.single(write=False) as conn:
            return int((await conn.execute(q)).scalar_one())

    async def take_budget(self, item_id: int, *, now: datetime, budget: int,
                          window: timedelta = timedelta(hours=1)) -> datetime | None:
        """Give outbox row ``item_id`` a place in the hourly outreach budget: at most ``budget`` rows
        take one per ``window``, whichever worker or instance asks. A row keeps its place once it
        has one (a send deferred after it, e.g. by pacing, takes no second). None when it has a
        place; otherwise when the next one frees up.

        One conditional UPDATE counts and takes: on SQLite the statement holds the write lock from
        its start; on PostgreSQL a transaction-scoped advisory lock makes the count and the take one
        step for every instance (two workers can never both see the last place free)."""
        since = now - window
        taken = select(func.count()).select_from(OB_BUDGET).where(OB_BUDGET.c.budget_at > since).scalar_subquery()
        stmt = (update(OB).where(OB.c.id == item_id, or_(OB.c.budget_at.is_not(None), taken < budget))
                .values(budget_at=func.coalesce(OB.c.budget_at, now)))
        async with self.engine.begin() as conn:
            if self.is_postgres:
                await conn.execute(sql_text("SELECT pg_advisory_xact_lock(:k)"), {"k": _BUDGET_LOCK})
            if (await conn.execute(stmt)).rowcount:
                return None
            oldest = (await conn.execute(select(func.min(OB.c.budget_at)).where(OB.c.budget_at > since))).scalar()
        return (as_utc(oldest) + window) if oldest is not None else now + timedelta(minutes=1)

    async def has_open_case(self, platform: str, member_id: str) -> bool:
        """Whether the member has an open moderation case."""
        async with self.single(write=False) as conn:
            return (await conn.execute(select(CASES.c.id).where(
                CASES.c.platform == platform, CASES.c.member_id == member_id, CASES.c.status == "open").limit(1))
            ).first() is not None

    # ----------------------------------------------------------------- audit
    async def audit(self, *, at: datetime, actor: str, action: str, platform: str | None = None,
                    target: str | None = None, detail: dict | None = None) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(insert(A).values(at=at, platform=platform, actor=actor, action=action,
                                                target=target, detail=detail or {}))

    async def audit_log(self, limit: int = 100) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(A).order_by(A.c.id.desc()).limit(limit))).all()
        return [
            {"at": as_utc(r.at), "platform": r.platform, "actor": r.actor, "action": r.action,
             "target": r.target, "detail": r.detail}
            for r in rows
        ]

    # ----------------------------------------------------------------- counts
    async def count(self, table: str) -> int:
        from bot.storage.models import Base

        await self.flush()
        t = Base.metadata.tables[table]
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(t))).scalar_one())
