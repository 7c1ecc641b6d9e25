"""The moderation queue: cases, the digest item moderators see, and their decisions.

A case is one incident: a member's rule hits within ``merge_window`` of each other, or every report
of one message, merge into one row of ``moderation_cases`` (``hits`` counts them) and one digest
item in the moderators' channel. ``message_ids`` holds ``channel/message`` references so a flood
across channels can be deleted in one click. ``decision`` accumulates the short codes of what
moderators did (``warn,delete``), ``status`` is the latest outcome; only ``open`` cases keep a member
out of nudges and ambassador suggestions.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.core.clock import as_utc
from bot.core.records import Button, Digest, DigestItem, OutboundMessage, SendResult
from bot.core.roles import NOT_A_MANAGER, NOT_ABOUT_YOURSELF, about_themselves, roles_of
from bot.engine.durations import parse_duration
from bot.storage.models import ModerationCaseRow

log = logging.getLogger("steward.moderation")

T = ModerationCaseRow.__table__

#: button action -> (decision code, resulting status, words for people)
DECISIONS: dict[str, tuple[str, str, str]] = {
    "case_dismiss": ("dismiss", "dismissed", "dismissed as a false positive"),
    "case_warn": ("warn", "warned", "warned by DM"),
    "case_delete": ("delete", "deleted", "message deleted"),
    "case_timeout": ("timeout", "timed_out", "timed out"),
    "case_remove": ("remove", "removed", "removed from the channel"),
    "case_ban": ("ban", "ban_suggested", "ban suggested to the admins"),
}

RULE_TEXT = {
    "flood": "flooding",
    "mass_mention": "mass mention",
    "invite_links": "invite link to another community",
    "new_member_links": "links from a brand-new member",
    "terms": "blocked term",
    "patterns": "matched an admin pattern",
    "report": "reported by a member",
}

#: what ``decide`` answers when the clicker may not decide the case (the adapter tells them privately)
REFUSALS = (NOT_A_MANAGER, NOT_ABOUT_YOURSELF)

#: reports one member may file within the window before further ones open no case
DEFAULT_REPORTS_PER_REPORTER = 5
DEFAULT_REPORT_WINDOW = "10m"

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
        self.engine = store.engine

    async def get(self, case_id: int) -> Case | None:
        async with self.engine.connect() as conn:
            r = (await conn.execute(select(T).where(T.c.id == case_id))).first()
        return _case(r) if r else None

    async def _by_key(self, key: str) -> Case | None:
        async with self.engine.connect() as conn:
            r = (await conn.execute(select(T).where(T.c.incident_key == key))).first()
        return _case(r) if r else None

    async def open_for(self, platform: str, member_id: str) -> list[Case]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(
                select(T).where(T.c.platform == platform, T.c.member_id == member_id, T.c.status == "open")
                .order_by(T.c.updated_at.desc()).limit(20))).all()
        return [_case(r) for r in rows]

    async def has_open(self, platform: str, member_id: str) -> bool:
        async with self.engine.connect() as conn:
            n = (await conn.execute(select(func.count()).select_from(T).where(
                T.c.platform == platform, T.c.member_id == member_id, T.c.status == "open"))).scalar_one()
        return int(n) > 0

    async def open_cases(self, platform: str | None = None, limit: int = 50) -> list[Case]:
        q = select(T).where(T.c.status == "open").order_by(T.c.opened_at.desc()).limit(limit)
        if platform:
            q = q.where(T.c.platform == platform)
        async with self.engine.connect() as conn:
            return [_case(r) for r in (await conn.execute(q)).all()]

    async def all(self, platform: str | None = None) -> list[Case]:
        q = select(T).order_by(T.c.id)
        if platform:
            q = q.where(T.c.platform == platform)
        async with self.engine.connect() as conn:
            return [_case(r) for r in (await conn.execute(q)).all()]

    async def history(self, platform: str, member_id: str, before_id: int, limit: int = 5) -> list[Case]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(
                select(T).where(T.c.platform == platform, T.c.member_id == member_id, T.c.id < before_id)
                .order_by(T.c.id.desc()).limit(limit))).all()
        return [_case(r) for r in rows]

    async def warnings_since(self, platform: str, member_id: str, since: datetime) -> int:
        async with self.engine.connect() as conn:
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
        async with self.engine.connect() as conn:
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
            async with self.engine.begin() as conn:
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
        async with self.engine.begin() as conn:
            await conn.execute(update(T).where(T.c.id == case.id).values(**values))
        got = await self.get(case.id)
        assert got is not None
        return got

    async def set_auto_action(self, case_id: int, text: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(update(T).where(T.c.id == case_id).values(auto_action=text[:50]))

    async def decide(self, case: Case, code: str, status: str, by: str, at: datetime) -> Case:
        decisions = _join([*case.decisions, code], 32)
        async with self.engine.begin() as conn:
            await conn.execute(update(T).where(T.c.id == case.id).values(
                status=status, decision=decisions, decided_by=by, decided_at=at, updated_at=at))
        got = await self.get(case.id)
        assert got is not None
        return got


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
class Moderation:
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
        fn = self.engine.services.get("channel_name")
        name = await fn(platform, channel_id) if fn else channel_id
        return {"id": channel_id, "name": name}

    def _url(self, platform: str, channel_id: str, message_id: str) -> str | None:
        fn = self.engine.services.get("message_url")
        return fn(platform, channel_id, message_id) if fn else None

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
        links = []
        for ch, mid in case.messages()[:5]:
            url = self._url(case.platform, ch, mid)
            if url:
                links.append(url)
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
            "links": links,
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

    # ------------------------------------------------------------------ platform actions
    def _gateway(self, platform: str):
        return self.engine.outbox.gateways.get(platform)

    async def _call(self, platform: str, method: str, *args: Any) -> SendResult:
        if self.engine.dry_run:
            return SendResult(ok=True, error="dry run: nothing was done")
        gw = self._gateway(platform)
        fn = getattr(gw, method, None) if gw is not None else None
        if fn is None:
            return SendResult(ok=False, error=f"the {platform} connection cannot {method.replace('_', ' ')}",
                              permanent=True)
        try:
            return await fn(*args)
        except Exception as e:  # a platform refusal must not lose the decision
            log.warning("%s failed: %s", method, e)
            return SendResult(ok=False, error=f"{type(e).__name__}: {e}")

    async def _auto_delete(self, case: Case, platform: str, channel_id: str, message_id: str,
                           rules: list[str]) -> Case:
        res = await self._call(platform, "delete_message", channel_id, message_id)
        if self.engine.dry_run:
            text = "would delete (dry run)"
        else:
            text = "deleted the message" if res.ok else f"delete failed: {res.error}"
        await self.cases.set_auto_action(case.id, text)
        await self.engine.store.audit(at=self.engine.clock.now(), platform=platform, actor="steward",
                                      action="case:auto_delete", target=f"case:{case.id}",
                                      detail={"member": case.member_id, "rules": rules,
                                              "message": f"{channel_id}/{message_id}", "ok": res.ok,
                                              "error": res.error})
        got = await self.cases.get(case.id)
        return got or case

    # ------------------------------------------------------------------ decisions
    async def decide(self, *, platform: str, case_id: int, action: str, moderator_id: str,
                     reply_channel: str | None = None, roles: tuple[str, ...] = (),
                     platform_admin: bool = False) -> str:
        """Carry out a moderator's button click; returns what happened, in words (one of ``REFUSALS``
        when the clicker may not decide this case: nothing is then done)."""
        now = self.engine.clock.now()
        if action not in DECISIONS:
            return f"unknown action {action}"
        code, status, words = DECISIONS[action]
        case = await self.cases.get(case_id)
        if case is None or case.platform != platform:
            return f"there is no case #{case_id}"
        refusal = None
        if not await roles_of(self.engine).is_moderator(platform, moderator_id, roles=roles,
                                                        platform_admin=platform_admin):
            refusal, why = NOT_A_MANAGER, "not a moderator"
        elif about_themselves(moderator_id, case.member_id):
            refusal, why = NOT_ABOUT_YOURSELF, "about themselves"
        if refusal is not None:
            await self.engine.store.audit(at=now, platform=platform, actor=moderator_id, action="case:refused",
                                          target=f"case:{case.id}", detail={"button": code, "why": why})
            return refusal
        if code in case.decisions or case.status == "dismissed" or (code == "dismiss" and case.status != "open"):
            who = case.decided_by or "someone"
            await self._notice(platform, moderator_id, reply_channel, f"already:{case.id}:{code}:{now.isoformat()}",
                               f"Case #{case.id} was already decided ({case.status.replace('_', ' ')}) by <@{who}>.")
            return "already decided"
        result = await self._carry_out(case, code, moderator_id)
        case = await self.cases.decide(case, code, status, moderator_id, now)
        await self.engine.store.audit(
            at=now, platform=platform, actor=moderator_id, action=f"case:{code}", target=f"case:{case.id}",
            detail={"member": case.member_id, "rule": case.rule, "status": status, "ok": result.ok,
                    "error": result.error, "messages": list(case.message_refs)})
        outcome = words if result.ok else f"{words}: failed ({result.error})"
        await self._post_decision(case, moderator_id, outcome, code)
        return outcome

    async def _carry_out(self, case: Case, code: str, moderator_id: str) -> SendResult:
        p = case.platform
        if code in ("dismiss", "ban"):
            # dismissal is the record itself; bans stay with humans who hold the platform's ban right
            return SendResult(ok=True)
        if code == "warn":
            return await self._warn(case)
        if code == "delete":
            errors = []
            for ch, mid in case.messages():
                res = await self._call(p, "delete_message", ch, mid)
                if not res.ok:
                    errors.append(res.error or "error")
            return SendResult(ok=not errors, error="; ".join(errors) or None)
        if code == "timeout":
            return await self._call(p, "timeout_member", case.member_id, self.timeout_seconds(),
                                    f"moderation case #{case.id}")
        if code == "remove":
            if not case.channel_id:
                return SendResult(ok=False, error="the case has no channel")
            return await self._call(p, "remove_from_channel", case.channel_id, case.member_id)
        return SendResult(ok=False, error="unknown decision")

    async def _warn(self, case: Case) -> SendResult:
        member = await self._member(case.platform, case.member_id)
        view = await self.case_view(case)
        # the member reads the rule and their own words, never who reported them
        view["reporter"] = None
        view["reason"] = "" if case.reporter_id else view["reason"]
        context = {**self._base_context(), "member": member, "case": view}
        locale = (member or {}).get("locale") or self.locale()
        text = self.engine.templates.render("moderation_warn", context, locale)
        msg = OutboundMessage(platform=case.platform, kind="dm", text=text, member_id=case.member_id,
                              dedupe_key=f"moderation:case:{case.id}:warn_dm")
        # a moderator's warning is not outreach: opting out of Steward's messages does not opt out of moderation
        item = await self.engine.outbox.submit(msg, playbook_id="command:moderation", action="warn",
                                               reason=f"case #{case.id}")
        if item is None:
            return SendResult(ok=True)
        if item.status == "failed":
            return SendResult(ok=False, error=item.error or "DM refused")
        return SendResult(ok=True)

    async def _post_decision(self, case: Case, moderator_id: str, outcome: str, code: str) -> None:
        channel = self.moderators_channel(case.platform)
        if not channel:
            return
        context = {**self._base_context(), "case": await self.case_view(case),
                   "decision": {"code": code, "text": outcome},
                   "moderator": await self._member(case.platform, moderator_id)}
        context["member"] = context["case"]["member"]
        text = self.engine.templates.render("case_decision", context, self.locale())
        msg = OutboundMessage(platform=case.platform, kind="channel", text=text, channel_id=channel,
                              mention_ids=(), dedupe_key=f"moderation:case:{case.id}:{code}")
        await self.engine.outbox.submit(msg, playbook_id="moderation", action=f"case_{code}",
                                        reason=f"case #{case.id} decided by {moderator_id}")

    async def _notice(self, platform: str, member_id: str, channel_id: str | None, key: str, text: str) -> None:
        """A private note to one member: ephemeral where it was clicked, else a DM."""
        kind = "ephemeral" if channel_id else "dm"
        msg = OutboundMessage(platform=platform, kind=kind, text=text, member_id=member_id, channel_id=channel_id,
                              mention_ids=(), dedupe_key=f"moderation:notice:{key}")
        await self.engine.outbox.submit(msg, playbook_id="command:moderation", action="notice", reason=text[:100])


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
    svc = engine.services.get("moderation")
    if svc is None:
        svc = Moderation(engine)
        engine.services["moderation"] = svc
    return svc
