"""Introductions between members who said yes (``/steward intros on``): on the schedule admins set
in ``playbooks/intros.yaml``, members who share an interest are paired, a newcomer with an
established member where possible and with working hours that overlap in their own time zones,
never the same pair twice and never someone with an open moderation case. Each pair gets one
message together (Slack: a group DM; Discord: a private thread in the intros channel with both
added) saying what they have in common; a week later each is asked "did you meet?" and the answer
(yes or no, in the DM) is recorded."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field

from bot.community.intros_store import Candidate, IntroStore
from bot.core.records import OutboundMessage
from bot.engine.actions import dedupe_key, member_view, render, resolve_channel
from bot.engine.context import RunContext, Subject
from bot.engine.registry import action, scan

#: local working hours a pair's overlap is measured in
WORK_START, WORK_END = 9, 17
#: partners looked at per member: enough to find a good one, bounded on a large community
LOOK_AT = 64


class _P(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PairParams(_P):
    every_days: float = Field(14, gt=0, description="a round at most this often (the playbook's schedule ticks more)")
    newcomer_days: float = Field(30, ge=0, description="joined less than this long ago: a newcomer")
    established_days: float = Field(90, ge=0, description="joined at least this long ago: established")
    max_pairs: int = Field(50, ge=1, le=10000, description="pairs in one round at most")


@dataclass(frozen=True)
class Pair:
    a: Candidate
    b: Candidate
    topic: str
    score: float


def _offset_hours(tz: str | None, default_tz: str, at: datetime) -> float:
    for name in (tz, default_tz, "UTC"):
        try:
            if name:
                off = at.astimezone(ZoneInfo(name)).utcoffset()
                return off.total_seconds() / 3600 if off is not None else 0.0
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return 0.0


def overlap_hours(off_a: float, off_b: float) -> float:
    """Hours both are inside 09:00-17:00 of their own day (offsets from UTC in hours)."""
    a0, b0 = WORK_START - off_a, WORK_START - off_b
    return max(0.0, min(a0, b0) + (WORK_END - WORK_START) - max(a0, b0))


def make_pairs(cands: list[Candidate], interests: dict[str, list[str]], past: set[frozenset[str]], *,
               now: datetime, default_tz: str, newcomer_days: float, established_days: float,
               max_pairs: int) -> list[Pair]:
    """Greedy pairing: newcomers first (the newest first), each with the best partner still free
    among the members sharing one of their interests (an established member, then overlapping working
    hours, then more interests in common); then the others among themselves. Never a pair made
    before; each member in one pair at most."""
    by_topic: dict[str, list[Candidate]] = defaultdict(list)
    info: dict[str, tuple[Candidate, set[str], float, str]] = {}
    offsets: dict[str | None, float] = {}
    for c in cands:
        tops = interests.get(c.member_id) or []
        if not tops:
            continue
        age = (now - c.joined_at).days if c.joined_at else 10_000
        kind = "new" if age < newcomer_days else "old" if age >= established_days else "mid"
        off = offsets.get(c.timezone)
        if off is None:
            off = offsets[c.timezone] = _offset_hours(c.timezone, default_tz, now)
        info[c.member_id] = (c, set(tops), off, kind)
        for t in tops:
            by_topic[t].append(c)
    # established members first in each topic's list: a newcomer looks at them first
    for lst in by_topic.values():
        lst.sort(key=lambda c: (info[c.member_id][3] != "old", c.member_id))
    taken: set[str] = set()
    pairs: list[Pair] = []
    order = sorted(info.values(), key=lambda x: (x[3] != "new", -(x[0].joined_at or now).timestamp()))
    for c, tops, off, kind in order:
        if len(pairs) >= max_pairs:
            break
        if c.member_id in taken:
            continue
        best: tuple[float, Candidate, str] | None = None
        for t in sorted(tops):
            looked = 0
            for other in by_topic[t]:
                if looked >= LOOK_AT:
                    break
                o = other.member_id
                if o == c.member_id or o in taken or frozenset((c.member_id, o)) in past:
                    continue
                looked += 1
                _, otops, ooff, okind = info[o]
                score = (10.0 if {kind, okind} == {"new", "old"} else 0.0) + overlap_hours(off, ooff) \
                    + 0.5 * len(tops & otops)
                if best is None or score > best[0]:
                    best = (score, other, t)
        if best is None:
            continue
        score, other, topic = best
        taken.update((c.member_id, other.member_id))
        pairs.append(Pair(c, other, topic, score))
    return pairs


@scan("intro_pairs", PairParams)
async def intro_pairs(ctx: RunContext, p: PairParams) -> list[Subject]:
    """One subject per pair of members to introduce this round (nothing between rounds)."""
    eng = ctx.engine
    store = IntroStore(eng.store)
    last = await store.last_round(ctx.platform)
    if last is not None and ctx.now - last < timedelta(days=p.every_days) - timedelta(minutes=1):
        return []
    svc = eng.services.interests
    if svc is None:
        return []
    cands = await store.candidates(ctx.platform, ctx.now)
    if len(cands) < 2:
        return []
    ids = [c.member_id for c in cands]
    got = await svc.infer(ctx.platform, ids if len(ids) <= 500 else store.taking_part(ctx.platform))
    interests = {m: [i.topic for i in its] for m, its in got.items()}
    pairs = make_pairs(cands, interests, await store.past_pairs(ctx.platform), now=ctx.now,
                       default_tz=getattr(eng.settings, "default_timezone", "UTC"),
                       newcomer_days=p.newcomer_days, established_days=p.established_days, max_pairs=p.max_pairs)
    out = []
    for pr in pairs:
        a, b = sorted((pr.a.member_id, pr.b.member_id))
        out.append(Subject(ctx.platform, f"{a}+{b}", member_id=a,
                           vars={"pair": (a, b), "topic_id": pr.topic}, reason=f"both interested in {pr.topic}"))
    return out


class Introduce(_P):
    template: str = Field(description="the message both read, e.g. intro_message")
    thread_channel: str = Field("intros", description="Discord: the channel (from [channels]) the private "
                                                      "threads go in (bots cannot open group DMs there)")
    followup_after: str = Field("7d", description="when to ask each of them whether they met")

    def check(self, ctx) -> list[str]:
        from bot.engine.durations import parse_duration

        parse_duration(self.followup_after)
        names = getattr(ctx, "channel_names", None)
        if names is not None and self.thread_channel not in names:
            return [f"warning: thread_channel {self.thread_channel!r} is not in the config's [channels]: "
                    "no introductions on Discord"]
        return []


@action("introduce", Introduce)
async def introduce(ctx: RunContext, p: Introduce) -> None:
    """Introduce the pair the scan found: one message to both (Slack group DM, Discord private thread)."""
    from bot.engine.durations import parse_duration

    pair = ctx.subject.vars.get("pair")
    if not pair:
        return
    a, b = pair
    eng = ctx.engine
    svc = eng.services.interests
    topic_id = ctx.subject.vars.get("topic_id")
    ma, mb = await member_view(ctx, a), await member_view(ctx, b)
    locale = (ma or {}).get("locale") or getattr(eng.settings, "default_locale", "en")
    topic = svc.topics.topics.get(topic_id) if svc is not None and topic_id else None
    extra: dict[str, Any] = {"first": ma, "second": mb, "topic": topic.label(locale) if topic else ""}
    text, _ = await render(ctx, p.template, extra)
    channel_id = resolve_channel(ctx, p.thread_channel) if ctx.platform == "discord" else None
    if ctx.platform == "discord" and not channel_id:
        return  # no intros channel configured: nowhere to make the thread
    names = " & ".join((m or {}).get("name") or "?" for m in (ma, mb))
    msg = OutboundMessage(platform=ctx.platform, kind="group", text=text, channel_id=channel_id,
                          thread_id=f"{names}"[:100], mention_ids=(a, b), dedupe_key=dedupe_key(ctx))
    if not ctx.preview:
        await IntroStore(eng.store).record(ctx.platform, (a, b), topic=topic_id, round_at=ctx.now, now=ctx.now,
                                           followup_after=parse_duration(p.followup_after))
    await ctx.outbox.submit(msg, playbook_id=ctx.playbook.id, action="introduce",
                            reason=ctx.subject.reason or "introduction")


class FollowParams(_P):
    pass


@scan("intro_followups", FollowParams)
async def intro_followups(ctx: RunContext, p: FollowParams) -> list[Subject]:
    """Each member of an introduction whose "did you meet?" is due."""
    out = []
    store = IntroStore(ctx.engine.store)
    for intro_id, members, _topic in await store.due_followups(ctx.platform, ctx.now):
        for m in members:
            other = next((x for x in members if x != m), "")
            out.append(Subject(ctx.platform, f"intro{intro_id}:{m}", member_id=m,
                               vars={"intro_id": intro_id, "other_id": other}, reason="introduced a week ago"))
    return out


class AskIfMet(_P):
    template: str


@action("ask_if_met", AskIfMet)
async def ask_if_met(ctx: RunContext, p: AskIfMet) -> None:
    """DM the member "did you meet?"; they answer yes or no in the DM."""
    mid = ctx.subject.member_id
    if not mid:
        return
    other = await member_view(ctx, ctx.subject.vars.get("other_id"))
    text, _ = await render(ctx, p.template, {"other": other})
    msg = OutboundMessage(platform=ctx.platform, kind="dm", text=text, member_id=mid, dedupe_key=dedupe_key(ctx))
    await ctx.outbox.submit(msg, playbook_id=ctx.playbook.id, action="ask_if_met", reason="did you meet?",
                            automated=False)
    if not ctx.preview:
        await IntroStore(ctx.engine.store).followup_asked(int(ctx.subject.vars["intro_id"]))
