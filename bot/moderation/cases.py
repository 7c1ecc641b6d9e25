"""Moderation cases: what one incident is, and the repository over ``moderation_cases``.

A case is one incident: a member's rule hits within ``merge_window`` of each other, or every report
of one message, merge into one row of ``moderation_cases`` (``hits`` counts them) and one digest
item in the moderators' channel. ``message_ids`` holds ``channel/message`` references so a flood
across channels can be deleted in one click. ``decision`` accumulates the short codes of what
moderators did (``warn,delete``), ``status`` is the latest outcome; only ``open`` cases keep a member
out of nudges and ambassador suggestions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.core.clock import as_utc
from bot.storage.models import ModerationCaseRow

T = ModerationCaseRow.__table__

MAX_REFS = 50
EXCERPT = 300


@dataclass(frozen=True)
class Case:
    id: int
    platform: str
    member_id: str
    incident_key: str
    rule: str
    reason: str
    reporter_id: str | None
    channel_id: str | None
    message_refs: tuple[str, ...]
    excerpt: str
    status: str
    auto_action: str | None
    hits: int
    opened_at: datetime
    updated_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    decisions: tuple[str, ...] = ()

    @property
    def rules(self) -> list[str]:
        return [r for r in self.rule.split(",") if r]

    def messages(self) -> list[tuple[str, str]]:
        """(channel, message) pairs of the case's messages."""
        out = []
        for ref in self.message_refs:
            ch, _, mid = ref.partition("/")
            if mid:
                out.append((ch, mid))
        return out


def _case(r: Any) -> Case:
    return Case(
        id=r.id, platform=r.platform, member_id=r.member_id, incident_key=r.incident_key, rule=r.rule,
        reason=r.reason or "", reporter_id=r.reporter_id, channel_id=r.channel_id,
        message_refs=tuple(r.message_ids or ()), excerpt=r.excerpt or "", status=r.status,
        auto_action=r.auto_action, hits=r.hits, opened_at=as_utc(r.opened_at), updated_at=as_utc(r.updated_at),
        decided_by=r.decided_by, decided_at=as_utc(r.decided_at) if r.decided_at else None,
        decisions=tuple(x for x in (r.decision or "").split(",") if x),
    )


def _join(items: list[str], limit: int) -> str:
    out = ",".join(dict.fromkeys(items))
    return out[:limit]


class Cases:
    """Reads and writes ``moderation_cases``; returns ``Case`` records, never rows."""

    def __init__(self, store) -> None:
        self.store = store
        self.database = store.database

    async def get(self, case_id: int) -> Case | None:
        async with self.database.connect() as conn:
            r = (await conn.execute(select(T).where(T.c.id == case_id))).first()
        return _case(r) if r else None

    async def _by_key(self, key: str) -> Case | None:
        async with self.database.connect() as conn:
            r = (await conn.execute(select(T).where(T.c.incident_key == key))).first()
        return _case(r) if r else None

    async def open_for(self, platform: str, member_id: str) -> list[Case]:
        async with self.database.connect() as conn:
            rows = (await conn.execute(
                select(T).where(T.c.platform == platform, T.c.member_id == member_id, T.c.status == "open")
                .order_by(T.c.updated_at.desc()).limit(20))).all()
        return [_case(r) for r in rows]

    async def has_open(self, platform: str, member_id: str) -> bool:
        async with self.database.connect() as conn:
            n = (await conn.execute(select(func.count()).select_from(T).where(
                T.c.platform == platform, T.c.member_id == member_id, T.c.status == "open"))).scalar_one()
        return int(n) > 0

    async def open_cases(self, platform: str | None = None, limit: int = 50) -> list[Case]:
        q = select(T).where(T.c.status == "open").order_by(T.c.opened_at.desc()).limit(limit)
        if platform:
            q = q.where(T.c.platform == platform)
        async with self.database.connect() as conn:
            return [_case(r) for r in (await conn.execute(q)).all()]

    async def all(self, platform: str | None = None) -> list[Case]:
        q = select(T).order_by(T.c.id)
        if platform:
            q = q.where(T.c.platform == platform)
        async with self.database.connect() as conn:
            return [_case(r) for r in (await conn.execute(q)).all()]

    async def history(self, platform: str, member_id: str, before_id: int, limit: int = 5) -> list[Case]:
        async with self.database.connect() as conn:
            rows = (await conn.execute(
                select(T).where(T.c.platform == platform, T.c.member_id == member_id, T.c.id < before_id)
                .order_by(T.c.id.desc()).limit(limit))).all()
        return [_case(r) for r in rows]

    async def warnings_since(self, platform: str, member_id: str, since: datetime) -> int:
        async with self.database.connect() as conn:
            n = (await conn.execute(select(func.count()).select_from(T).where(
                T.c.platform == platform, T.c.member_id == member_id, T.c.decision.like("%warn%"),
                T.c.decided_at >= since))).scalar_one()
        return int(n)

    async def dismissed_by_rule(self, since: datetime, platform: str | None = None) -> dict[str, int]:
        """False positives per rule since ``since``: what admins look at to tune rules."""
        q = select(T.c.rule).where(T.c.status == "dismissed", T.c.decided_at >= since)
        if platform:
            q = q.where(T.c.platform == platform)
        out: dict[str, int] = {}
        async with self.database.connect() as conn:
            for (rule,) in (await conn.execute(q)).all():
                for r in rule.split(","):
                    out[r] = out.get(r, 0) + 1
        return out

    async def add(self, *, platform: str, member_id: str, key: str, found: list[tuple[str, str]],
                  channel_id: str | None, ref: str | None, excerpt: str, now: datetime,
                  reporter_id: str | None = None) -> tuple[Case, bool]:
        """Insert a case for ``found`` (rule, reason) pairs; when ``key`` exists (the same incident
        again), count a hit on it instead."""
        rules = [r for r, _ in found]
        reason = "; ".join(dict.fromkeys(why for _, why in found))
        try:
            async with self.database.begin() as conn:
                res = await conn.execute(insert(T).values(
                    platform=platform, member_id=member_id, incident_key=key[:300], rule=_join(rules, 100),
                    reason=reason[:2000], reporter_id=reporter_id, channel_id=channel_id,
                    message_ids=[ref] if ref else [], excerpt=excerpt[:EXCERPT], status="open", auto_action=None,
                    hits=1, opened_at=now, updated_at=now, decided_by=None, decided_at=None, decision=None,
                ).returning(T.c.id))
                case_id = int(res.scalar_one())
        except IntegrityError:
            existing = await self._by_key(key[:300])
            assert existing is not None
            return await self.merge(existing, found=found, ref=ref, now=now,
                                    reporter_id=reporter_id), False
        case = await self.get(case_id)
        assert case is not None
        return case, True

    async def merge(self, case: Case, *, found: list[tuple[str, str]], ref: str | None, now: datetime,
                    reporter_id: str | None = None) -> Case:
        """Count one more hit on an incident (a redelivered message is not a new hit)."""
        if ref and ref in case.message_refs and not reporter_id:
            return case
        refs = list(case.message_refs)
        if ref and ref not in refs and len(refs) < MAX_REFS:
            refs.append(ref)
        new = [(r, why) for r, why in found if r not in case.rules or r == "report"]
        values: dict[str, Any] = {"hits": T.c.hits + 1, "updated_at": now, "message_ids": refs}
        if new:
            values["rule"] = _join([*case.rules, *(r for r, _ in new)], 100)
            values["reason"] = "; ".join(dict.fromkeys([case.reason, *(why for _, why in new)]))[:2000]
        if reporter_id and not case.reporter_id:
            values["reporter_id"] = reporter_id
        async with self.database.begin() as conn:
            await conn.execute(update(T).where(T.c.id == case.id).values(**values))
        got = await self.get(case.id)
        assert got is not None
        return got

    async def set_auto_action(self, case_id: int, text: str) -> None:
        async with self.database.begin() as conn:
            await conn.execute(update(T).where(T.c.id == case_id).values(auto_action=text[:50]))

    async def decide(self, case: Case, code: str, status: str, by: str, at: datetime) -> Case:
        decisions = _join([*case.decisions, code], 32)
        async with self.database.begin() as conn:
            await conn.execute(update(T).where(T.c.id == case.id).values(
                status=status, decision=decisions, decided_by=by, decided_at=at, updated_at=at))
        got = await self.get(case.id)
        assert got is not None
        return got
