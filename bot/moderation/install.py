"""Moderation wiring: the queue service, `/steward flags` and `/steward report`, and the observer
that turns button clicks and member reports into decisions and cases."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from bot.commands import Reply, commands_for
from bot.core.events import ButtonClicked, CommandInvoked, Event, MessageReported
from bot.core.records import OutboundMessage
from bot.core.roles import CLICK_ANSWER, NOT_A_MANAGER, roles_of
from bot.messaging.markdown import escape
from bot.messaging.templates import SAMPLE_NOW
from bot.moderation.queue import DECISIONS, REFUSALS, RULE_TEXT, Moderation, service
from bot.moderation.raids import RAID_GREET, RAID_QUIET
from bot.outreach import greetings
from bot.storage.models import AuditRow, MessageRow

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger("steward.moderation")

MSG = MessageRow.__table__
AUDIT = AuditRow.__table__

_SLACK_LINK = re.compile(r"/archives/(?P<ch>[A-Z0-9]+)/p(?P<s>\d{10})(?P<us>\d{6})")
_DISCORD_LINK = re.compile(r"/channels/(?:\d+|@me)/(?P<ch>\d+)/(?P<msg>\d+)")


def install(app: App) -> None:
    """Attach the moderation queue to an app."""
    svc = service(app.engine)
    cmds = commands_for(app)
    cmds.register("flags", _flags)
    cmds.register("report", _report)

    async def observe(ev: Event, facts: dict[str, Any]) -> None:
        try:
            if isinstance(ev, ButtonClicked) and ev.action in DECISIONS:
                await _clicked(svc, ev, facts)
            elif isinstance(ev, ButtonClicked) and ev.action in (RAID_GREET, RAID_QUIET):
                await _raid_clicked(app, ev, facts)
            elif isinstance(ev, MessageReported):
                # the adapter that took the report thanks the reporter privately, at once
                await handle_report(svc, ev)
        except Exception:  # one bad click or report must not stop the event's playbooks
            log.exception("moderation could not handle %s", ev.name)

    app.engine.observers.append(observe)


def sample_context(base: dict[str, Any]) -> dict[str, Any]:
    """The variables the moderation templates get (a case, a decision, a raid), with sample values."""
    member, channel = base["member"], base["channel"]
    return {
        "case": {"id": 1, "member": member, "rule": "flood", "reason": "7 messages in 10 s", "excerpt": "spam",
                 "channel": channel, "reporter": None, "hits": 1, "history": [],
                 "rule_text": "flooding", "warnings": 3, "status": "open",
                 "suggestion": "3 warnings in 30 days: consider a timeout", "auto_action": "deleted the message"},
        "decision": {"code": "warn", "text": "warned by DM"},
        "moderator": member,
        "raid": {"count": 12, "window": "60s", "first_at": SAMPLE_NOW, "members": [member]},
        "cases": [],
    }


async def _clicked(svc: Moderation, ev: ButtonClicked, facts: dict[str, Any]) -> None:
    if not ev.value.strip().isdigit():
        return
    outcome = await svc.decide(platform=ev.platform, case_id=int(ev.value), action=ev.action,
                               moderator_id=ev.member_id, reply_channel=ev.channel_id, roles=ev.roles,
                               platform_admin=ev.platform_admin)
    if outcome in REFUSALS:
        facts[CLICK_ANSWER] = outcome


async def _raid_clicked(app: App, ev: ButtonClicked, facts: dict[str, Any]) -> None:
    """*Greet them* / *Don't greet* on a raid alert: the greetings held while it was open go out as
    one post, or are dropped. Moderators only; the decision is audited and announced."""
    if ev.value != ev.platform:
        return
    now = app.clock.now()
    if not await roles_of(app.engine).is_moderator(ev.platform, ev.member_id, roles=ev.roles,
                                                   platform_admin=ev.platform_admin):
        facts[CLICK_ANSWER] = NOT_A_MANAGER
        await app.store.audit(at=now, platform=ev.platform, actor=ev.member_id, action="button:refused",
                              target="raid", detail={"button": ev.action, "why": "not a manager"})
        return
    newcomers = await greetings.held_count(app.store, ev.platform)
    if ev.action == RAID_GREET:
        rows = await greetings.release(app.engine, ev.platform, now)
        done = f"chose to greet the {newcomers} newcomer(s) held during the raid alert"
    else:
        rows = await greetings.drop(app.engine, ev.platform, now)
        done = f"chose not to greet the {newcomers} newcomer(s) held during the raid alert"
    await app.store.audit(at=now, platform=ev.platform, actor=ev.member_id, action=f"button:{ev.action}",
                          target="raid", detail={"greetings": rows, "newcomers": newcomers})
    text = f"<@{ev.member_id}> {done}." if rows else "No greeting was on hold any more: nothing changed."
    if ev.channel_id:
        msg = OutboundMessage(platform=ev.platform, kind="channel", text=text, channel_id=ev.channel_id,
                              dedupe_key=f"button:{ev.platform}:{ev.action}:raid:{ev.at.isoformat()}")
        await app.outbox.submit(msg, playbook_id="command:button", action="post_message", reason=ev.action)


async def find_message(store, platform: str, message_id: str, channel_id: str | None = None) -> dict | None:
    """A stored message by its native ID (and channel when known): channel, author and text."""
    await store.flush()
    q = select(MSG.c.channel_id, MSG.c.author_id, MSG.c.text).where(MSG.c.platform == platform,
                                                                     MSG.c.message_id == message_id)
    if channel_id:
        q = q.where(MSG.c.channel_id == channel_id)
    async with store.database.connect() as conn:
        r = (await conn.execute(q.limit(1))).first()
    return {"channel_id": r.channel_id, "author_id": r.author_id, "text": r.text or ""} if r else None


async def handle_report(svc: Moderation, ev: MessageReported):
    """Open (or add to) the case about the reported message, and audit who reported it. A member
    past ``reports_per_reporter`` within ``report_window`` opens no case: the report is kept in the
    audit log, and the moderators get one line saying so (None is returned)."""
    store = svc.engine.store
    async with svc.reporter_lock(ev.platform, ev.reporter_id):
        now = svc.engine.clock.now()
        limit, window = svc.report_limit()
        recent = await _reports_since(store, ev.platform, ev.reporter_id, now - window)
        ref = f"{ev.channel_id}/{ev.message_id}"
        if recent >= limit:
            await store.audit(at=now, platform=ev.platform, actor=ev.reporter_id, action="case:report_limited",
                              target=ref[:200], detail={"message": ref, "reason": ev.reason[:500]})
            if recent == limit:  # the first one over: the moderators hear of it once per burst
                await _tell_moderators_of_limit(svc, ev, limit, window, now)
            log.info("report from %s not opened as a case: %d reports within %s", ev.reporter_id, recent + 1,
                     window)
            return None
        author, text = ev.author_id, ev.text
        if not author or not text:
            found = await find_message(store, ev.platform, ev.message_id, ev.channel_id or None)
            if found:
                author = author or found["author_id"]
                text = text or found["text"]
        case = await svc.open_from_report(platform=ev.platform, reporter_id=ev.reporter_id,
                                          channel_id=ev.channel_id, message_id=ev.message_id,
                                          author_id=author or "unknown", text=text or "", reason=ev.reason, at=ev.at)
        await store.audit(at=now, platform=ev.platform, actor=ev.reporter_id, action="case:report",
                          target=f"case:{case.id}", detail={"message": ref, "member": author})
        return case


_REPORT_ACTIONS = ("case:report", "case:report_limited")


async def _reports_since(store, platform: str, reporter_id: str, since) -> int:
    """Reports this member filed since ``since`` (opened or held back), from the audit log."""
    from sqlalchemy import func

    async with store.database.connect() as conn:
        n = (await conn.execute(select(func.count()).select_from(AUDIT).where(
            AUDIT.c.at >= since, AUDIT.c.platform == platform, AUDIT.c.actor == reporter_id,
            AUDIT.c.action.in_(_REPORT_ACTIONS)))).scalar_one()
    return int(n)


async def _tell_moderators_of_limit(svc: Moderation, ev: MessageReported, limit: int, window: timedelta,
                                    now) -> None:
    channel = svc.moderators_channel(ev.platform)
    if not channel:
        return
    who = await svc._member(ev.platform, ev.reporter_id) or {}
    name = who.get("name") or ev.reporter_id
    label = escape(ev.reporter_id) if name == ev.reporter_id else f"**{escape(name)}** ({escape(ev.reporter_id)})"
    text = (f"{label} has filed more than {limit} reports within {_age(window)}. "
            f"Their further reports in that time open no case; each is kept in the audit log "
            f"(case:report_limited).")
    msg = OutboundMessage(platform=ev.platform, kind="channel", text=text, channel_id=channel, mention_ids=(),
                          dedupe_key=f"moderation:report-limit:{ev.platform}:{ev.reporter_id}:{now.isoformat()}")
    await svc.engine.outbox.submit(msg, playbook_id="moderation", action="report_limited",
                                   reason=f"report limit reached by {ev.reporter_id}")


def parse_message_ref(arg: str) -> tuple[str | None, str] | None:
    """A Slack or Discord message link, or a bare message ID → (channel or None, message)."""
    s = arg.strip().strip("<>").split("|", 1)[0]
    m = _SLACK_LINK.search(s)
    if m:
        return m.group("ch"), f"{m.group('s')}.{m.group('us')}"
    m = _DISCORD_LINK.search(s)
    if m:
        return m.group("ch"), m.group("msg")
    if re.fullmatch(r"\d{10}\.\d{6}|\d{15,21}", s):
        return None, s
    return None


REPORT_USAGE = ("Usage: `/steward report <message link or ID> <reason>`. Easier: use the message's menu, "
                "*Report to moderators*.")


async def _report(app: App, ev: CommandInvoked) -> Reply:
    if not ev.args:
        return Reply(REPORT_USAGE)
    ref = parse_message_ref(ev.args[0])
    if ref is None:
        return Reply(f"I can't read `{escape(ev.args[0][:100])}` as a message link or ID. " + REPORT_USAGE)
    reason = " ".join(ev.args[1:]).strip()
    if not reason:
        return Reply("Please add a reason after the link, so the moderators know what to look at.")
    channel, message_id = ref
    found = await find_message(app.store, ev.platform, message_id, channel)
    if found is None:
        return Reply("I can't find that message (it may be older than what I keep). Use the message's menu, "
                     "*Report to moderators*, instead.")
    svc = service(app.engine)
    report = MessageReported(ev.platform, ev.at, reporter_id=ev.member_id, channel_id=found["channel_id"],
                             message_id=message_id, author_id=found["author_id"], text=found["text"],
                             reason=reason[:500])
    case = await handle_report(svc, report)
    if case is None:
        limit, window = svc.report_limit()
        return Reply(f"You have sent {limit} reports in the last {_age(window)}, the most one member can send "
                     "in that time. This one is kept for the moderators but opens no new case; if something "
                     "urgent is going on, please contact a moderator directly.")
    member = await svc._member(ev.platform, ev.member_id)
    context = {**svc._base_context(), "member": member, "case": {"id": case.id}}
    locale = (member or {}).get("locale") or svc.locale()
    return Reply(app.templates.render("report_thanks", context, locale))


async def _flags(app: App, ev: CommandInvoked) -> Reply:
    svc = service(app.engine)
    cases = await svc.cases.open_cases(ev.platform, limit=21)
    now = app.clock.now()
    if not cases:
        lines = ["No open moderation cases."]
    else:
        lines = [f"**Open moderation cases** ({len(cases) if len(cases) <= 20 else 'over 20'})"]
        for c in cases[:20]:
            rules = ", ".join(RULE_TEXT.get(r, r) for r in c.rules)
            where = f" in <#{c.channel_id}>" if c.channel_id else ""
            hits = f", {c.hits} hits" if c.hits > 1 else ""
            age = _age(now - c.opened_at)
            line = f"- **#{c.id}** {escape(rules)}: <@{c.member_id}>{where}{hits}, {age} ago: {escape(c.reason[:120])}"
            if c.auto_action:
                line += f" ({escape(c.auto_action)})"
            lines.append(line)
    fps = await svc.cases.dismissed_by_rule(now - timedelta(days=30), ev.platform)
    if fps:
        lines.append("")
        lines.append("Dismissed as false positives in the last 30 days: "
                     + ", ".join(f"{escape(r)} {n}" for r, n in sorted(fps.items(), key=lambda x: -x[1])))
    return Reply("\n".join(lines))


def _age(d: timedelta) -> str:
    s = int(d.total_seconds())
    if s < 3600:
        return f"{max(1, s // 60)} min"
    if s < 86400:
        return f"{s // 3600} h"
    return f"{s // 86400} d"
