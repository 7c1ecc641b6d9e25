"""The moderation queue: opening cases from rule hits and reports, and the digest item moderators
see in their channel. The case itself is ``cases.py``; what a decision does is ``decisions.py``."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.core.records import Button, Digest, DigestItem, OutboundMessage
from bot.engine.durations import parse_duration
from bot.moderation.cases import EXCERPT, Case, Cases
from bot.moderation.decisions import DECISIONS, REFUSALS, Decisions

log = logging.getLogger("steward.moderation")

__all__ = ["DECISIONS", "REFUSALS", "RULE_TEXT", "Case", "Cases", "Escalation", "Hit", "Moderation",
           "check_settings", "service"]

RULE_TEXT = {
    "flood": "flooding",
    "mass_mention": "mass mention",
    "invite_links": "invite link to another community",
    "new_member_links": "links from a brand-new member",
    "terms": "blocked term",
    "patterns": "matched an admin pattern",
    "report": "reported by a member",
}

#: reports one member may file within the window before further ones open no case
DEFAULT_REPORTS_PER_REPORTER = 5
DEFAULT_REPORT_WINDOW = "10m"


@dataclass(frozen=True)
class Hit:
    """One rule's finding on one message."""

    rule: str
    reason: str
    auto_delete: bool = False


@dataclass(frozen=True)
class Escalation:
    warnings: int
    within: timedelta
    suggest: str  # timeout | ban


DEFAULT_ESCALATION = (Escalation(3, timedelta(days=30), "timeout"), Escalation(5, timedelta(days=90), "ban"))


@dataclass
class Moderation(Decisions):
    """The queue's behaviour: opening cases, posting them, carrying out decisions."""

    engine: Any
    cases: Cases = field(init=False)
    #: one incident at a time per member: platforms deliver a burst's events concurrently
    _locks: dict[tuple[str, str], asyncio.Lock] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.cases = Cases(self.engine.store)

    def _lock(self, platform: str, member_id: str) -> asyncio.Lock:
        if len(self._locks) > 10_000:
            for k in [k for k, lk in self._locks.items() if not lk.locked()]:
                del self._locks[k]
        return self._locks.setdefault((platform, member_id), asyncio.Lock())

    # ------------------------------------------------------------------ settings
    @property
    def settings(self) -> Any:
        return self.engine.settings

    def _conf(self) -> dict[str, Any]:
        feats = getattr(self.settings, "features", None) or {}
        return dict(feats.get("moderation") or {})

    def timeout_seconds(self) -> int:
        try:
            return int(parse_duration(self._conf().get("timeout", "1h")).total_seconds())
        except ValueError:  # `steward check` reports it; a click must still do something sensible
            return 3600

    def report_limit(self) -> tuple[int, timedelta]:
        """How many reports one member may file within how long (``[features.moderation]``
        ``reports_per_reporter`` and ``report_window``; 5 per 10 minutes unless set)."""
        conf = self._conf()
        try:
            window = parse_duration(conf.get("report_window", DEFAULT_REPORT_WINDOW))
        except ValueError:  # `steward check` reports it
            window = parse_duration(DEFAULT_REPORT_WINDOW)
        n = conf.get("reports_per_reporter", DEFAULT_REPORTS_PER_REPORTER)
        return (n if isinstance(n, int) and n >= 1 else DEFAULT_REPORTS_PER_REPORTER), window

    def reporter_lock(self, platform: str, reporter_id: str) -> asyncio.Lock:
        """One report at a time per reporter, so the count of their recent reports is exact."""
        return self._lock(platform, f"reporter:{reporter_id}")

    def moderators_channel(self, platform: str) -> str | None:
        resolve = getattr(self.settings, "channel_id", None)
        return resolve("moderators", platform) if callable(resolve) else None

    def locale(self) -> str:
        return getattr(self.settings, "default_locale", "en")

    # ------------------------------------------------------------------ views for templates
    async def _member(self, platform: str, member_id: str | None) -> dict[str, Any] | None:
        if not member_id:
            return None
        m = await self.engine.store.get_member(platform, member_id)
        prefs = await self.engine.store.preferences(platform, member_id)
        return {"id": member_id, "name": (m.display_name if m else "") or member_id,
                "locale": prefs.locale or (m.locale if m else None), "timezone": (m.timezone if m else None) or "UTC",
                "joined_at": m.joined_at if m else None}

    async def _channel(self, platform: str, channel_id: str | None) -> dict[str, Any] | None:
        if not channel_id:
            return None
        return {"id": channel_id, "name": await self.engine.services.channel_display(platform, channel_id)}

    async def case_view(self, case: Case, escalation: tuple[Escalation, ...] = DEFAULT_ESCALATION,
                        now: datetime | None = None) -> dict[str, Any]:
        """Everything a template may say about a case."""
        now = now or self.engine.clock.now()
        history = await self.cases.history(case.platform, case.member_id, case.id)
        suggestion = ""
        warnings = 0
        for esc in sorted(escalation, key=lambda e: e.warnings, reverse=True):
            n = await self.cases.warnings_since(case.platform, case.member_id, now - esc.within)
            warnings = max(warnings, n)
            if n >= esc.warnings:
                suggestion = (f"{n} warnings in {esc.within.days} days: consider a "
                              f"{'timeout' if esc.suggest == 'timeout' else 'ban'}")
                break
        return {
            "id": case.id,
            "member": await self._member(case.platform, case.member_id),
            "rule": case.rule,
            "rule_text": ", ".join(RULE_TEXT.get(r, r) for r in case.rules),
            "reason": case.reason,
            # the member's words as people saw them: mentions as @name, not as markup or IDs
            "excerpt": await self.engine.readable(case.platform, case.excerpt),
            "channel": await self._channel(case.platform, case.channel_id),
            "reporter": await self._member(case.platform, case.reporter_id),
            "hits": case.hits,
            "history": [{"id": h.id, "rule": h.rule, "status": h.status, "opened_at": h.opened_at} for h in history],
            "warnings": warnings,
            "suggestion": suggestion,
            "auto_action": case.auto_action or "",
            "status": case.status,
        }

    def _base_context(self) -> dict[str, Any]:
        return {"community": {"name": getattr(self.settings, "community_name", "our community"),
                              "default_locale": self.locale()},
                "now": self.engine.clock.now(), "vars": {}}

    # ------------------------------------------------------------------ opening
    async def open_from_hits(self, *, platform: str, member_id: str, **kw: Any) -> Case:
        """Open a case for a message's rule hits, or merge them into the member's current incident."""
        async with self._lock(platform, member_id):
            return await self._open_from_hits(platform=platform, member_id=member_id, **kw)

    async def _open_from_hits(self, *, platform: str, member_id: str, channel_id: str, message_id: str, text: str,
                              hits: list[Hit], at: datetime, merge_window: timedelta, template: str,
                              escalation: tuple[Escalation, ...], playbook_id: str) -> Case:
        ref = f"{channel_id}/{message_id}"
        found = [(h.rule, h.reason) for h in hits]
        current = None
        for c in await self.cases.open_for(platform, member_id):
            if c.updated_at >= at - merge_window and not c.reporter_id:
                current = c
                break
        if current is not None:
            case = await self.cases.merge(current, found=found, ref=ref, now=at)
            new = False
        else:
            case, new = await self.cases.add(platform=platform, member_id=member_id,
                                             key=f"{platform}:{member_id}:{ref}:{hits[0].rule}", found=found,
                                             channel_id=channel_id, ref=ref,
                                             excerpt=" ".join(text[:EXCERPT * 2].split()), now=at)
        if any(h.auto_delete for h in hits):
            case = await self._auto_delete(case, platform, channel_id, message_id,
                                           [h.rule for h in hits if h.auto_delete])
        if new:
            await self.post_case(case, template=template, escalation=escalation, playbook_id=playbook_id)
        return case

    async def open_from_report(self, *, platform: str, author_id: str, **kw: Any) -> Case:
        """A member's report: merged into an open case about the same message, else a case of its own."""
        async with self._lock(platform, author_id):
            return await self._open_from_report(platform=platform, author_id=author_id, **kw)

    async def _open_from_report(self, *, platform: str, reporter_id: str, channel_id: str, message_id: str,
                                author_id: str, text: str, reason: str, at: datetime) -> Case:
        ref = f"{channel_id}/{message_id}"
        why = f"reported: {reason.strip()}" if reason.strip() else "reported without a reason"
        for c in await self.cases.open_for(platform, author_id):
            if ref in c.message_refs:
                return await self.cases.merge(c, found=[("report", why)], ref=ref, now=at,
                                              reporter_id=reporter_id)
        case, new = await self.cases.add(platform=platform, member_id=author_id, key=f"{platform}:report:{ref}",
                                         found=[("report", why)], channel_id=channel_id, ref=ref,
                                         excerpt=" ".join(text[:EXCERPT * 2].split()), now=at,
                                         reporter_id=reporter_id)
        if new:
            await self.post_case(case, template="case_digest", escalation=DEFAULT_ESCALATION, playbook_id="moderation")
        return case

    def buttons(self, case: Case) -> tuple[Button, ...]:
        v = str(case.id)
        out = [Button("case_dismiss", "Dismiss", v), Button("case_warn", "Warn", v)]
        if case.message_refs:
            out.append(Button("case_delete", "Delete message", v, "danger"))
        gw = self._gateway(case.platform)
        if case.platform == "discord" or (gw is not None and hasattr(gw, "timeout_member")
                                          and not hasattr(gw, "remove_from_channel")):
            out.append(Button("case_timeout", "Timeout", v, "danger"))
        elif case.channel_id:
            out.append(Button("case_remove", "Remove from channel", v, "danger"))
        out.append(Button("case_ban", "Suggest ban", v, "danger"))
        return tuple(out)

    async def post_case(self, case: Case, *, template: str, escalation: tuple[Escalation, ...],
                        playbook_id: str) -> None:
        """One digest item in the moderators' channel, with the decision buttons."""
        channel = self.moderators_channel(case.platform)
        if not channel:
            log.warning("case %s opened but no moderators channel is configured for %s", case.id, case.platform)
            return
        context = {**self._base_context(), "case": await self.case_view(case, escalation)}
        context["member"] = context["case"]["member"]
        text = self.engine.templates.render(template, context, self.locale())
        digest = Digest(title=f"Moderation case #{case.id}", items=(DigestItem(text, self.buttons(case)),))
        msg = OutboundMessage(platform=case.platform, kind="channel", text=text, channel_id=channel, digest=digest,
                              mention_ids=(), dedupe_key=f"moderation:case:{case.id}")
        await self.engine.outbox.submit(msg, playbook_id=playbook_id, action="open_case",
                                        reason=f"case #{case.id}: {case.rule}")


def check_settings(settings: Any, playbooks: Any = None) -> list:
    """``steward check``: the ``[features.moderation]`` section of the config."""
    from bot.core.errors import Problem

    conf = (getattr(settings, "features", None) or {}).get("moderation") or {}
    out = []
    known = ("timeout", "reports_per_reporter", "report_window")
    unknown = sorted(set(conf) - set(known))
    where = getattr(settings, "source", None) or "config"
    if unknown:
        out.append(Problem(where, 1, "-", f"[features.moderation]: unknown key(s) {', '.join(unknown)} "
                                          f"(known: {', '.join(known)})"))
    for key, default in (("timeout", "1h"), ("report_window", DEFAULT_REPORT_WINDOW)):
        try:
            if parse_duration(conf.get(key, default)).total_seconds() <= 0:
                raise ValueError("must be positive")
        except ValueError as e:
            out.append(Problem(where, 1, "-", f"[features.moderation] {key}: {e}"))
    n = conf.get("reports_per_reporter", DEFAULT_REPORTS_PER_REPORTER)
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        out.append(Problem(where, 1, "-", "[features.moderation] reports_per_reporter: must be a whole number, 1 or more"))
    return out


def service(engine: Any) -> Moderation:
    """The engine's moderation service (created on first use so conditions work without install)."""
    svc = engine.services.moderation
    if svc is None:
        svc = engine.services.moderation = Moderation(engine)
    return svc
