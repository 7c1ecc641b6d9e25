"""The engine: the one place that decides. Events and schedule ticks come in; playbooks whose
trigger matches run their scan, conditions and actions; actions write to the outbox."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.core.clock import Clock
from bot.core.errors import Problem
from bot.core.events import Event, MemberJoined, MessagePosted, ReactionAdded, ScheduleFired
from bot.core.metrics import Metrics
from bot.core.ports import OutboxPort
from bot.core.roles import CLICK_ANSWER, Roles
from bot.engine.context import RunContext, Subject
from bot.engine.durations import parse_duration
from bot.engine.loader import CheckContext, LoadedPlaybook, LoadResult, load_dir
from bot.engine.services import Services
from bot.messaging.templates import Templates
from bot.storage.repositories import Store

log = logging.getLogger("steward.engine")

#: the answer to a click delivered again (its first delivery did what it asked)
ALREADY_DONE = "That was already done. Nothing was changed."
#: the facts key under which ``dispatch`` leaves the playbooks that failed ({id: exception})
FAILED = "engine.failed"
#: how many of the latest messages ``Engine.dispatch`` remembers, to handle a repeat once (a retry
#: comes within minutes, and this is hours of a busy community's messages)
MESSAGES_SEEN = 20_000


@dataclass
class RunReport:
    """What one playbook did for one subject (for previews and tests)."""

    playbook_id: str
    subject: Subject
    ran: bool
    why_not: str = ""
    actions: list[str] = field(default_factory=list)


def subject_from_event(ev: Event) -> Subject | None:
    if isinstance(ev, MemberJoined):
        return Subject(ev.platform, ev.member_id, member_id=ev.member_id, channel_id=ev.channel_id,
                       reason="joined")
    if isinstance(ev, MessagePosted):
        return Subject(ev.platform, f"{ev.channel_id}/{ev.message_id}", member_id=ev.author_id,
                       channel_id=ev.channel_id, message_id=ev.message_id, thread_id=ev.thread_id,
                       reason="posted a message")
    if isinstance(ev, ReactionAdded):
        return Subject(ev.platform, f"{ev.channel_id}/{ev.message_id}/{ev.member_id}/{ev.emoji}",
                       member_id=ev.member_id, channel_id=ev.channel_id, message_id=ev.message_id)
    member = getattr(ev, "member_id", None) or getattr(ev, "reporter_id", None)
    key = f"{type(ev).__name__}:{member}:{ev.at.isoformat()}"
    return Subject(ev.platform, key, member_id=member, channel_id=getattr(ev, "channel_id", None),
                   message_id=getattr(ev, "message_id", None))


def _event_period(ev: Event) -> str:
    if isinstance(ev, ScheduleFired):
        return (ev.scheduled_for or ev.at).isoformat()
    mid = getattr(ev, "message_id", None)
    return mid or ev.at.isoformat()


class Engine:
    def __init__(self, *, store: Store, outbox: OutboxPort, templates: Templates, clock: Clock,
                 settings: Any, playbooks_dir: Path, dry_run: bool = False,
                 check_context: CheckContext | None = None, services: Services | None = None,
                 metrics: Metrics | None = None) -> None:
        self.store = store
        self.outbox = outbox
        self.templates = templates
        self.clock = clock
        self.settings = settings
        self.playbooks_dir = Path(playbooks_dir)
        self.dry_run = dry_run
        self.check_context = check_context or CheckContext()
        self.playbooks: dict[str, LoadedPlaybook] = {}
        self.problems: list[Problem] = []
        self._by_event: dict[str, list[LoadedPlaybook]] = defaultdict(list)
        self._triggers: dict[str, Any] = {}
        #: the app's services (bot/engine/services.py): question tracker, moderation, channel names, ...
        self.services = services if services is not None else Services()
        #: the app's Prometheus counts (bot/core/metrics.py): events handled, their lag, scan times
        self.metrics = metrics if metrics is not None else Metrics()
        #: who may do what (bot/core/roles.py): every command, button, rule and policy asks here
        self.roles = Roles(settings, store)
        #: per platform, its adapter's reading of a member's message text (mentions as @name)
        self.readers: dict[str, Callable[[str], Awaitable[str]]] = {}
        #: called after playbooks (re)load, e.g. to reschedule jobs
        self.on_reload: list[Callable[[], Awaitable[None] | None]] = []
        #: hooks run for every event before playbooks (e.g. question tracking); they see facts
        self.observers: list[Callable[[Event, dict[str, Any]], Awaitable[None]]] = []
        self.dispatch_times: list[float] | None = None
        self.reports: list[RunReport] | None = None
        #: ids disabled at runtime by a manager (kept across reloads)
        self.disabled: set[str] = set()
        #: the messages handled lately: one delivered again (a platform's retry, a redelivered
        #: envelope) is handled once, so no observer counts it twice (``_again``)
        self._messages_seen: OrderedDict[tuple[str, str, str], None] = OrderedDict()

    async def readable(self, platform: str, text: str) -> str:
        """A member's message text as people read it on the platform (mentions and channels as names,
        links as text and address), for quoting it in a post; as stored when no adapter reads it."""
        read = self.readers.get(platform)
        if read is None or not text:
            return text
        try:
            return await read(text)
        except Exception as e:  # a lookup that failed must not cost the post
            log.warning("could not resolve the names in a %s quote: %s", platform, e)
            return text

    # ------------------------------------------------------------------ loading
    def load(self) -> LoadResult:
        """(Re)load playbooks. Broken ones are reported and left out; the rest run."""
        return self._use(load_dir(self.playbooks_dir, self.check_context))

    def _use(self, result: LoadResult) -> LoadResult:
        self.playbooks = result.playbooks
        self.problems = result.problems
        self._index()
        for p in result.errors:
            log.error("%s", p)
        return result

    async def reload(self) -> LoadResult:
        """Reload playbooks from disk while events go on being handled.

        Reading, validating and sample-rendering run in a worker thread; only the finished result
        is swapped in on the event loop, so a slow or hostile file never stalls it.
        """
        result = self._use(await asyncio.to_thread(load_dir, self.playbooks_dir, self.check_context))
        for fn in self.on_reload:
            r = fn()
            if inspect.isawaitable(r):
                await r
        return result

    def _index(self) -> None:
        self._by_event = defaultdict(list)
        self._triggers = {}
        for pb in self.playbooks.values():
            if pb.spec.trigger.event:
                self._by_event[pb.spec.trigger.event].append(pb)
                self._triggers[pb.id] = self._trigger_entry(pb)

    def active(self, pb: LoadedPlaybook) -> bool:
        return pb.spec.enabled and pb.id not in self.disabled

    def set_enabled(self, playbook_id: str, enabled: bool) -> bool:
        if playbook_id not in self.playbooks:
            return False
        if enabled:
            self.disabled.discard(playbook_id)
            self.playbooks[playbook_id].spec.enabled = True
        else:
            self.disabled.add(playbook_id)
        return True

    def scheduled(self) -> list[LoadedPlaybook]:
        return [pb for pb in self.playbooks.values() if pb.spec.trigger.kind in ("schedule", "interval")]

    # ------------------------------------------------------------------ dispatch
    async def dispatch(self, ev: Event, *, only: frozenset[str] | None = None) -> dict[str, Any]:
        """Store what the event says, then run every matching playbook. Returns the event's facts
        (an adapter reads ``CLICK_ANSWER`` from them to answer a click that was turned down; a
        durable inbox reads ``FAILED``: the playbooks that failed, to try them again). ``only``: a
        retry, which runs just these playbooks (the observers saw the event the first time) and
        carries out what a run that failed part-way left undone (dedupe keys stop doubles)."""
        t0 = time.perf_counter()
        if not await self._first_time(ev):
            return {CLICK_ANSWER: ALREADY_DONE}
        if only is None and isinstance(ev, MessagePosted) and ev.message_id and self._again(ev):
            log.info("message %s in %s was delivered again; handled once", ev.message_id, ev.channel_id)
            return {}
        facts = await self.store.record(ev)
        for obs in self.observers if only is None else ():
            try:
                await obs(ev, facts)
            except Exception:  # one failing feature must not stop the playbooks
                log.exception("observer %s failed on %s", getattr(obs, "__qualname__", obs), ev.name)
        for pb in self._by_event.get(ev.name, ()):
            if not self.active(pb) or ev.platform not in pb.spec.platforms:
                continue
            if only is not None and pb.id not in only:
                continue
            entry = self._triggers.get(pb.id)
            # a retry's playbooks matched the first time (then, a join was first_join; now it is known)
            if only is None and entry is not None and not entry.fn(ev, pb.filters, facts):
                continue
            subject = subject_from_event(ev)
            if subject is None:
                continue
            try:
                await self.run_subject(pb, ev, subject, facts, period=_event_period(ev), resume=only is not None)
            except Exception as e:
                log.exception("playbook %s failed on %s", pb.id, ev.name)
                self.metrics.playbook_error(pb.id)
                facts.setdefault(FAILED, {})[pb.id] = e
        if only is None:  # a retry is the same event, handled once
            self.metrics.handled(ev.platform, ev.name, ev.at, self.clock.now())
        if self.dispatch_times is not None:
            self.dispatch_times.append(time.perf_counter() - t0)
        return facts

    def _again(self, ev: MessagePosted) -> bool:
        """Whether this message was handled lately (among the last ``MESSAGES_SEEN``)."""
        key = (ev.platform, ev.channel_id, ev.message_id)
        seen = self._messages_seen
        if key in seen:
            return True
        seen[key] = None
        if len(seen) > MESSAGES_SEEN:
            seen.popitem(last=False)
        return False

    async def _first_time(self, ev: Event) -> bool:
        """A click the platform delivers again (a retry, a replayed request) carries the same
        platform ID: its key is written once, and only the first delivery acts."""
        click_id = getattr(ev, "click_id", "")
        if not click_id or self.dry_run:
            return True
        key = f"click:{ev.platform}:{click_id}"
        if await self.store.claim_run(run_key=key, playbook_id="command:click", platform=ev.platform,
                                      subject=click_id, period="once", now=self.clock.now()):
            return True
        log.info("%s %s was delivered again; answered, not acted on twice", ev.name, click_id)
        return False

    @staticmethod
    def _trigger_entry(pb: LoadedPlaybook):
        from bot.engine.registry import triggers

        return triggers.get(pb.spec.trigger.event or "")

    async def fire_schedule(self, playbook_id: str, scheduled_for: datetime, platform: str | None = None,
                            *, force: bool = False, preview: Any = None) -> list[RunReport]:
        """One tick of a scheduled playbook: run its scan and act on every subject, per platform."""
        pb = self.playbooks.get(playbook_id)
        if pb is None or (not force and not self.active(pb)):
            return []
        await self.store.flush()
        reports: list[RunReport] = []
        platforms = [platform] if platform else self.platforms_for(pb)
        for plat in platforms:
            ev = ScheduleFired(platform=plat, at=self.clock.now(), playbook_id=pb.id, scheduled_for=scheduled_for)
            facts: dict[str, Any] = {}
            if pb.scan is not None:
                ctx = RunContext(self, pb, ev, Subject(plat, "scan"), facts, self.clock.now())
                t0 = time.perf_counter()
                subjects = await _maybe_await(pb.scan.entry.fn(ctx, pb.scan.params))
                self.metrics.scanned(pb.id, pb.scan.name, time.perf_counter() - t0)
            else:
                subjects = [Subject(plat, "tick", reason="scheduled")]
            for subject in subjects:
                try:
                    rep = await self.run_subject(pb, ev, subject, facts, period=scheduled_for.isoformat(),
                                                 preview=preview)
                except Exception:
                    log.exception("playbook %s failed on a scheduled subject", pb.id)
                    self.metrics.playbook_error(pb.id)
                    continue
                if rep:
                    reports.append(rep)
        return reports

    def platforms_for(self, pb: LoadedPlaybook) -> list[str]:
        enabled = getattr(self.settings, "enabled_platforms", None)
        plats = enabled() if callable(enabled) else list(pb.spec.platforms)
        return [p for p in pb.spec.platforms if p in plats]

    async def run_subject(self, pb: LoadedPlaybook, ev: Event, subject: Subject, facts: dict[str, Any],
                          *, period: str, preview: Any = None, resume: bool = False) -> RunReport | None:
        """Run one subject through conditions, rules, limits and actions. With ``preview`` (an object
        with an async ``submit``), nothing is claimed and actions write only to it."""
        now = self.clock.now()
        ctx = RunContext(self, pb, ev, subject, facts, now, outbox=preview, preview=preview is not None)
        for step in pb.conditions:
            ok = await _maybe_await(step.entry.fn(ctx, step.params))
            if not ok:
                return self._report(RunReport(pb.id, subject, False, f"condition {step.name}"))
        if pb.rules:
            # every rule looks (each may keep state, e.g. a flood window); the run goes on when one found something
            for step in pb.rules:
                hit = await _maybe_await(step.entry.fn(ctx, step.params))
                if hit is not None:
                    ctx.hits.append(hit)
            if not ctx.hits:
                return self._report(RunReport(pb.id, subject, False, "no rule found anything"))
        limits = pb.spec.limits
        if limits.per_subject is not None:
            since = now - parse_duration(limits.per_subject.period)
            if await self.store.runs_since(pb.id, subject.platform, subject.key, since) >= limits.per_subject.count:
                return self._report(RunReport(pb.id, subject, False, "per-subject limit"))
        if limits.per_hour is not None:
            if await self.store.runs_in_window(pb.id, now - timedelta(hours=1)) >= limits.per_hour:
                return self._report(RunReport(pb.id, subject, False, "hourly budget"))
        if limits.once_per_subject:
            period = "once"
        run_key = f"{pb.id}:{subject.platform}:{subject.key}:{period}"
        if preview is None and not await self.store.claim_run(run_key=run_key, playbook_id=pb.id, platform=subject.platform,
                                          subject=subject.key, period=period, now=now):
            # a run whose key was written but whose messages never reached the outbox was cut
            # short (an instance died between the two): carry it out; the actions' dedupe keys
            # still stop anything from being queued twice
            if not resume and await self.store.run_queued_anything(run_key):
                return self._report(RunReport(pb.id, subject, False, "already ran"))
        ctx.run_key = run_key
        ctx.period = period
        done: list[str] = []
        for i, step in enumerate(pb.actions):
            ctx.action_index = i
            await _maybe_await(step.entry.fn(ctx, step.params))
            done.append(step.name)
        return self._report(RunReport(pb.id, subject, True, actions=done))

    def _report(self, rep: RunReport) -> RunReport:
        if self.reports is not None:
            self.reports.append(rep)
        return rep


async def _maybe_await(v):
    if v is True or v is False or v is None:  # most conditions are plain predicates: skip the probe
        return v
    if inspect.isawaitable(v):
        return await v
    return v
