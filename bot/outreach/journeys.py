"""Onboarding journeys: a playbook action whose steps go to a newcomer over days (day 0 a welcome,
day 3 an easy first step, day 7 something that fits them), each step stopping once the member did
what the journey was for (posted, replied, reacted), opted out or left.

Every step is written to the outbox when the journey starts, with its own dedupe key and its due
time (``not_before``): the steps are scheduled durably, survive restarts, and are never sent twice.
Whether a step still goes is decided when it is due, by ``JourneyPolicy`` (a delivery policy), from
what the member did since the journey started; the outreach limits (caps, quiet hours, the hourly
budget) decide as for every automated DM. A journey takes one place in the automated-DM caps: its
first step takes it and the later steps ride on it (``meta.cap_taken``).

In a dry run (backtest, demo) nothing waits in the outbox: each step is kept until the simulated
clock reaches its due time (``settle``, called by the replay as time passes and by every event) and
then decided and recorded as it would have been sent or stopped.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.core.clock import as_utc, iso
from bot.core.events import Event, MemberLeft, MessagePosted, ReactionAdded
from bot.core.records import Button, OutboundMessage, OutboxItem
from bot.delivery.policies import SEND, Decision
from bot.engine.actions import dedupe_key, resolve_channel, template_context
from bot.engine.context import RunContext
from bot.engine.durations import parse_duration
from bot.engine.registry import action
from bot.engine.schema import Duration

if TYPE_CHECKING:
    from bot.app import App

Stop = Literal["posted", "replied", "reacted", "opted_out", "left"]
ALL_STOPS: tuple[str, ...] = ("posted", "replied", "reacted", "opted_out", "left")
#: what a stop reason reads as, in the outbox row's error and the backtest
STOP_WORDS = {"posted": "the member posted", "replied": "the member replied to someone",
              "reacted": "the member reacted to a message", "opted_out": "the member opted out",
              "left": "the member left"}
ACTION = "journey_step"
log = logging.getLogger("steward.journeys")
#: a step this late (Steward was down, the budget was spent for days) is dropped, not sent out of turn
STALE_AFTER = timedelta(days=2)


class _P(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JourneyStep(_P):
    name: str | None = Field(None, description="what the step is called in reports, e.g. day3-first-step")
    delay: Duration = Field(description="after the journey starts (the join), e.g. 10m, 3d")
    template: str
    stop_when: list[Stop] | None = Field(None, description="overrides the journey's stop_when for this step")
    channel: str | None = Field(None, description="a channel from the config's [channels] the step points "
                                                  "to (template: step.channel); the member's interests "
                                                  "may name a better one (fit_channel)")
    fallback_channel: str | None = Field(None, description="if DMs are refused, mention the member here")
    fallback_template: str | None = None
    outreach: bool | None = Field(None, description="waits for the [outreach] hourly_budget; default: "
                                                    "no for the first step (it answers the join), yes after")
    button: Literal["intros"] | None = Field(None, description="a button under the DM: intros = \"Introduce "
                                                               "me to someone\" (template intros_button), which "
                                                               "opts the member into introductions; shown "
                                                               "while an introductions playbook is enabled")


class Journey(_P):
    stop_when: list[Stop] = Field(default_factory=lambda: list(ALL_STOPS),
                                  description="what ends the journey: posted, replied, reacted, opted_out, left")
    steps: list[JourneyStep] = Field(min_length=1, max_length=12)

    def check(self, ctx) -> list:
        out: list = []
        prev = timedelta(0)
        names = getattr(ctx, "channel_names", None)
        for i, s in enumerate(self.steps):
            try:
                d = parse_duration(s.delay)
            except ValueError as e:
                out.append((("steps", i, "delay"), f"steps[{i}]: {e}"))
                continue
            if d < prev:
                out.append((("steps", i, "delay"), f"steps[{i}]: delay {s.delay} comes before the step above it"))
            prev = max(prev, d)
            for key in ("template", "fallback_template"):
                tpl = getattr(s, key)
                if not tpl:
                    continue
                if not ctx.template_exists(tpl):
                    out.append((("steps", i, key), f"steps[{i}]: template {tpl!r} does not exist"))
                elif err := ctx.render_sample(tpl):
                    out.append((("steps", i, key), f"steps[{i}]: template {tpl!r} does not render: {err}"))
            if s.button == "intros" and not ctx.template_exists("intros_button"):
                out.append((("steps", i, "button"), f"steps[{i}]: button intros needs the template 'intros_button'"))
            if bool(s.fallback_channel) != bool(s.fallback_template):
                out.append((("steps", i), f"steps[{i}]: fallback_channel and fallback_template go together"))
            for key in ("channel", "fallback_channel"):
                ch = getattr(s, key)
                if ch and names is not None and ch not in names:
                    known = ", ".join(sorted(names)) or "none configured"
                    # a warning: the step still goes, its template without the channel
                    out.append((("steps", i, key), f"warning: steps[{i}]: channel {ch!r} is not in the "
                                                   f"config's [channels] (known: {known}); the step names none"))
        return out


def step_name(s: JourneyStep, i: int) -> str:
    return s.name or f"step{i + 1}"


@action("journey", Journey)
async def journey(ctx: RunContext, p: Journey) -> None:
    """Start an onboarding journey for the subject member: each step is a DM after its delay, unless
    the member did what stops it (posted, replied, reacted, opted out, left)."""
    if not ctx.subject.member_id:
        return
    start = ctx.now
    svc = journeys_of(ctx.engine)
    for i, s in enumerate(p.steps):
        due = start + parse_duration(s.delay)
        meta = {"journey": ctx.playbook.id, "step": i, "name": step_name(s, i), "of": len(p.steps),
                "start": iso(start), "due": iso(due), "stop_when": list(s.stop_when if s.stop_when is not None else p.stop_when)}
        if i > 0:
            meta["cap_taken"] = True
        key = dedupe_key(ctx, f":{i}")
        if ctx.preview or svc is None or not ctx.engine.dry_run:
            await _queue_step(ctx, s, i, meta, due, key)
        else:  # a dry run: decided when the simulated clock gets there
            svc.hold(due, ctx, s, i, meta, key)
    if svc is not None and not ctx.preview:
        svc.watch(ctx.platform, ctx.subject.member_id)


async def _queue_step(ctx: RunContext, s: JourneyStep, i: int, meta: dict[str, Any], due: datetime,
                      key: str) -> None:
    text, fallback, buttons = await _render_step(ctx, s, i, meta)
    msg = OutboundMessage(platform=ctx.platform, kind="dm", text=text, member_id=ctx.subject.member_id,
                          dedupe_key=key, buttons=buttons)
    outreach = s.outreach if s.outreach is not None else i > 0
    await ctx.outbox.submit(msg, playbook_id=ctx.playbook.id, action=ACTION,
                            reason=f"{ctx.playbook.spec.description or 'journey'}: {meta['name']}",
                            delay=due - ctx.engine.clock.now(), automated=i == 0, fallback=fallback,
                            outreach=outreach, extra={"meta": meta})


async def _render_step(ctx: RunContext, s: JourneyStep, i: int,
                       meta: dict[str, Any]) -> tuple[str, dict | None, tuple[Button, ...]]:
    """The step's text as the member reads it now (with the stop hint), its fallback and its buttons."""
    context, locale = await template_context(ctx)
    context["step"] = {"index": i + 1, "name": meta["name"], "of": meta["of"],
                       "channel": _channel(ctx, s.channel)}
    context.update(await fit_context(ctx, s))
    tpl = ctx.engine.templates
    text = tpl.render(s.template, context, locale)
    if tpl.exists("stop_hint"):
        text = text + "\n\n" + tpl.render("stop_hint", context, locale)
    fallback = None
    if s.fallback_channel and s.fallback_template:
        fallback = {"kind": "channel", "channel_id": resolve_channel(ctx, s.fallback_channel),
                    "text": tpl.render(s.fallback_template, context, locale), "mention_ids": [ctx.subject.member_id]}
    buttons: tuple[Button, ...] = ()
    if s.button == "intros" and _intros_enabled(ctx) and tpl.exists("intros_button"):
        label = tpl.render("intros_button", context, locale).strip()
        buttons = (Button("intros_on", label, ctx.platform, "primary"),)
    return text, fallback, buttons


def _intros_enabled(ctx: RunContext) -> bool:
    """Whether introductions happen here: an enabled playbook with the ``introduce`` action."""
    eng = ctx.engine
    return any(eng.active(pb) and ctx.platform in pb.spec.platforms and any(st.name == "introduce" for st in pb.actions)
               for pb in eng.playbooks.values())


def _channel(ctx: RunContext, name: str | None) -> dict[str, str] | None:
    if not name:
        return None
    cid = resolve_channel(ctx, name)
    return {"id": cid, "name": name} if cid else None


async def fit_context(ctx: RunContext, s: JourneyStep) -> dict[str, Any]:
    """``fit_channel``: the channel that fits the member (their interests, when known), else the step's."""
    fit = getattr(ctx.engine.services, "fit_channel", None)
    if fit is not None and ctx.subject.member_id:
        got = await fit(ctx.platform, ctx.subject.member_id)
        if got:
            return {"fit_channel": got.get("channel"), "fit_topic": got.get("topic")}
    return {"fit_channel": _channel(ctx, s.channel), "fit_topic": None}


# --------------------------------------------------------------------------- deciding a due step


@dataclass(order=True)
class _Held:
    due: datetime
    seq: int
    ctx: Any = field(compare=False)
    step: Any = field(compare=False)
    index: int = field(compare=False)
    meta: dict = field(compare=False)
    key: str = field(compare=False)


class Journeys:
    """The journeys' state in this process: what members in a journey did (so a due step need not
    ask the database in a dry run), and, in a dry run, the steps waiting for their time."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.seen: dict[tuple[str, str], dict[str, datetime]] = {}
        self._held: list[_Held] = []
        self._seq = itertools.count()

    def watch(self, platform: str, member_id: str) -> None:
        self.seen.setdefault((platform, member_id), {})

    def hold(self, due: datetime, ctx: RunContext, s: JourneyStep, i: int, meta: dict, key: str) -> None:
        heapq.heappush(self._held, _Held(due, next(self._seq), ctx, s, i, meta, key))

    async def observe(self, ev: Event, facts: dict[str, Any]) -> None:
        """Notes what a member in a journey did (the first time of each kind)."""
        if self._held:
            await self.settle(ev.at)
        if not self.seen:
            return
        kinds: tuple[str, ...] = ()
        who = None
        if isinstance(ev, MessagePosted) and not ev.is_bot:
            who = ev.author_id
            replied = ev.reply_to or (ev.thread_id and ev.thread_id != ev.message_id)
            kinds = ("posted", "replied") if replied else ("posted",)
        elif isinstance(ev, ReactionAdded):
            who, kinds = ev.member_id, ("reacted",)
        elif isinstance(ev, MemberLeft) and ev.channel_id is None:
            who, kinds = ev.member_id, ("left",)
        if who is None:
            return
        seen = self.seen.get((ev.platform, who))
        if seen is not None:
            for k in kinds:
                seen.setdefault(k, ev.at)

    async def settle(self, now: datetime) -> None:
        """A dry run: the held steps that are due by ``now`` are decided and recorded."""
        while self._held and self._held[0].due <= now:
            h = heapq.heappop(self._held)
            await _queue_step(h.ctx, h.step, h.index, h.meta, h.due, h.key)
            if h.index == h.meta["of"] - 1:  # the journey is over: let go of what the member did
                self.seen.pop((h.ctx.platform, h.ctx.subject.member_id), None)

    async def stop_reason(self, platform: str, member_id: str, meta: dict, now: datetime) -> str | None:
        stops = set(meta.get("stop_when") or ())
        start = as_utc(datetime.fromisoformat(meta["start"]))
        if "opted_out" in stops and (await self.app.store.preferences(platform, member_id)).opted_out:
            return "opted_out"
        # what this process saw since the journey started (the platform's clock, not ours)
        seen = self.seen.get((platform, member_id)) or {}
        for k in ALL_STOPS:
            if k in stops and k in seen:
                return k
        if self.app.engine.dry_run:
            return None  # the replay's events all passed by ``observe``
        await self.app.store.flush()  # messages and reactions are written behind
        did = await self.app.store.belonging.activity(platform, member_id, start)
        for k in ALL_STOPS:
            if k in stops and k in did:
                return k
        return None

    async def rendered_now(self, item: OutboxItem, now: datetime) -> OutboundMessage | None:
        """A later step's text rendered again when it is due (the member's interests, language and name
        may have changed since the join); None when the journey's playbook no longer has the step."""
        from bot.core.events import MemberJoined
        from bot.engine.context import Subject

        meta, msg = item.meta or {}, item.message
        pb = self.app.engine.playbooks.get(meta.get("journey", ""))
        j = next((st.params for st in pb.actions if st.name == "journey"), None) if pb is not None else None
        i = int(meta.get("step", 0))
        if j is None or i >= len(j.steps) or step_name(j.steps[i], i) != meta.get("name"):
            return None
        start = as_utc(datetime.fromisoformat(meta["start"]))
        subject = Subject(msg.platform, msg.member_id or "", member_id=msg.member_id, reason="joined")
        ctx = RunContext(self.app.engine, pb, MemberJoined(msg.platform, start, member_id=msg.member_id or ""),
                         subject, {}, now)
        text, _, _ = await _render_step(ctx, j.steps[i], i, meta)
        return replace(msg, text=text) if text != msg.text else None

    def forget_member(self, platform: str, member_id: str) -> None:
        self.seen.pop((platform, member_id), None)


class JourneyPolicy:
    """A delivery policy: a journey step whose stop condition happened is skipped, saying which."""

    def __init__(self, journeys: Journeys) -> None:
        self.journeys = journeys

    async def decide(self, item: OutboxItem, now: datetime) -> Decision:
        meta = item.meta
        if not meta or item.action != ACTION or not item.message.member_id:
            return SEND
        why = await self.journeys.stop_reason(item.message.platform, item.message.member_id, meta, now)
        if why is not None:
            return Decision("skip", reason=f"journey stopped: {STOP_WORDS[why]}")
        late = now - as_utc(datetime.fromisoformat(meta.get("due") or meta["start"]))
        if late > STALE_AFTER:
            return Decision("skip", reason=f"journey step {late.days} days late; dropped")
        if meta.get("step", 0) > 0 and not self.journeys.app.engine.dry_run:
            try:
                fresh = await self.journeys.rendered_now(item, now)
            except Exception:  # a template that no longer renders: the text queued at the join goes
                log.exception("journey step %s could not be rendered again", item.id)
                fresh = None
            if fresh is not None:
                return Decision(message=fresh)
        return SEND


def journeys_of(engine) -> Journeys | None:
    return getattr(engine.services, "journeys", None)


# --------------------------------------------------------------------------- preview


async def preview_journey(app: App, playbook_id: str, platform: str, member_id: str) -> list[dict[str, Any]]:
    """Each step of a journey playbook as the member would read it (rendered for ``member_id``),
    with its delay; nothing is written or sent."""
    from bot.core.events import MemberJoined
    from bot.engine.context import Subject

    eng = app.engine
    pb = eng.playbooks[playbook_id]
    items: list[dict[str, Any]] = []

    class _Capture:
        async def submit(self, msg, **kw):
            meta = (kw.get("extra") or {}).get("meta") or {}
            items.append({"step": meta.get("name", ""), "after": kw.get("delay"), "text": msg.text})

    now = eng.clock.now()
    ev = MemberJoined(platform, now, member_id=member_id)
    subject = Subject(platform, member_id, member_id=member_id, reason="joined")
    ctx = RunContext(eng, pb, ev, subject, {}, now, outbox=_Capture(), preview=True)
    for i, step in enumerate(pb.actions):
        if step.name == "journey":
            ctx.action_index = i
            ctx.run_key = f"preview:{pb.id}"
            await journey(ctx, step.params)
    return items


def has_journey(pb) -> bool:
    return any(s.name == "journey" for s in pb.actions)
