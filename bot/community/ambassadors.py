"""Ambassador candidates: members a moderator would trust to help others, scored from what they did
over a window, with the evidence in plain words. Humans decide; the bot only suggests.

The score is two index-backed queries deep: who helped the most distinct members (the ``helps`` table
over the window), then, for that shortlist only, days active, channels, reactions from distinct
members, newcomers helped, tenure and open moderation cases. The listed state lives in the
``ambassadors`` table: a member is listed as soon as they pass the bar (promote quickly) and dropped
only after staying under a lower bar for a while (drop slowly), so the weekly list is stable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import distinct, func, insert, select, update

from bot.core.clock import as_utc
from bot.engine.context import RunContext, Subject
from bot.engine.registry import scan
from bot.storage.models import (
    AmbassadorRow,
    HelpRow,
    MemberRow,
    MessageRow,
    ModerationCaseRow,
    ReactionRow,
)
from bot.storage.repositories import Store

AMB = AmbassadorRow.__table__
HELPS = HelpRow.__table__
MT = MemberRow.__table__
MSG = MessageRow.__table__
RX = ReactionRow.__table__
CASES = ModerationCaseRow.__table__


class AmbassadorSettings(BaseModel):
    """``[features.ambassadors]``."""

    model_config = ConfigDict(extra="forbid")

    window_days: float = Field(90, gt=0, description="score what members did in this many days")
    min_score: float = Field(8.0, ge=0, description="the bar to be listed")
    keep_ratio: float = Field(0.6, gt=0, le=1, description="a listed member stays while above this share of the bar")
    drop_after_days: float = Field(28, ge=0, description="... or until under it this long")
    snooze_days: float = Field(90, ge=0, description="'not now' hides a member this long")
    newcomer_days: float = Field(14, ge=0, description="a member is a newcomer this long after joining")
    shortlist: int = Field(60, ge=5, le=1000, description="helpers enriched per run")


def ambassador_settings(settings: Any) -> AmbassadorSettings:
    raw = (getattr(settings, "features", None) or {}).get("ambassadors", {})
    return AmbassadorSettings.model_validate(raw)


@dataclass
class Candidate:
    member_id: str
    name: str
    score: float = 0.0
    helped: int = 0
    answers: int = 0
    newcomers: int = 0
    reactors: int = 0
    days_active: int = 0
    channels: int = 0
    tenure_days: int = 0
    top_channel: str | None = None
    top_channel_answers: int = 0
    evidence: dict[str, Any] = field(default_factory=dict)


#: weights of the signals; helping distinct people dominates, the rest breaks ties and adds trust
WEIGHTS = {"helped": 3.0, "newcomers": 2.0, "reactors": 1.0, "days_active": 0.5, "channels": 0.5, "tenure": 1.0}


def score_of(c: Candidate) -> float:
    """Distinct members helped count most; diminishing returns on the softer signals."""
    return round(WEIGHTS["helped"] * c.helped + WEIGHTS["newcomers"] * c.newcomers
                 + WEIGHTS["reactors"] * math.sqrt(c.reactors) + WEIGHTS["days_active"] * math.sqrt(c.days_active)
                 + WEIGHTS["channels"] * math.sqrt(c.channels) + WEIGHTS["tenure"] * min(c.tenure_days, 365) / 365,
                 2)


def evidence_text(c: Candidate, channel_names: dict[str, str]) -> str:
    """What a moderator reads: "replied to 14 members and answered 11 questions in #help; helped 6 newcomers"."""
    parts = []
    where = f" in #{channel_names.get(c.top_channel or '', c.top_channel)}" if c.top_channel and c.channels <= 1 \
        else ""
    parts.append(f"replied to {c.helped} member{'s' * (c.helped != 1)} and answered {c.answers} "
                 f"question{'s' * (c.answers != 1)}{where}")
    if c.newcomers:
        parts.append(f"helped {c.newcomers} newcomer{'s' * (c.newcomers != 1)}")
    if c.reactors:
        parts.append(f"appreciated by {c.reactors} member{'s' * (c.reactors != 1)} with reactions")
    parts.append(f"active on {c.days_active} day{'s' * (c.days_active != 1)}")
    if c.channels > 1:
        parts.append(f"in {c.channels} channels")
    return "; ".join(parts)


async def rank_candidates(store: Store, platform: str, *, now: datetime, cfg: AmbassadorSettings,
                          staff_check: Any = None) -> list[Candidate]:
    """Everyone worth considering, best first (staff, bots, departed members and open cases left out)."""
    since = now - timedelta(days=cfg.window_days)
    from bot.community.questions import REPLY

    # replies inferred in flat channels count toward "members helped" (this query reads only the
    # ix_helps_time index); answers, the rows that closed someone's question, are counted per shortlisted
    # helper below
    helped = func.count(distinct(HELPS.c.member_id))
    q1 = (select(HELPS.c.helper_id, helped.label("helped"), func.count().label("rows"))
          .where(HELPS.c.platform == platform, HELPS.c.at >= since, HELPS.c.at <= now)
          .group_by(HELPS.c.helper_id).order_by(helped.desc(), func.count().desc()).limit(cfg.shortlist))
    out: list[Candidate] = []
    async with store.engine.connect() as conn:
        short = (await conn.execute(q1)).all()
        if not short:
            return []
        ids = [r.helper_id for r in short]
        members = {r.member_id: r for r in (await conn.execute(
            select(MT.c.member_id, MT.c.display_name, MT.c.is_bot, MT.c.is_staff, MT.c.roles, MT.c.joined_at,
                   MT.c.first_joined_at, MT.c.left_at, MT.c.forgotten)
            .where(MT.c.platform == platform, MT.c.member_id.in_(ids)))).all()}
        open_cases = {r.member_id for r in (await conn.execute(
            select(CASES.c.member_id).where(CASES.c.platform == platform, CASES.c.member_id.in_(ids),
                                            CASES.c.status == "open"))).all()}
        for r in short:
            m = members.get(r.helper_id)
            if m is None or m.is_bot or m.forgotten or m.left_at is not None or r.helper_id in open_cases:
                continue
            if m.is_staff or (callable(staff_check) and staff_check(m)):
                continue
            c = Candidate(r.helper_id, m.display_name or r.helper_id, helped=int(r.helped))
            day = func.date(MSG.c.posted_at) if not store.is_postgres else func.date_trunc("day", MSG.c.posted_at)
            act = (await conn.execute(
                select(func.count(distinct(day)), func.count(distinct(MSG.c.channel_id)))
                .where(MSG.c.platform == platform, MSG.c.author_id == r.helper_id, MSG.c.posted_at >= since,
                       MSG.c.posted_at <= now))).first()
            c.days_active, c.channels = int(act[0] or 0), int(act[1] or 0)
            c.reactors = int((await conn.execute(
                select(func.count(distinct(RX.c.member_id))).where(
                    RX.c.platform == platform, RX.c.message_author_id == r.helper_id, RX.c.at >= since,
                    RX.c.at <= now, RX.c.member_id != r.helper_id, RX.c.removed.is_(False)))).scalar_one() or 0)
            asker = MT.alias("asker")
            newcomer_after = func.coalesce(asker.c.first_joined_at, asker.c.joined_at)
            rows = (await conn.execute(
                select(HELPS.c.member_id, HELPS.c.at, newcomer_after.label("joined"), HELPS.c.channel_id,
                       HELPS.c.evidence)
                .select_from(HELPS.outerjoin(asker, (asker.c.platform == HELPS.c.platform)
                                             & (asker.c.member_id == HELPS.c.member_id)))
                .where(HELPS.c.platform == platform, HELPS.c.helper_id == r.helper_id, HELPS.c.at >= since,
                       HELPS.c.at <= now))).all()
            fresh = {x.member_id for x in rows if x.joined is not None
                     and as_utc(x.at) - as_utc(x.joined) <= timedelta(days=cfg.newcomer_days)}
            c.newcomers = len(fresh)
            c.answers = sum(1 for x in rows if not (x.evidence or "").startswith(REPLY))
            per_channel: dict[str, int] = {}
            for x in rows:
                per_channel[x.channel_id] = per_channel.get(x.channel_id, 0) + 1
            if per_channel:
                c.top_channel = max(per_channel, key=lambda k: per_channel[k])
                c.top_channel_answers = per_channel[c.top_channel]
            joined = m.first_joined_at or m.joined_at
            c.tenure_days = max(0, (now - as_utc(joined)).days) if joined else 0
            c.score = score_of(c)
            c.evidence = {"members_helped": c.helped, "questions_answered": c.answers,
                          "newcomers_helped": c.newcomers, "reactions_from_members": c.reactors,
                          "days_active": c.days_active, "channels": c.channels, "tenure_days": c.tenure_days}
            out.append(c)
    out.sort(key=lambda c: (-c.score, -c.helped, c.member_id))
    return out


async def update_listing(store: Store, platform: str, ranked: list[Candidate], *, now: datetime,
                         cfg: AmbassadorSettings) -> list[Candidate]:
    """Promote quickly, drop slowly; leave out approved members and those snoozed by 'not now'."""
    by_id = {c.member_id: c for c in ranked}
    keep_bar = cfg.min_score * cfg.keep_ratio
    listed: list[Candidate] = []
    async with store.engine.begin() as conn:
        rows = {r.member_id: r for r in (await conn.execute(select(AMB).where(AMB.c.platform == platform))).all()}
        for mid in set(rows) | {c.member_id for c in ranked if c.score >= cfg.min_score}:
            c = by_id.get(mid)
            row = rows.get(mid)
            score = c.score if c else 0.0
            if row is None:
                await conn.execute(insert(AMB).values(platform=platform, member_id=mid, score=score, listed_since=now,
                                                      below_since=None, evidence=c.evidence if c else {}))
                if c:
                    listed.append(c)
                continue
            values: dict[str, Any] = {"score": score, "evidence": c.evidence if c else row.evidence}
            on_list = row.listed_since is not None
            if score >= cfg.min_score:
                values.update(listed_since=row.listed_since or now, below_since=None)
                on_list = True
            elif on_list and score >= keep_bar:
                values["below_since"] = None
            elif on_list:
                below = as_utc(row.below_since) if row.below_since else now
                values["below_since"] = below
                if now - below > timedelta(days=cfg.drop_after_days):
                    values.update(listed_since=None, below_since=None)
                    on_list = False
            await conn.execute(update(AMB).where(AMB.c.id == row.id).values(**values))
            if not on_list or row.decision == "approved":
                continue
            if row.snooze_until is not None and as_utc(row.snooze_until) > now:
                continue
            listed.append(c or Candidate(mid, mid, score=score, evidence=row.evidence or {}))
    listed.sort(key=lambda c: (-c.score, c.member_id))
    return listed


async def decide(store: Store, platform: str, member_id: str, decision: str, *, by: str, now: datetime,
                 snooze_days: float) -> None:
    """Record a moderator's approve / not_now on a candidate."""
    values: dict[str, Any] = {"decision": decision, "decided_by": by, "decided_at": now}
    if decision == "not_now":
        values["snooze_until"] = now + timedelta(days=snooze_days)
    async with store.engine.begin() as conn:
        res = await conn.execute(update(AMB).where(AMB.c.platform == platform, AMB.c.member_id == member_id)
                                 .values(**values))
        if not res.rowcount:
            await conn.execute(insert(AMB).values(platform=platform, member_id=member_id, score=0.0, **values))


def candidate_view(c: Candidate, rank: int, channel_names: dict[str, str]) -> dict[str, Any]:
    return {"key": c.member_id, "member": {"id": c.member_id, "name": c.name}, "score": c.score, "rank": rank,
            "evidence": dict(c.evidence), "evidence_text": evidence_text(c, channel_names)}


class CandidateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    top: int = Field(5, ge=1, le=50, description="candidates in one digest")


def _staff_check(settings: Any):
    fn = getattr(settings, "is_staff", None)
    return fn if callable(fn) else None


@scan("ambassador_candidates", CandidateParams)
async def ambassador_candidates(ctx: RunContext, p: CandidateParams) -> list[Subject]:
    """The current ambassador shortlist, as one digest subject with the evidence for each."""
    from bot.community.questions import channel_names

    svc = ctx.engine.services.get("questions")
    if svc is not None:
        await svc.flush()
    cfg = ambassador_settings(ctx.engine.settings)
    store, plat = ctx.engine.store, ctx.platform
    ranked = await rank_candidates(store, plat, now=ctx.now, cfg=cfg, staff_check=_staff_check(ctx.engine.settings))
    if ctx.outbox is None:
        listed = await update_listing(store, plat, ranked, now=ctx.now, cfg=cfg)
    else:  # a preview keeps the listing as it is
        listed = [c for c in ranked if c.score >= cfg.min_score]
    if not listed:
        return []
    names = await channel_names(store, plat, ctx.engine.settings)
    views = [candidate_view(c, i + 1, names) for i, c in enumerate(listed[: p.top])]
    return [Subject(plat, "ambassador-digest", vars={"candidates": views},
                    reason=f"{len(views)} ambassador candidate(s)")]


async def ambassador_findings(app, platform: str) -> list[dict[str, Any]]:
    """Backtest findings: the ranked candidates at the end of the replay, with their evidence."""
    svc = app.engine.services.get("questions")
    if svc is not None:
        await svc.flush()
    cfg = ambassador_settings(app.settings)
    ranked = await rank_candidates(app.store, platform, now=app.clock.now(), cfg=cfg,
                                   staff_check=_staff_check(app.settings))
    from bot.community.questions import channel_names

    names = await channel_names(app.store, platform, app.settings)
    return [{"kind": "ambassador_candidate", "member": c.member_id, "score": c.score, "rank": i + 1,
             "evidence": {**c.evidence, "text": evidence_text(c, names)}}
            for i, c in enumerate(ranked[:50])]
