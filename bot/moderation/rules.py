"""Moderation rules, which a playbook lists under ``rules:`` with their parameters.

A rule looks at one message and returns what it found (a ``Hit``) or None. The engine runs every
rule listed, so a message that breaks any of them opens one case: the run goes on only when a rule
found something, and ``open_case`` turns the hits (``ctx.hits``) into a case. Raids (a condition
on joins) are ``raids.py``; the rules' in-memory windows are ``windows.py``.

Rules run on the hot message path: each is a bounded, C-level pass over the text (``re``/RE2 scans,
``str.count``), member lookups happen only when a rule already suspects something, and the flood
window keeps at most ``WINDOW_CAP`` entries per member.
"""

from __future__ import annotations

import functools
import re
from collections import deque
from datetime import timedelta
from typing import Literal

import re2
from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.core.events import MessagePosted
from bot.core.roles import roles_of
from bot.core.text import links
from bot.engine.context import RunContext
from bot.engine.durations import parse_duration
from bot.engine.registry import action, rule
from bot.engine.schema import Duration
from bot.moderation.patterns import compile_pattern, search_patterns
from bot.moderation.queue import Escalation, Hit, service
from bot.moderation.terms import MAX_CHARS, available_locales, matcher_for, resolve_file, skeleton
from bot.moderation.windows import PRUNE_EVERY, WINDOW_CAP, _Entry, state

_MENTION_ID = re.compile(r"<@!?([A-Za-z0-9_.:-]+)>")

_INVITE = re.compile(
    r"(?<![\w.])(?:https?://)?(?:www\.)?"
    r"(?:discord(?:app)?\.com/invite|discord\.gg|discord\.me|dsc\.gg|join\.slack\.com/t)/[\w./-]{2,100}",
    re.I,
)
_MASS = re2.compile(r"(?i)(?:^|[^\w@])(@(?:everyone|here))\b|(<!(?:channel|here|everyone)(?:\|[^>]{0,50})?>)")


class _P(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _dur(v: Duration) -> Duration:
    if parse_duration(v).total_seconds() <= 0:
        raise ValueError("must be a positive duration, e.g. 10s")
    return v


class Rule(_P):
    auto_delete: bool = Field(False, description="delete the message at once; the case records it")


def _message(ctx: RunContext) -> MessagePosted | None:
    ev = ctx.event
    return ev if isinstance(ev, MessagePosted) else None


@functools.lru_cache(maxsize=256)
def _seconds(d: Duration) -> float:
    return parse_duration(d).total_seconds()


def _text(ev: MessagePosted) -> str:
    return ev.text[:MAX_CHARS] if ev.text else ""


def count_links(ctx: RunContext, ev: MessagePosted) -> int:
    """Links in a message (outside code: a URL in a code block is text), counted once per event and
    shared by the rules."""
    n = ctx.facts.get("moderation.links")
    if n is None:
        n = len(links(_text(ev)))
        ctx.facts["moderation.links"] = n
    return n


# ---------------------------------------------------------------------------------------------- flood
class Flood(Rule):
    window: Duration = Field("10s", description="sliding window per member")
    messages: int = Field(7, ge=2, description="this many messages in the window is a flood")
    duplicates: int = Field(3, ge=2, description="this many identical messages in the window")
    mentions: int = Field(5, ge=1, description="this many member mentions in the window")
    links: int = Field(10, ge=1, description="this many links in the window")
    replies_within: Duration = Field("10m", description="a mention of a member who posted in the channel "
                                                        "this recently is a reply, not a ping")

    @field_validator("window", "replies_within")
    @classmethod
    def _window(cls, v: Duration) -> Duration:
        return _dur(v)


@rule("flood", Flood)
def flood(ctx: RunContext, p: Flood) -> Hit | None:
    """Rule: too many messages, duplicates, mentions or links from one member in a short window."""
    ev = _message(ctx)
    if ev is None or not ev.author_id:
        return None
    st = state(ctx.engine)
    key = (ev.platform, ev.author_id)
    dq = st.windows.get(key)
    if dq is None:
        dq = st.windows[key] = deque(maxlen=WINDOW_CAP)
    now = ev.at.timestamp()
    window_s = _seconds(p.window)
    start = now - window_s
    if window_s > st.keep_s:
        st.keep_s = window_s
    while dq and dq[0].t < now - st.keep_s:
        dq.popleft()
    text = _text(ev)
    norm = " ".join(text.lower().split()[:400])
    pinged = min(max(len(ev.mentions), text.count("<@")), 10_000)
    reply_s = _seconds(p.replies_within)
    if reply_s > st.reply_keep_s:
        st.reply_keep_s = reply_s
    if pinged:
        # answering the people one is talking with, in a fast help conversation, is not a mention flood
        ids = set(ev.mentions[:10_000]) | set(_MENTION_ID.findall(text[:20_000]))
        ids.discard(ev.author_id)
        since = now - reply_s
        pinged = max(0, pinged - st.replies(ev.platform, ev.channel_id, ids, since))
    st.posted(ev.platform, ev.channel_id, ev.author_id, now)
    entry = _Entry(now, ev.message_id, hash(norm) if norm else 0, pinged, count_links(ctx, ev))
    n = dups = mentions = links = 0
    redelivered = False
    for e in reversed(dq):
        if e.t < start:
            break
        if e.message_id == ev.message_id:
            redelivered = True
            continue
        n += 1
        dups += bool(entry.dup) and e.dup == entry.dup
        mentions += e.mentions
        links += e.links
    if not redelivered:
        dq.append(entry)
    n, dups, mentions, links = n + 1, dups + bool(entry.dup), mentions + entry.mentions, links + entry.links
    st.seen += 1
    if st.seen % PRUNE_EVERY == 0:
        st.prune(now)
    found = []
    if n >= p.messages:
        found.append(f"{n} messages in {p.window}")
    if entry.dup and dups >= p.duplicates:
        found.append(f"{dups} identical messages in {p.window}")
    if mentions >= p.mentions:
        found.append(f"{mentions} mentions in {p.window}")
    if links >= p.links:
        found.append(f"{links} links in {p.window}")
    return Hit("flood", ", ".join(found), p.auto_delete) if found else None


# ---------------------------------------------------------------------------------------------- mentions
class MassMention(Rule):
    pass


@rule("mass_mention", MassMention)
def mass_mention(ctx: RunContext, p: MassMention):
    """Rule: @everyone, @here or <!channel> from someone who is not staff."""
    ev = _message(ctx)
    if ev is None:
        return None
    text = _text(ev)
    m = _MASS.search(text) if ("@" in text or "<!" in text) else None
    if not m:
        return None  # the common case answers at once, without a coroutine
    return _hit_unless_staff(ctx, ev.author_id, Hit("mass_mention", f"used {m.group(1) or m.group(2)}",
                                                    p.auto_delete))


async def _hit_unless_staff(ctx: RunContext, member_id: str, hit: Hit) -> Hit | None:
    if await roles_of(ctx.engine).is_staff(ctx.platform, member_id):
        return None
    return hit


# ---------------------------------------------------------------------------------------------- links
class InviteLinks(Rule):
    allow: list[str] = Field(default_factory=list,
                             description="invite links that are fine (your own), e.g. discord.gg/ourcode")


@rule("invite_links", InviteLinks)
def invite_links(ctx: RunContext, p: InviteLinks):
    """Rule: an invite link to another Discord server or Slack workspace (from someone not staff)."""
    ev = _message(ctx)
    if ev is None:
        return None
    text = _text(ev)
    low = text.lower()
    if not any(s in low for s in ("discord", "dsc.gg", "join.slack")):
        return None
    allow = [a.lower() for a in p.allow]
    bad = [m.group(0) for m in _INVITE.finditer(text) if not any(a in m.group(0).lower() for a in allow)]
    if not bad:
        return None
    return _hit_unless_staff(ctx, ev.author_id, Hit("invite_links", f"invite link {bad[0][:80]}", p.auto_delete))


class NewMemberLinks(Rule):
    days: float = Field(3, gt=0, description="members who joined less than this many days ago")
    max_links: int = Field(2, ge=0, description="may post at most this many links per message")


@rule("new_member_links", NewMemberLinks)
def new_member_links(ctx: RunContext, p: NewMemberLinks):
    """Rule: more than `max_links` links in one post from a member who joined less than `days` ago."""
    ev = _message(ctx)
    if ev is None:
        return None
    n = count_links(ctx, ev)
    if n <= p.max_links:
        return None
    return _new_member_links(ctx, p, ev, n)


async def _new_member_links(ctx: RunContext, p: NewMemberLinks, ev: MessagePosted, n: int) -> Hit | None:
    m = await ctx.engine.store.get_member(ev.platform, ev.author_id)
    if m is None or m.joined_at is None or m.joined_at <= ev.at - timedelta(days=p.days):
        return None
    if await roles_of(ctx.engine).is_staff(ctx.platform, ev.author_id):
        return None
    age = ev.at - m.joined_at
    when = f"{int(age.total_seconds() // 60)} min" if age < timedelta(hours=1) else f"{age.days} d {age.seconds // 3600} h"
    return Hit("new_member_links", f"{n} links from a member who joined {when} ago", p.auto_delete)


# ---------------------------------------------------------------------------------------------- terms
class Terms(Rule):
    locales: list[str] = Field(default_factory=lambda: ["en", "nl"],
                               description="shipped term lists to use (bot/moderation/terms/<locale>.txt)")
    files: list[str] = Field(default_factory=list, description="extra term files of your own, one term a line")
    extra: list[str] = Field(default_factory=list, description="extra terms, written here")
    allow: list[str] = Field(default_factory=list, description="terms never to flag in this community")

    def check(self, ctx) -> list[str]:
        out = []
        known = available_locales()
        for loc in self.locales:
            if loc not in known:
                out.append(f"no term list for locale {loc!r} (shipped: {', '.join(known)})")
        for f in self.files:
            if not resolve_file(f, getattr(ctx, "settings", None)).is_file():
                out.append(f"term file {f!r} does not exist")
        return out


@rule("terms", Terms)
def terms(ctx: RunContext, p: Terms) -> Hit | None:
    """Rule: a term from the community's lists, however it is spelled (accents, look-alikes, leetspeak)."""
    ev = _message(ctx)
    if ev is None or not ev.text:
        return None
    found = matcher_for(p, ctx.engine.settings).find(ev.text, limit=3)
    return Hit("terms", "term: " + ", ".join(found), p.auto_delete) if found else None


# ---------------------------------------------------------------------------------------------- patterns
class Patterns(Rule):
    patterns: list[str] = Field(min_length=1, description="RE2 regular expressions (no backreferences "
                                                          "or lookaround: matching time stays linear)")
    case_sensitive: bool = False
    on: Literal["text", "normalised"] = Field("text", description="match the raw text, or its normalised form "
                                                                  "(lower case, no accents, look-alikes read)")

    def check(self, ctx) -> list[str]:
        out = []
        for i, pat in enumerate(self.patterns):
            try:
                compile_pattern(pat, self.case_sensitive)
            except re2.error as e:
                out.append(f"patterns[{i}] {pat!r} is not a pattern RE2 can run: {e}")
        return out


@rule("patterns", Patterns)
def patterns(ctx: RunContext, p: Patterns) -> Hit | None:
    """Rule: the message matches one of the admin's regular expressions (run on RE2, linear time)."""
    ev = _message(ctx)
    if ev is None or not ev.text:
        return None
    found = search_patterns(p, skeleton(ev.text) if p.on == "normalised" else _text(ev))
    if found:
        return Hit("patterns", f"pattern {found[0] + 1} matched {found[1][:60]!r}", p.auto_delete)
    return None


# ---------------------------------------------------------------------------------------------- case
class EscalateSpec(_P):
    warnings: int = Field(ge=1, description="this many warnings ...")
    within: Duration = Field("30d", description="... within this period")
    suggest: Literal["timeout", "ban"] = "timeout"

    @field_validator("within")
    @classmethod
    def _within(cls, v: Duration) -> Duration:
        return _dur(v)


class OpenCase(_P):
    template: str = Field("case_digest", description="the digest item moderators see")
    merge_window: Duration = Field("30m", description="hits of one member this close together are one case")
    escalate: list[EscalateSpec] = Field(
        default_factory=lambda: [EscalateSpec(warnings=3, within="30d", suggest="timeout"),
                                 EscalateSpec(warnings=5, within="90d", suggest="ban")],
        description="what the digest suggests after repeated warnings")

    @field_validator("merge_window")
    @classmethod
    def _merge(cls, v: Duration) -> Duration:
        return _dur(v)


@action("open_case", OpenCase)
async def open_case(ctx: RunContext, p: OpenCase) -> None:
    """Open a moderation case for the rules' findings (or merge into the member's open incident)."""
    ev = _message(ctx)
    hits = ctx.hits
    if ev is None or not hits or ctx.preview:  # a preview opens nothing
        return
    esc = tuple(Escalation(e.warnings, parse_duration(e.within), e.suggest) for e in p.escalate)
    await service(ctx.engine).open_from_hits(
        platform=ev.platform, member_id=ev.author_id, channel_id=ev.channel_id, message_id=ev.message_id,
        text=ev.text, hits=hits, at=ev.at, merge_window=parse_duration(p.merge_window), template=p.template,
        escalation=esc, playbook_id=ctx.playbook.id)
