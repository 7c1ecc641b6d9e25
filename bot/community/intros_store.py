"""What introductions keep: who takes part (on, paused, off), the pairings, and the answers to "did
you meet?"; the candidates of a round and the pairs made before, in a few grouped queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select

from bot.core.clock import as_utc
from bot.storage.models import MemberRow, ModerationCaseRow, PreferenceRow
from bot.storage.models_belonging import IntroMemberRow, IntroPrefRow, IntroRow

IP = IntroPrefRow.__table__
IN = IntroRow.__table__
IM = IntroMemberRow.__table__
MB = MemberRow.__table__
PR = PreferenceRow.__table__
CASES = ModerationCaseRow.__table__


@dataclass(frozen=True)
class Candidate:
    member_id: str
    name: str
    joined_at: datetime | None
    timezone: str | None


class IntroStore:
    def __init__(self, store: Any) -> None:
        self.store = store

    async def set_status(self, platform: str, member_id: str, status: str, *, now: datetime,
                         paused_until: datetime | None = None) -> None:
        async with self.store.database.begin() as conn:
            await conn.execute(delete(IP).where(IP.c.platform == platform, IP.c.member_id == member_id))
            await conn.execute(IP.insert().values(platform=platform, member_id=member_id, status=status,
                                                  paused_until=paused_until, updated_at=now))

    async def status(self, platform: str, member_id: str) -> tuple[str, datetime | None]:
        async with self.store.database.connect() as conn:
            r = (await conn.execute(select(IP.c.status, IP.c.paused_until).where(
                IP.c.platform == platform, IP.c.member_id == member_id))).first()
        if r is None:
            return "off", None
        return r.status, as_utc(r.paused_until) if r.paused_until else None

    def taking_part(self, platform: str):
        """A select of the members who said yes (for reading only their interests)."""
        return select(IP.c.member_id).where(IP.c.platform == platform, IP.c.status.in_(("on", "paused")))

    async def candidates(self, platform: str, now: datetime) -> list[Candidate]:
        """Members who said yes (or whose pause is over), present, not bots, not opted out of
        Steward's messages, and without an open moderation case."""
        opted_out = select(PR.c.member_id).where(PR.c.platform == platform, PR.c.opted_out.is_(True))
        open_case = select(CASES.c.member_id).where(CASES.c.platform == platform, CASES.c.status == "open")
        q = (select(MB.c.member_id, MB.c.display_name, MB.c.joined_at, MB.c.timezone)
             .select_from(IP.join(MB, and_(MB.c.platform == IP.c.platform, MB.c.member_id == IP.c.member_id)))
             .where(IP.c.platform == platform,
                    or_(IP.c.status == "on", and_(IP.c.status == "paused", IP.c.paused_until <= now)),
                    MB.c.is_bot.is_(False), MB.c.forgotten.is_(False), MB.c.left_at.is_(None),
                    MB.c.member_id.not_in(opted_out), MB.c.member_id.not_in(open_case))
             .order_by(MB.c.member_id))
        async with self.store.database.connect() as conn:
            rows = (await conn.execute(q)).all()
        return [Candidate(r.member_id, r.display_name or "", as_utc(r.joined_at) if r.joined_at else None, r.timezone)
                for r in rows]

    async def past_pairs(self, platform: str) -> set[frozenset[str]]:
        a, b = IM.alias("a"), IM.alias("b")
        q = (select(a.c.member_id, b.c.member_id.label("other"))
             .select_from(a.join(b, and_(a.c.intro_id == b.c.intro_id, a.c.member_id < b.c.member_id)))
             .where(a.c.platform == platform))
        async with self.store.database.connect() as conn:
            return {frozenset((r[0], r[1])) for r in (await conn.execute(q)).all()}

    async def last_round(self, platform: str) -> datetime | None:
        async with self.store.database.connect() as conn:
            got = (await conn.execute(select(func.max(IN.c.round_at)).where(IN.c.platform == platform))).scalar()
        return as_utc(got) if got else None

    async def record(self, platform: str, members: tuple[str, str], *, topic: str | None, round_at: datetime,
                     now: datetime, followup_after: timedelta) -> int:
        async with self.store.database.begin() as conn:
            iid = (await conn.execute(IN.insert().values(platform=platform, round_at=round_at, topic=topic,
                                                         created_at=now, followup_at=now + followup_after)
                                      .returning(IN.c.id))).scalar_one()
            for m in members:
                await conn.execute(IM.insert().values(intro_id=iid, platform=platform, member_id=m))
        return int(iid)

    async def due_followups(self, platform: str, now: datetime) -> list[tuple[int, list[str], str | None]]:
        q = (select(IN.c.id, IN.c.topic, IM.c.member_id).select_from(IN.join(IM, IM.c.intro_id == IN.c.id))
             .where(IN.c.platform == platform, IN.c.followup_at.is_not(None), IN.c.followup_at <= now)
             .order_by(IN.c.id, IM.c.member_id))
        out: dict[int, tuple[list[str], str | None]] = {}
        async with self.store.database.connect() as conn:
            for r in (await conn.execute(q)).all():
                out.setdefault(r.id, ([], r.topic))[0].append(r.member_id)
        return [(i, ms, t) for i, (ms, t) in out.items()]

    async def followup_asked(self, intro_id: int) -> None:
        async with self.store.database.begin() as conn:
            await conn.execute(IN.update().where(IN.c.id == intro_id).values(followup_at=None))

    async def answer(self, platform: str, member_id: str, answer: str, now: datetime) -> bool:
        """Records the member's answer on their latest asked, unanswered introduction."""
        q = (select(IM.c.id).select_from(IM.join(IN, IN.c.id == IM.c.intro_id))
             .where(IM.c.platform == platform, IM.c.member_id == member_id, IM.c.answer.is_(None),
                    IN.c.followup_at.is_(None)).order_by(IN.c.id.desc()).limit(1))
        async with self.store.database.begin() as conn:
            row = (await conn.execute(q)).first()
            if row is None:
                return False
            await conn.execute(IM.update().where(IM.c.id == row.id).values(answer=answer, answered_at=now))
        return True

    async def stats(self, platform: str) -> dict[str, Any]:
        async with self.store.database.connect() as conn:
            pairs = (await conn.execute(select(func.count()).select_from(IN).where(IN.c.platform == platform))).scalar()
            asked = (await conn.execute(select(func.count()).select_from(IN).where(
                IN.c.platform == platform, IN.c.followup_at.is_(None)))).scalar()
            ans = dict((await conn.execute(select(IM.c.answer, func.count()).where(
                IM.c.platform == platform, IM.c.answer.is_not(None)).group_by(IM.c.answer))).all())
            answered_pairs = (await conn.execute(select(func.count(func.distinct(IM.c.intro_id))).where(
                IM.c.platform == platform, IM.c.answer.is_not(None)))).scalar()
            met_pairs = (await conn.execute(select(func.count(func.distinct(IM.c.intro_id))).where(
                IM.c.platform == platform, IM.c.answer == "yes"))).scalar()
            opted = dict((await conn.execute(select(IP.c.status, func.count()).where(
                IP.c.platform == platform).group_by(IP.c.status))).all())
            recent = (await conn.execute(select(IN.c.id, IN.c.topic, IN.c.created_at).where(
                IN.c.platform == platform).order_by(IN.c.id.desc()).limit(5))).all()
            who: dict[int, list[tuple[str, str | None]]] = {}
            if recent:
                for r in (await conn.execute(select(IM.c.intro_id, IM.c.member_id, IM.c.answer).where(
                        IM.c.intro_id.in_([x.id for x in recent])).order_by(IM.c.member_id))).all():
                    who.setdefault(r.intro_id, []).append((r.member_id, r.answer))
        return {"pairs": int(pairs or 0), "asked": int(asked or 0), "answered_pairs": int(answered_pairs or 0),
                "met_pairs": int(met_pairs or 0), "answers": ans, "opted": opted,
                "recent": [{"id": r.id, "topic": r.topic, "at": as_utc(r.created_at), "members": who.get(r.id, [])}
                           for r in recent]}
