"""The dashboard's reads: each one indexed and limited, so a page costs the same on a community of
100,000 members as on one of a hundred (bench/dashboard.py measures them)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select

from bot.core.clock import as_utc
from bot.storage.models import (
    AmbassadorRow,
    AuditRow,
    MemberRow,
    MessageRow,
    ModerationCaseRow,
    OutboxRow,
    PlaybookRunRow,
    PreferenceRow,
    QuestionRow,
)

Q, M, MSG, OB = QuestionRow.__table__, MemberRow.__table__, MessageRow.__table__, OutboxRow.__table__
AMB = AmbassadorRow.__table__
A, PR, RUN, CASE = AuditRow.__table__, PreferenceRow.__table__, PlaybookRunRow.__table__, ModerationCaseRow.__table__

PAGE = 50


def _dicts(rows) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in rows]


def _like(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, its own % and _ taken literally."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def names(store, platform: str, ids: set[str]) -> dict[str, str]:
    """Member ID → display name (the ID when none is stored), for the IDs a page shows."""
    ids = {i for i in ids if i}
    if not ids:
        return {}
    async with store.database.connect() as conn:
        rows = (await conn.execute(select(M.c.member_id, M.c.display_name)
                                   .where(M.c.platform == platform, M.c.member_id.in_(sorted(ids))))).all()
    got = {r.member_id: r.display_name for r in rows if r.display_name}
    return {i: got.get(i, i) for i in ids}


async def open_questions(store, platform: str, *, offset: int = 0, limit: int = PAGE) -> list[dict[str, Any]]:
    """Open questions, newest first, with their text and the reason Steward gives (ix_questions_status)."""
    q = (select(Q.c.channel_id, Q.c.message_id, Q.c.author_id, Q.c.asked_at, Q.c.tier, Q.c.reason, MSG.c.text)
         .select_from(Q.outerjoin(MSG, and_(MSG.c.platform == Q.c.platform, MSG.c.channel_id == Q.c.channel_id,
                                            MSG.c.message_id == Q.c.message_id)))
         .where(Q.c.status == "open", Q.c.platform == platform)
         .order_by(Q.c.asked_at.desc()).offset(offset).limit(limit))
    async with store.database.connect() as conn:
        return _dicts((await conn.execute(q)).all())


async def count_open_questions(store, platform: str) -> int:
    async with store.database.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(Q).where(
            Q.c.status == "open", Q.c.platform == platform))).scalar_one())


async def outbox(store, platform: str, statuses: tuple[str, ...], *, member_id: str | None = None,
                 order: str = "newest", limit: int = PAGE) -> list[dict[str, Any]]:
    """Outbox rows in ``statuses`` (sent, pending, failed, skipped), newest first or soonest due."""
    q = select(OB.c.id, OB.c.member_id, OB.c.channel_id, OB.c.kind, OB.c.playbook_id, OB.c.action, OB.c.text,
               OB.c.reason, OB.c.status, OB.c.error, OB.c.created_at, OB.c.sent_at, OB.c.not_before,
               OB.c.attempts).where(OB.c.status.in_(statuses), OB.c.platform == platform)
    if member_id is not None:
        q = q.where(OB.c.member_id == member_id)
    q = q.order_by(OB.c.not_before if order == "due" else OB.c.id.desc()).limit(limit)
    async with store.database.connect() as conn:
        return _dicts((await conn.execute(q)).all())


async def webhook_failures(store, *, limit: int = PAGE) -> list[dict[str, Any]]:
    """Webhook events given up on, latest first: the endpoint (the row's channel), the event (its
    action), when it was given up (the last attempt's time) and why (ix_outbox_due)."""
    from bot.webhooks.gateway import PLATFORM

    q = (select(OB.c.channel_id.label("endpoint"), OB.c.action.label("event"), OB.c.not_before.label("at"),
                OB.c.created_at, OB.c.error, OB.c.reason)
         .where(OB.c.status == "failed", OB.c.platform == PLATFORM)
         .order_by(OB.c.not_before.desc(), OB.c.id.desc()).limit(limit))
    async with store.database.connect() as conn:
        out = _dicts((await conn.execute(q)).all())
    for r in out:
        r["at"], r["created_at"] = as_utc(r["at"]), as_utc(r["created_at"])
    return out


async def opt_outs(store, platform: str, *, limit: int = PAGE) -> tuple[int, list[dict[str, Any]]]:
    """(how many members opted out, the latest of them)."""
    async with store.database.connect() as conn:
        n = (await conn.execute(select(func.count()).select_from(PR).where(
            PR.c.platform == platform, PR.c.opted_out.is_(True)))).scalar_one()
        rows = (await conn.execute(select(PR.c.member_id, PR.c.opted_out_at).where(
            PR.c.platform == platform, PR.c.opted_out.is_(True))
            .order_by(PR.c.opted_out_at.desc()).limit(limit))).all()
    return int(n), _dicts(rows)


async def budget_used(store, *, now: datetime) -> int:
    """Places of the hourly outreach budget taken in the last hour (ix_outbox_budget)."""
    async with store.database.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(OB).where(
            OB.c.budget_at > now - timedelta(hours=1)))).scalar_one())


async def last_runs(store, playbook_id: str, *, limit: int = 5) -> list[dict[str, Any]]:
    """A playbook's latest runs (ix_playbook_runs_recent)."""
    async with store.database.connect() as conn:
        rows = (await conn.execute(select(RUN.c.platform, RUN.c.subject, RUN.c.created_at)
                                   .where(RUN.c.playbook_id == playbook_id)
                                   .order_by(RUN.c.created_at.desc()).limit(limit))).all()
    return _dicts(rows)


async def find_members(store, platform: str, text: str, *, limit: int = PAGE) -> list[dict[str, Any]]:
    """Members whose name (or ID) contains ``text``, most recently active first."""
    pattern = _like(text.strip())
    if store.is_postgres:
        name_matches = M.c.display_name.ilike(pattern, escape="\\")
        same_platform = M.c.platform == platform
    else:
        # SQLite's LIKE ignores case already (as its lower() does: ASCII letters). A name can match
        # anywhere, so every member is read: one pass over the table (27 ms on 100,000 members) beats
        # walking ix_members_activity for the order and fetching each row (150 ms); coalesce() keeps
        # the planner off that index
        name_matches = M.c.display_name.like(pattern, escape="\\")
        same_platform = func.coalesce(M.c.platform, "") == platform
    q = (select(M.c.member_id, M.c.display_name, M.c.joined_at, M.c.last_active_at, M.c.is_bot, M.c.is_staff)
         .where(same_platform, M.c.forgotten.is_(False), or_(name_matches, M.c.member_id == text.strip()))
         .order_by(M.c.last_active_at.desc()).limit(limit))
    async with store.database.connect() as conn:
        return _dicts((await conn.execute(q)).all())


async def activity(store, platform: str, member_id: str, *, now: datetime) -> dict[str, Any]:
    """A member's messages in the last 30 and 90 days and their latest ones (ix_messages_author_time)."""
    base = and_(MSG.c.platform == platform, MSG.c.author_id == member_id)
    async with store.database.connect() as conn:
        n30 = (await conn.execute(select(func.count()).select_from(MSG).where(
            base, MSG.c.posted_at >= now - timedelta(days=30)))).scalar_one()
        n90 = (await conn.execute(select(func.count()).select_from(MSG).where(
            base, MSG.c.posted_at >= now - timedelta(days=90)))).scalar_one()
        latest = (await conn.execute(select(MSG.c.channel_id, MSG.c.message_id, MSG.c.text, MSG.c.posted_at)
                                     .where(base).order_by(MSG.c.posted_at.desc()).limit(10))).all()
    return {"last30": int(n30), "last90": int(n90), "latest": _dicts(latest)}


async def member_cases(store, platform: str, member_id: str, *, limit: int = 20) -> list[dict[str, Any]]:
    async with store.database.connect() as conn:
        rows = (await conn.execute(select(CASE.c.id, CASE.c.rule, CASE.c.reason, CASE.c.status, CASE.c.opened_at,
                                          CASE.c.decision, CASE.c.decided_by)
                                   .where(CASE.c.platform == platform, CASE.c.member_id == member_id)
                                   .order_by(CASE.c.id.desc()).limit(limit))).all()
    return _dicts(rows)


async def audit(store, *, actor: str = "", action: str = "", target: str = "", platform: str | None = None,
                before: int | None = None, limit: int = PAGE) -> list[dict[str, Any]]:
    """The audit log, newest first, filtered by who (exact), what (a prefix such as ``button:``) and
    on whom or what (contains); ``before``: the next page."""
    q = select(A.c.id, A.c.at, A.c.platform, A.c.actor, A.c.action, A.c.target, A.c.detail)
    if actor:
        q = q.where(A.c.actor == actor)
    if action:
        q = q.where(A.c.action.like(_like(action)[1:], escape="\\"))
    if target:
        q = q.where(A.c.target.like(_like(target), escape="\\"))
    if platform:
        q = q.where(or_(A.c.platform == platform, A.c.platform.is_(None)))
    if before:
        q = q.where(A.c.id < before)
    async with store.database.connect() as conn:
        rows = (await conn.execute(q.order_by(A.c.id.desc()).limit(limit))).all()
    out = _dicts(rows)
    for r in out:
        r["at"] = as_utc(r["at"])
    return out


def message_link(settings, platform: str, channel_id: str | None, message_id: str | None) -> str | None:
    """The message's address on its platform (opens in the app), when one can be made."""
    if not channel_id or not message_id:
        return None
    if platform == "slack" and "." in message_id:
        return f"https://slack.com/archives/{channel_id}/p{message_id.replace('.', '')}"
    if platform == "discord" and message_id.isdigit():
        guilds = settings.discord.guild_ids
        return f"https://discord.com/channels/{guilds[0] if guilds else '@me'}/{channel_id}/{message_id}"
    return None


async def ambassador_decisions(store, platform: str, *, limit: int = 20) -> tuple[dict[str, dict], list[dict]]:
    """(member ID → the decision that keeps them off the shortlist now: approved, or not now until a
    date; the latest decisions, newest first)."""
    async with store.database.connect() as conn:
        rows = _dicts((await conn.execute(select(AMB.c.member_id, AMB.c.decision, AMB.c.decided_by,
                                                 AMB.c.decided_at, AMB.c.snooze_until)
                                          .where(AMB.c.platform == platform, AMB.c.decision.is_not(None))
                                          .order_by(AMB.c.decided_at.desc()))).all())
    for r in rows:
        for k in ("decided_at", "snooze_until"):
            r[k] = as_utc(r[k]) if r[k] else None
    return {r["member_id"]: r for r in rows}, rows[:limit]
