"""Members: joins and leaves, what the platforms tell about them, the passes over member lists."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, insert, or_, select, update
from sqlalchemy import text as sql_text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.clock import as_utc
from bot.core.events import MemberJoined, MemberLeft
from bot.core.records import Member, MemberListPass
from bot.storage.base import Db, member_from_row, utc_or_none
from bot.storage.coalesce import Coalescer, first_claims
from bot.storage.models import ChannelMemberRow, MemberListRow, MemberRow, ModerationCaseRow

M = MemberRow.__table__
ML = MemberListRow.__table__
CM = ChannelMemberRow.__table__
CASES = ModerationCaseRow.__table__


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


#: PostgreSQL: concurrent first joins inserted by one statement (bot/storage/coalesce.py)
_NEW_MEMBERS = sql_text("""
INSERT INTO members (platform, member_id, display_name, locale, timezone, joined_at, first_joined_at,
                     is_bot, is_staff, roles, join_count, forgotten)
SELECT p, m, dn, lo, tz, j, j, b, false, CAST('[]' AS json), 1, false
FROM unnest(CAST(:p AS text[]), CAST(:m AS text[]), CAST(:dn AS text[]), CAST(:lo AS text[]),
            CAST(:tz AS text[]), CAST(:j AS timestamptz[]), CAST(:b AS boolean[])) AS r(p, m, dn, lo, tz, j, b)
ON CONFLICT (platform, member_id) DO NOTHING
RETURNING platform, member_id
""")


class Members:
    """Member rows, with a cache of the members the playbooks ask about."""

    def __init__(self, db: Db) -> None:
        self.db = db
        self._cache: dict[tuple[str, str], Member] = {}
        self._insert_new_many = Coalescer(self._insert_many, self._insert_one) if db.is_postgres else None

    def forget_cached(self, platform: str, member_id: str) -> None:
        self._cache.pop((platform, member_id), None)

    def clear_cache(self) -> None:
        self._cache.clear()

    def _cache_put(self, m: Member) -> None:
        if len(self._cache) > 50_000:
            self._cache.clear()
        self._cache[(m.platform, m.member_id)] = m

    # ----------------------------------------------------------------- joins and leaves
    async def joined(self, ev: MemberJoined) -> dict[str, Any]:
        """Record a join; the facts the engine needs (``first_join``, ``channel_join``)."""
        try:
            return await self._joined_once(ev)
        except IntegrityError:
            # another task or instance inserted this member between our read and our insert:
            # read again, now as a known member
            return await self._joined_once(ev)

    async def _joined_once(self, ev: MemberJoined) -> dict[str, Any]:
        if not ev.channel_id and await self._insert_new(ev):
            return {"first_join": True, "channel_join": False}
        async with self.db.engine.begin() as conn:
            if ev.channel_id:
                await self.db.insert_ignore(
                    conn, CM,
                    [{"platform": ev.platform, "channel_id": ev.channel_id, "member_id": ev.member_id,
                      "joined_at": ev.at, "left_at": None}],
                    ("platform", "channel_id", "member_id"),
                )
            row = (await conn.execute(select(M.c.id, M.c.join_count, M.c.first_joined_at, M.c.joined_at).where(
                M.c.platform == ev.platform, M.c.member_id == ev.member_id))).first()
            if (not ev.channel_id and row is not None and row.first_joined_at is not None
                    and as_utc(row.first_joined_at) == as_utc(ev.at) and as_utc(row.joined_at) == as_utc(ev.at)):
                # the very join event again (redelivered after an instance died mid-event): the same
                # facts, so the playbooks decide the same and their run keys stop a second send
                return {"first_join": True, "channel_join": False}
            if row is None:
                await conn.execute(insert(M).values(
                    platform=ev.platform, member_id=ev.member_id, display_name=ev.display_name,
                    locale=ev.locale, timezone=ev.timezone, joined_at=ev.at, first_joined_at=ev.at,
                    is_bot=ev.is_bot, is_staff=False, roles=[], join_count=1, forgotten=False))
                self.forget_cached(ev.platform, ev.member_id)
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
            self.forget_cached(ev.platform, ev.member_id)
            return {"first_join": first, "channel_join": bool(ev.channel_id)}

    async def _insert_new(self, ev: MemberJoined) -> bool:
        """The common case of a join, a member never seen, in one statement (no read first): True
        when this inserted the row; False when the member existed (the slower path decides)."""
        if self._insert_new_many is not None:
            inserted = await self._insert_new_many(ev)
        else:
            inserted = await self._insert_one(ev)
        if inserted:
            # what the playbooks ask next (not_bot, the template's name) is what was just written
            self._cache_put(Member(ev.platform, ev.member_id, display_name=ev.display_name or "", locale=ev.locale,
                                   timezone=ev.timezone, joined_at=ev.at, is_bot=ev.is_bot))
        return inserted

    async def _insert_one(self, ev: MemberJoined) -> bool:
        stmt = self.db.dialect_insert(M).values(
            platform=ev.platform, member_id=ev.member_id, display_name=ev.display_name, locale=ev.locale,
            timezone=ev.timezone, joined_at=ev.at, first_joined_at=ev.at, is_bot=ev.is_bot, is_staff=False,
            roles=[], join_count=1, forgotten=False,
        ).on_conflict_do_nothing(index_elements=["platform", "member_id"]).returning(M.c.id)
        async with self.db.single() as conn:
            return (await conn.execute(stmt)).first() is not None

    async def _insert_many(self, ms: list[MemberJoined]) -> list[bool]:
        params = {"p": [m.platform for m in ms], "m": [m.member_id for m in ms],
                  "dn": [m.display_name for m in ms], "lo": [m.locale for m in ms],
                  "tz": [m.timezone for m in ms], "j": [m.at for m in ms], "b": [bool(m.is_bot) for m in ms]}
        async with self.db.single() as conn:
            inserted = {(r.platform, r.member_id) for r in (await conn.execute(_NEW_MEMBERS, params)).all()}
        return first_claims([(m.platform, m.member_id) for m in ms], inserted)

    async def left(self, ev: MemberLeft) -> None:
        async with self.db.engine.begin() as conn:
            if ev.channel_id:
                await conn.execute(update(CM).where(CM.c.platform == ev.platform, CM.c.channel_id == ev.channel_id,
                                                    CM.c.member_id == ev.member_id).values(left_at=ev.at))
            else:
                await conn.execute(update(M).where(M.c.platform == ev.platform, M.c.member_id == ev.member_id)
                                   .values(left_at=ev.at))
            # leaving shows the member was here before: someone not yet known is recorded as seen
            # then, so that a later join is a rejoin (and an earlier one, processed late, still a first)
            await self._seen(conn, ev.platform, ev.member_id, ev.at, left_at=None if ev.channel_id else ev.at)
        self.forget_cached(ev.platform, ev.member_id)

    async def _seen(self, conn: AsyncConnection, platform: str, member_id: str, at: datetime,
                    left_at: datetime | None = None) -> None:
        """Record that an event other than a join showed this member present at ``at``: a new row
        (no join seen, ``first_joined_at`` = the earliest such sign), or an earlier sign on a row
        that has no join yet. Rows the directory listed (no date) and rows with a join are left alone."""
        if not member_id:
            return
        await self.db.insert_ignore(conn, M, [{
            "platform": platform, "member_id": member_id, "display_name": None, "locale": None, "timezone": None,
            "joined_at": None, "first_joined_at": at, "left_at": left_at, "is_bot": False, "is_staff": False,
            "roles": [], "join_count": 0, "forgotten": False}], ("platform", "member_id"))
        await conn.execute(update(M).where(
            M.c.platform == platform, M.c.member_id == member_id, M.c.join_count == 0,
            M.c.first_joined_at.is_not(None), M.c.first_joined_at > at).values(first_joined_at=at))

    # ----------------------------------------------------------------- what the platforms tell
    async def upsert(self, m: Member, *, seen_at: datetime | None = None) -> None:
        """Create or enrich a member (display name, locale, time zone, bot/staff flags). ``seen_at``:
        the time of the event that showed this member (a message), when no join did."""
        async with self.db.engine.begin() as conn:
            if seen_at is not None and m.joined_at is None:
                await self._seen(conn, m.platform, m.member_id, seen_at)
            row = (await conn.execute(
                select(M.c.id).where(M.c.platform == m.platform, M.c.member_id == m.member_id))).first()
            values = {"display_name": m.display_name or None, "locale": m.locale, "timezone": m.timezone,
                      "is_bot": m.is_bot, "is_staff": m.is_staff, "roles": list(m.roles)}
            values = {k: v for k, v in values.items() if v is not None}
            if row is None:
                await conn.execute(insert(M).values(
                    platform=m.platform, member_id=m.member_id, joined_at=m.joined_at,
                    first_joined_at=m.joined_at, join_count=0, forgotten=False,
                    **{"is_bot": False, "is_staff": False, "roles": [], **values}))
            else:
                await conn.execute(update(M).where(M.c.id == row.id).values(**values))
        self.forget_cached(m.platform, m.member_id)

    async def add_bulk(self, members: Iterable[Member], batch: int = 5000) -> int:
        """Record members as known, in batches (imports, a platform's member list). A member not yet
        stored is inserted; an existing row only gains what it lacks: a join date, a name, and an
        earlier first sign of the member (``first_joined_at``). Forgotten members are left alone.
        Returns how many rows were offered."""
        n = 0
        rows: list[dict] = []
        stmt = self.db.dialect_insert(M)
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
            async with self.db.engine.begin() as conn:
                await conn.execute(stmt, rows)
            for r in rows:
                self.forget_cached(r["platform"], r["member_id"])

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

    async def list_pass(self, platform: str, scope: str, *, now: datetime) -> MemberListPass:
        """The pass over a member list to work on: an unfinished one continues from its cursor;
        after a complete one (or none), a new pass starts at the beginning. ``completed_at`` is the
        end of the last complete pass (None: the list was never read to the end)."""
        async with self.db.engine.begin() as conn:
            r = (await conn.execute(select(ML).where(ML.c.platform == platform, ML.c.scope == scope))).first()
            done = utc_or_none(r.completed_at) if r is not None else None
            if r is not None and (done is None or as_utc(r.started_at) > done):
                return MemberListPass(platform, scope, r.cursor, as_utc(r.started_at), done, r.members)
            values = {"cursor": None, "started_at": now, "members": 0}
            if r is None:
                await conn.execute(insert(ML).values(platform=platform, scope=scope, completed_at=None, **values))
            else:
                await conn.execute(update(ML).where(ML.c.platform == platform, ML.c.scope == scope).values(**values))
        return MemberListPass(platform, scope, None, now, done)

    async def list_page_done(self, platform: str, scope: str, cursor: str | None, members: int, *,
                             completed_at: datetime | None = None) -> None:
        """Record that the pages before ``cursor`` are stored (``members`` more of them); with
        ``completed_at`` the pass is complete and the cursor is dropped."""
        values: dict[str, Any] = {"cursor": None if completed_at is not None else cursor,
                                  "members": ML.c.members + members}
        if completed_at is not None:
            values["completed_at"] = completed_at
        async with self.db.engine.begin() as conn:
            await conn.execute(update(ML).where(ML.c.platform == platform, ML.c.scope == scope).values(**values))

    async def list_state(self, platform: str, scope: str) -> MemberListPass | None:
        """Where the pass over a member list stands (None: never started); reads only."""
        async with self.db.single(write=False) as conn:
            r = (await conn.execute(select(ML).where(ML.c.platform == platform, ML.c.scope == scope))).first()
        if r is None:
            return None
        return MemberListPass(platform, scope, r.cursor, as_utc(r.started_at), utc_or_none(r.completed_at), r.members)

    # ----------------------------------------------------------------- reads
    async def get(self, platform: str, member_id: str) -> Member | None:
        hit = self._cache.get((platform, member_id))
        if hit is not None:
            return hit
        async with self.db.single(write=False) as conn:
            r = (await conn.execute(select(M).where(M.c.platform == platform, M.c.member_id == member_id))).first()
        if r is None:
            return None
        m = member_from_row(r)
        self._cache_put(m)
        return m

    async def has_open_case(self, platform: str, member_id: str) -> bool:
        """Whether the member has an open moderation case (the outreach caps ask)."""
        async with self.db.single(write=False) as conn:
            return (await conn.execute(select(CASES.c.id).where(
                CASES.c.platform == platform, CASES.c.member_id == member_id, CASES.c.status == "open").limit(1))
            ).first() is not None

