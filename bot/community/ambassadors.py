"""Ambassador candidates: members a moderator would trust to help others, scored from what they did
over a window, with the evidence in plain words. Humans decide; the bot only suggests.

The score is two index-backed queries deep: who helped the most distinct members (the ``helps`` table
over the window: answers to their questions and replies inferred in flat channels), then, for that
shortlist and the members already listed only, the members whose questions they answered, newcomers
helped, reactions from distinct members, days active, channels, tenure and open moderation cases (read
for all of them in grouped queries, not member by member), weighted as
``weights:`` in ``playbooks/ambassadors.yaml`` says. The listed state lives in the ``ambassadors``
table: a member is listed as soon as they pass the bar (promote quickly) and dropped only after
staying under a lower bar for a while (drop slowly), so the weekly list is stable; a run writes only
the rows whose score, evidence or listing changed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import bindparam, distinct, func, insert, select, update

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
#: members per grouped query (well under every driver's bound-parameter limit)
_CHUNK = 500


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


class AmbassadorWeights(BaseModel):
    """What each signal adds to a candidate's score (``weights:`` in ``playbooks/ambassadors.yaml``).

    Members helped and questions answered count one for one; the softer signals have diminishing returns
    (a square root), so a long-time, always-online member does not outrank someone who helps many people.
    A weight of 0 leaves the signal out of the score and out of the evidence the moderators read."""

    model_config = ConfigDict(extra="forbid")

    members_helped: float = Field(3.0, ge=0, description="per distinct member replied to or answered")
    members_answered: float = Field(1.0, ge=0, description="per distinct member whose question they answered")
    newcomers: float = Field(2.0, ge=0, description="per newcomer helped in their first days")
    reactors: float = Field(1.0, ge=0, description="x sqrt(distinct members who reacted to their messages)")
    days_active: float = Field(0.5, ge=0, description="x sqrt(days with a message)")
    channels: float = Field(0.5, ge=0, description="x sqrt(channels posted in)")
    tenure: float = Field(1.0, ge=0, description="x years since they first joined, up to one")


@dataclass
class Candidate:
    member_id: str
    name: str
    score: float = 0.0
    #: distinct members replied to or answered
    helped: int = 0
    #: questions answered, and from how many distinct members
    answers: int = 0
    answered: int = 0
    newcomers: int = 0
    reactors: int = 0
    days_active: int = 0
    channels: int = 0
    tenure_days: int | None = None
    top_channel: str | None = None
    top_channel_answers: int = 0
    evidence: dict[str, Any] = field(default_factory=dict)


DEFAULT_WEIGHTS = AmbassadorWeights()


def score_of(c: Candidate, w: AmbassadorWeights = DEFAULT_WEIGHTS) -> float:
    """Distinct members helped count most; diminishing returns on the softer signals."""
    return round(w.members_helped * c.helped + w.members_answered * c.answered + w.newcomers * c.newcomers
                 + w.reactors * math.sqrt(c.reactors) + w.days_active * math.sqrt(c.days_active)
                 + w.channels * math.sqrt(c.channels) + w.tenure * min(c.tenure_days or 0, 365) / 365, 2)


def _n(k: int, word: str) -> str:
    return f"{k} {word}{'s' * (k != 1)}"


def _tenure(days: int) -> str:
    if days >= 730:
        return _n(days // 365, "year")
    if days >= 60:
        return _n(days // 30, "month")
    return _n(days, "day")


def evidence_text(c: Candidate, channel_names: dict[str, str], w: AmbassadorWeights = DEFAULT_WEIGHTS) -> str:
    """What a moderator reads, one part per signal in the score: "answered 11 questions from 9 members
    and replied to 14 members in #help; helped 6 newcomers; active on 41 days; member for 2 years"."""
    where = f" in #{channel_names.get(c.top_channel or '', c.top_channel)}" if c.top_channel and c.channels <= 1 \
        else ""
    replied = f"replied to {_n(c.helped, 'member')}"
    if c.answers and w.members_answered:
        first = f"answered {_n(c.answers, 'question')} from {_n(c.answered, 'member')}"
        first += where if c.answered == c.helped else f" and {replied}{where}"
    else:
        first = replied + where
    parts = [first]
    if c.newcomers and w.newcomers:
        parts.append(f"helped {_n(c.newcomers, 'newcomer')}")
    if c.reactors and w.reactors:
        parts.append(f"appreciated by {_n(c.reactors, 'member')} with reactions")
    if w.days_active:
        parts.append(f"active on {_n(c.days_active, 'day')}"
                     + (f" in {c.channels} channels" if c.channels > 1 and w.channels else ""))
    elif c.channels > 1 and w.channels:
        parts.append(f"in {c.channels} channels")
    if c.tenure_days is not None and w.tenure:
        parts.append(f"member for {_tenure(c.tenure_days)}")
    return "; ".join(parts)


async def rank_candidates(store: Store, platform: str, *, now: datetime, cfg: AmbassadorSettings,
                          staff_check: Any = None, weights: AmbassadorWeights | None = None,
                          people: bool = True) -> list[Candidate]:
    """Everyone worth considering, best first (staff, bots, departed members and open cases left out).
    ``people``: a person's linked accounts on other platforms add their evidence (ambassador_people.py)."""
    w = weights or DEFAULT_WEIGHTS
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
    async with store.database.connect() as conn:
        short = [r.helper_id for r in (await conn.execute(q1)).all()]
        # members on the list stay scored (with today's evidence) while they drop slowly, even when
        # they are no longer among the most helpful
        on_list = [r.member_id for r in (await conn.execute(
            select(AMB.c.member_id).where(AMB.c.platform == platform, AMB.c.listed_since.is_not(None)))).all()]
        ids = short + sorted(set(on_list) - set(short))
        if not ids:
            return []
        members = {r.member_id: r for r in (await conn.execute(
            select(MT.c.member_id, MT.c.display_name, MT.c.is_bot, MT.c.is_staff, MT.c.roles, MT.c.joined_at,
                   MT.c.first_joined_at, MT.c.left_at, MT.c.forgotten)
            .where(MT.c.platform == platform, MT.c.member_id.in_(ids)))).all()}
        open_cases = {r.member_id for r in (await conn.execute(
            select(CASES.c.member_id).where(CASES.c.platform == platform, CASES.c.member_id.in_(ids),
                                            CASES.c.status == "open"))).all()}
        keep = []
        for mid in ids:
            m = members.get(mid)
            if m is None or m.is_bot or m.forgotten or m.left_at is not None or mid in open_cases:
                continue
            if m.is_staff or (callable(staff_check) and staff_check(m)):
                continue
            keep.append(mid)
        # the signals of every kept candidate at once: three grouped queries per chunk of members,
        # each reading its index range per member, instead of three queries per member
        day = func.date(MSG.c.posted_at) if not store.is_postgres else func.date_trunc("day", MSG.c.posted_at)
        asker = MT.alias("asker")
        newcomer_after = func.coalesce(asker.c.first_joined_at, asker.c.joined_at)
        act: dict[str, Any] = {}
        reactors: dict[str, int] = {}
        helps: dict[str, list[Any]] = {mid: [] for mid in keep}
        for i in range(0, len(keep), _CHUNK):
            chunk = keep[i:i + _CHUNK]
            for r in (await conn.execute(
                    select(MSG.c.author_id, func.count(distinct(day)).label("days"),
                           func.count(distinct(MSG.c.channel_id)).label("channels"))
                    .where(MSG.c.platform == platform, MSG.c.author_id.in_(chunk), MSG.c.posted_at >= since,
                           MSG.c.posted_at <= now)
                    .group_by(MSG.c.author_id))).all():
                act[r.author_id] = r
            for r in (await conn.execute(
                    select(RX.c.message_author_id, func.count(distinct(RX.c.member_id)).label("n"))
                    .where(RX.c.platform == platform, RX.c.message_author_id.in_(chunk), RX.c.at >= since,
                           RX.c.at <= now, RX.c.member_id != RX.c.message_author_id, RX.c.removed.is_(False))
                    .group_by(RX.c.message_author_id))).all():
                reactors[r.message_author_id] = r.n
            # in time order per helper (ties by row), so the busiest channel's tie-break is stable
            for x in (await conn.execute(
                    select(HELPS.c.helper_id, HELPS.c.member_id, HELPS.c.at, newcomer_after.label("joined"),
                           HELPS.c.channel_id, HELPS.c.evidence)
                    .select_from(HELPS.outerjoin(asker, (asker.c.platform == HELPS.c.platform)
                                                 & (asker.c.member_id == HELPS.c.member_id)))
                    .where(HELPS.c.platform == platform, HELPS.c.helper_id.in_(chunk), HELPS.c.at >= since,
                           HELPS.c.at <= now)
                    .order_by(HELPS.c.helper_id, HELPS.c.at, HELPS.c.id))).all():
                helps[x.helper_id].append(x)
    for mid in keep:
        m = members[mid]
        c = Candidate(mid, m.display_name or mid)
        a = act.get(mid)
        c.days_active, c.channels = (int(a.days or 0), int(a.channels or 0)) if a is not None else (0, 0)
        c.reactors = int(reactors.get(mid) or 0)
        rows = helps[mid]
        fresh = {x.member_id for x in rows if x.joined is not None
                 and as_utc(x.at) - as_utc(x.joined) <= timedelta(days=cfg.newcomer_days)}
        c.newcomers = len(fresh)
        c.helped = len({x.member_id for x in rows})
        answers = [x for x in rows if not (x.evidence or "").startswith(REPLY)]
        c.answers, c.answered = len(answers), len({x.member_id for x in answers})
        per_channel: dict[str, int] = {}
        for x in rows:
            per_channel[x.channel_id] = per_channel.get(x.channel_id, 0) + 1
        if per_channel:
            c.top_channel = max(per_channel, key=lambda k: per_channel[k])
            c.top_channel_answers = per_channel[c.top_channel]
        joined = m.first_joined_at or m.joined_at
        c.tenure_days = max(0, (now - as_utc(joined)).days) if joined else None
        c.score = score_of(c, w)
        c.evidence = {"members_helped": c.helped, "questions_answered": c.answers,
                      "members_answered": c.answered,
                      "newcomers_helped": c.newcomers, "reactions_from_members": c.reactors,
                      "days_active": c.days_active, "channels": c.channels, "tenure_days": c.tenure_days}
        out.append(c)
    out.sort(key=lambda c: (-c.score, -c.helped, c.member_id))
    if people:
        from bot.community.ambassador_people import merge_people

        out = await merge_people(store, platform, out, now=now, cfg=cfg, weights=w, rank=lambda p: rank_candidates(
            store, p, now=now, cfg=cfg, weights=w, people=False))
    return out


def _same(stored: Any, value: Any) -> bool:
    """Whether writing ``value`` over ``stored`` would change nothing (datetimes compared as instants)."""
    if stored is None or value is None:
        return stored is value
    if isinstance(stored, datetime) and isinstance(value, datetime):
        return as_utc(stored) == as_utc(value)
    return stored == value


async def update_listing(store: Store, platform: str, ranked: list[Candidate], *, now: datetime,
                         cfg: AmbassadorSettings) -> list[Candidate]:
    """Promote quickly, drop slowly; leave out approved members and those snoozed by 'not now'."""
    by_id = {c.member_id: c for c in ranked}
    keep_bar = cfg.min_score * cfg.keep_ratio
    listed: list[Candidate] = []
    changed: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    async with store.database.begin() as conn:
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
            if any(not _same(getattr(row, k), v) for k, v in values.items()):
                changed.setdefault(tuple(sorted(values)), []).append(
                    {"k_id": row.id, **{f"v_{k}": v for k, v in values.items()}})
            if not on_list or row.decision == "approved":
                continue
            if row.snooze_until is not None and as_utc(row.snooze_until) > now:
                continue
            if c is not None:  # None: staff, a bot, gone, or with an open moderation case now
                listed.append(c)
        # only the rows whose values change are written, as one executemany per set of columns
        for cols, params in changed.items():
            await conn.execute(update(AMB).where(AMB.c.id == bindparam("k_id"))
                               .values({k: bindparam(f"v_{k}") for k in cols}), params)
    listed.sort(key=lambda c: (-c.score, c.member_id))
    return listed


async def decide(store: Store, platform: str, member_id: str, decision: str, *, by: str, now: datetime,
                 snooze_days: float) -> None:
    """Record a moderator's approve / not_now on a candidate."""
    values: dict[str, Any] = {"decision": decision, "decided_by": by, "decided_at": now}
    if decision == "not_now":
        values["snooze_until"] = now + timedelta(days=snooze_days)
    async with store.database.begin() as conn:
        res = await conn.execute(update(AMB).where(AMB.c.platform == platform, AMB.c.member_id == member_id)
                                 .values(**values))
        if not res.rowcount:
            await conn.execute(insert(AMB).values(platform=platform, member_id=member_id, score=0.0, **values))


def candidate_view(c: Candidate, rank: int, channel_names: dict[str, str],
                   w: AmbassadorWeights = DEFAULT_WEIGHTS) -> dict[str, Any]:
    return {"key": c.member_id, "member": {"id": c.member_id, "name": c.name}, "score": c.score, "rank": rank,
            "evidence": dict(c.evidence), "evidence_text": evidence_text(c, channel_names, w)}


class CandidateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    top: int = Field(5, ge=1, le=50, description="candidates in one digest")
    weights: AmbassadorWeights = Field(default_factory=AmbassadorWeights,
                                       description="what each signal adds to the score")


def playbook_weights(engine: Any) -> AmbassadorWeights:
    """The weights of the loaded playbook that runs the ambassador scan (the shipped ``ambassadors.yaml``),
    so every ranking (digest, command, backtest) scores alike; the defaults when there is none."""
    for pb in (getattr(engine, "playbooks", None) or {}).values():
        step = getattr(pb, "scan", None)
        if step is not None and step.name == "ambassador_candidates" and getattr(pb, "enabled", True):
            return step.params.weights
    return DEFAULT_WEIGHTS


def staff_check(engine: Any, platform: str):
    """Whether a stored member counts as staff (never a candidate), as bot/core/roles.py decides."""
    from bot.core.roles import roles_of

    roles = roles_of(engine)
    return lambda m: roles.record_is_staff(platform, m)


@scan("ambassador_candidates", CandidateParams)
async def ambassador_candidates(ctx: RunContext, p: CandidateParams) -> list[Subject]:
    """The current ambassador shortlist, as one digest subject with the evidence for each."""
    from bot.community.questions import channel_names

    await ctx.engine.store.flush()
    cfg = ambassador_settings(ctx.engine.settings)
    store, plat = ctx.engine.store, ctx.platform
    ranked = await rank_candidates(store, plat, now=ctx.now, cfg=cfg, staff_check=staff_check(ctx.engine, plat),
                                   weights=p.weights)
    if not ctx.preview:
        listed = await update_listing(store, plat, ranked, now=ctx.now, cfg=cfg)
    else:  # a preview keeps the listing as it is
        listed = [c for c in ranked if c.score >= cfg.min_score]
    if not listed:
        return []
    names = await channel_names(store, plat, ctx.engine.settings)
    views = [candidate_view(c, i + 1, names, p.weights) for i, c in enumerate(listed[: p.top])]
    return [Subject(plat, "ambassador-digest", vars={"candidates": views},
                    reason=f"{len(views)} ambassador candidate(s)")]


async def ambassador_findings(app, platform: str) -> list[dict[str, Any]]:
    """Backtest findings: the ranked candidates at the end of the replay, with their evidence."""
    await app.store.flush()
    cfg = ambassador_settings(app.settings)
    w = playbook_weights(app.engine)
    ranked = await rank_candidates(app.store, platform, now=app.clock.now(), cfg=cfg,
                                   staff_check=staff_check(app.engine, platform), weights=w)
    from bot.community.questions import channel_names

    names = await channel_names(app.store, platform, app.settings)
    return [{"kind": "ambassador_candidate", "member": c.member_id, "score": c.score, "rank": i + 1,
             "evidence": {**c.evidence, "text": evidence_text(c, names, w)}}
            for i, c in enumerate(ranked[:50])]
