"""Attaches questions, lurker nudges and ambassador candidates to a built app: the question tracker
as an engine observer, the outreach delivery policies, digest buttons and ``/steward`` commands; and
what the feature declares (bot/community/__init__.py): backtest findings, a section of ``steward
demo`` and its template variables."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bot.community import ambassadors as amb
from bot.community.lurkers import (
    find_lurkers,
    help_channel_ids,
    nudges_by_dm,
    suggestions_for,
)
from bot.community.questions import QuestionService, channel_names, open_questions, question_view
from bot.core.clock import iso
from bot.core.events import ButtonClicked, CommandInvoked, Event
from bot.core.records import Button, Digest, DigestItem, OutboundMessage
from bot.core.roles import CLICK_ANSWER, NOT_A_MANAGER, NOT_ABOUT_YOURSELF, about_themselves
from bot.delivery.policies import OutreachLimits
from bot.messaging.markdown import escape
from bot.messaging.templates import SAMPLE_NOW

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger("steward.community")


def install(app: App) -> None:
    """Wire the community features into ``app`` (called once per build)."""
    from bot.commands import commands_for

    svc = QuestionService(app.store, app.settings)
    app.services.questions = svc
    app.engine.observers.append(svc.observe)
    app.outbox.policies.append(OutreachLimits(app.store, app.settings, app.engine.roles))
    buttons = DigestButtons(app)
    app.engine.observers.append(buttons.observe)
    cmds = commands_for(app)
    cmds.register("unanswered", _unanswered_cmd)
    cmds.register("lurkers", _lurkers_cmd)
    cmds.register("ambassadors", _ambassadors_cmd)
    cmds.register("nudge", _nudge_cmd)
    cmds.register("stats", _stats_cmd)
    _install_interests(app, cmds)


def _install_interests(app: App, cmds) -> None:
    from bot.community.interests import InterestService
    from bot.community.interests_cmd import interests_cmd

    svc = app.services.interests = InterestService(app)
    app.services.fit_channel = svc.fit_channel
    app.engine.observers.append(svc.observe)
    app.services.member_caches.append(svc)
    cmds.register("interests", interests_cmd)
    from bot.community.intros_cmd import IntroButton, MetReplies, intros_cmd

    cmds.register("intros", intros_cmd)
    app.engine.observers.append(MetReplies(app).observe)
    app.engine.observers.append(IntroButton(app).observe)


# --------------------------------------------------------------------------- findings


async def question_findings(app, platform: str) -> list[dict[str, Any]]:
    """Backtest findings: every question detected, answered or not, with who answered it."""
    from sqlalchemy import select

    from bot.community.questions import QT

    await app.store.flush()
    async with app.store.database.connect() as conn:
        rows = (await conn.execute(select(QT).where(QT.c.platform == platform).order_by(QT.c.asked_at))).all()
    out = []
    for r in rows:
        others = [m for m in (r.answered_by or []) if m != r.author_id]
        out.append({"kind": "question", "channel": r.channel_id, "message": r.message_id, "author": r.author_id,
                    "asked_at": iso(r.asked_at), "status": "answered" if others else "unanswered",
                    "answered_by": others, "first_response_at": iso(r.first_response_at) if others else None,
                    "resolved": r.status == "resolved", "tier": r.tier, "reason": r.reason or ""})
    return out


async def newcomer_findings(app, platform: str) -> list[dict[str, Any]]:
    """Backtest findings: the newcomers of the replay, and whether and when they first spoke."""
    from bot.community.health import newcomers

    return await newcomers(app.store, platform=platform, end=app.clock.now())


def sample_context(base: dict[str, Any]) -> dict[str, Any]:
    """The variables the community playbooks' templates get, with sample values."""
    member, channel = base["member"], base["channel"]
    question = {"id": "1700000000.000100", "channel": channel, "author": member,
                "text": "How do I configure the proxy?", "asked_at": SAMPLE_NOW - timedelta(hours=2),
                "age": "2 h", "url": "https://example.invalid/archives/C0HELP/p1700000000000100",
                "topic": "installing and setting up"}
    return {
        "question": question,
        "questions": [question],
        "helpers": [member],
        "suggestions": [question],
        "suggestion": question,
        "tier": 1,
        "candidate": {"member": member, "score": 12.5, "rank": 1, "evidence_text": "answered 3 questions",
                      "evidence": {"questions_answered": 3}},
        "candidates": [],
        # introductions: the pair, what they share, the one asked "did you meet?" and the answer
        "first": member, "second": {"id": "U0OTHER", "name": "Kim"}, "other": {"id": "U0OTHER", "name": "Kim"},
        "topic": "Python", "answer": "yes",
    }


# --------------------------------------------------------------------------- buttons


class DigestButtons:
    """approve / not_now on ambassador candidates, resolve on questions (``ButtonClicked``)."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def observe(self, ev: Event, facts: dict[str, Any]) -> None:
        if not isinstance(ev, ButtonClicked) or ev.action not in ("approve", "not_now", "resolve"):
            return
        app = self.app
        plat, _, key = ev.value.partition("|")
        if not key or plat != ev.platform:
            return
        now = app.clock.now()
        refusal = None
        if not await app.engine.roles.is_manager(ev.platform, ev.member_id, roles=ev.roles,
                                                 platform_admin=ev.platform_admin):
            refusal, why = NOT_A_MANAGER, "not a manager"
        elif ev.action != "resolve" and about_themselves(ev.member_id, key):
            refusal, why = NOT_ABOUT_YOURSELF, "about themselves"
        if refusal is not None:
            log.info("refused %s from %s: %s", ev.action, ev.member_id, why)
            facts[CLICK_ANSWER] = refusal
            await app.store.audit(at=now, platform=ev.platform, actor=ev.member_id, action="button:refused",
                                  target=key, detail={"button": ev.action, "why": why})
            return
        if ev.action == "resolve":
            channel_id, _, message_id = key.partition("/")
            svc = app.services.questions
            done = await svc.resolve(ev.platform, channel_id, message_id, by=ev.member_id, at=now)
            text = (f"<@{ev.member_id}> marked a question in <#{channel_id}> as resolved." if done
                    else "That question was already answered or resolved.")
        else:
            cfg = amb.ambassador_settings(app.settings)
            decision = "approved" if ev.action == "approve" else "not_now"
            await amb.decide(app.store, ev.platform, key, decision, by=ev.member_id, now=now,
                             snooze_days=cfg.snooze_days)
            if ev.action == "approve":
                await self._approve(ev, key)
                text = f"<@{ev.member_id}> approved <@{key}> as an ambassador; the invitation is on its way."
            else:
                text = (f"<@{ev.member_id}>: <@{key}> won't be suggested again for "
                        f"{int(cfg.snooze_days)} days.")
        await app.store.audit(at=now, platform=ev.platform, actor=ev.member_id, action=f"button:{ev.action}",
                              target=key)
        if ev.channel_id:
            msg = OutboundMessage(platform=ev.platform, kind="channel", text=text, channel_id=ev.channel_id,
                                  dedupe_key=f"button:{ev.platform}:{ev.action}:{key}:"
                                             f"{ev.click_id or ev.at.isoformat()}")
            await app.outbox.submit(msg, playbook_id="command:button", action="post_message", reason=ev.action)

    async def _approve(self, ev: ButtonClicked, member_id: str) -> None:
        app = self.app
        role = (app.settings.slack.ambassador_usergroup if ev.platform == "slack"
                else app.settings.discord.ambassador_role_id if ev.platform == "discord" else None)
        gw = app.outbox.gateways.get(ev.platform)
        if role and gw is not None and hasattr(gw, "grant_role") and not app.outbox.dry_run:
            result = await gw.grant_role(member_id, role)
            if not result.ok:
                log.warning("could not give the ambassador role to %s: %s", member_id, result.error)
        context, locale = await _member_context(app, ev.platform, member_id, actor=ev.member_id)
        text = app.templates.render("ambassador_invite", context, locale)
        if app.templates.exists("stop_hint"):
            text += "\n\n" + app.templates.render("stop_hint", context, locale)
        dm = OutboundMessage(platform=ev.platform, kind="dm", text=text, member_id=member_id,
                             dedupe_key=f"ambassador-invite:{ev.platform}:{member_id}")
        await app.outbox.submit(dm, playbook_id="ambassadors", action="send_dm",
                                reason=f"approved as ambassador by {ev.member_id}", outreach=True)
        if app.services.webhooks is not None and app.services.webhooks.wanted("ambassador.approved"):
            await app.services.webhooks.emit("ambassador.approved", {
                "member": {"platform": ev.platform, "id": member_id}, "approved_by": ev.member_id},
                key=f"{ev.platform}:{member_id}:{iso(ev.at)}", member=member_id)


async def _member_context(app: App, platform: str, member_id: str, *, actor: str | None = None
                          ) -> tuple[dict[str, Any], str]:
    m = await app.store.get_member(platform, member_id)
    prefs = await app.store.preferences(platform, member_id)
    view = {"id": member_id, "name": (m.display_name if m else "") or member_id,
            "locale": prefs.locale or (m.locale if m else None), "timezone": (m.timezone if m else None) or app.settings.default_timezone,
            "joined_at": m.joined_at if m else None}
    actor_view = {"id": actor, "name": actor} if actor else view
    community = {"name": app.settings.community.name, "default_locale": app.settings.community.default_locale}
    ctx = {"community": community, "member": view, "actor": actor_view, "platform": platform,
           "now": app.clock.now(), "vars": {}, "channel": None, "channels": [], "reason": ""}
    return ctx, view["locale"] or community["default_locale"]


# --------------------------------------------------------------------------- commands


def _t1(app: App) -> str:
    pb = app.engine.playbooks.get("unanswered")
    return pb.scan.params.older_than if pb is not None and pb.scan is not None else "30m"


#: what ``/steward stats`` sums up: the last this many days
STATS_DAYS = 30


def _wait(seconds: float | None) -> str:
    if seconds is None:
        return "none yet"
    s = int(seconds)
    if s < 3600:
        return f"{max(1, s // 60)} min"
    if s < 86400:
        return f"{s // 3600} h"
    return f"{s // 86400} d"


async def _stats_cmd(app: App, ev: CommandInvoked):
    """``/steward stats``: the community's health over the last 30 days, as ``steward report`` counts it."""
    from bot.commands import Reply
    from bot.community.health import compute_health

    await app.store.flush()
    now = app.clock.now()
    h = await compute_health(app.store, platform=ev.platform, start=now - timedelta(days=STATS_DAYS), end=now,
                             staff_ids=tuple(app.engine.roles.staff_ids(ev.platform)))
    p = h["participation"]
    rate = f" ({round(100 * h['answered_rate'])}%)" if h["answered_rate"] is not None else ""
    lines = [
        f"**Community health, last {STATS_DAYS} days**",
        f"- members: {h['members']}, of whom {h['active_members']} wrote or reacted",
        f"- messages: {h['messages']}",
        f"- members who started conversations: {p['creators']}; only replied or reacted: {p['contributors']}; "
        f"only read: {p['readers']}",
        f"- questions: {h['questions']}, answered {h['answered']}{rate}, waiting {h['unanswered']}",
        f"- first answer: median {_wait(h['median_time_to_first_response_s'])}, "
        f"9 in 10 within {_wait(h['p90_time_to_first_response_s'])}",
        "For the whole picture: `steward report`.",
    ]
    return Reply("\n".join(lines))


async def _unanswered_cmd(app: App, ev: CommandInvoked):
    from bot.commands import Reply
    from bot.engine.durations import parse_duration

    await app.store.flush()
    now = app.clock.now()
    rows = await open_questions(app.store, ev.platform, older_than=now - parse_duration(_t1(app)),
                                newer_than=now - timedelta(days=7), limit=10)
    if not rows:
        return Reply("No question is waiting for an answer right now.")
    names = await channel_names(app.store, ev.platform, app.settings)
    items = []
    for r in rows:
        v = question_view(ev.platform, r, names, {r.author_id: r.display_name}, now)
        items.append(DigestItem(
            text=f"<@{r.author_id}> in <#{r.channel_id}>, {v['age']} ago: {escape(_short(v['text']))}",
            buttons=(Button("resolve", "Resolved", f"{ev.platform}|{v['key']}"),)))
    return Reply(digest=Digest(title=f"{len(items)} question(s) waiting for an answer", items=tuple(items)))


async def _lurkers_cmd(app: App, ev: CommandInvoked):
    from bot.commands import Reply

    await app.store.flush()
    pb = app.engine.playbooks.get("lurkers")
    p = pb.scan.params if pb is not None and pb.scan is not None else None
    joined, silent = (p.joined_days, p.silent_days) if p else (14, 30)
    rows = await find_lurkers(app.store, ev.platform, now=app.clock.now(), joined_days=joined, silent_days=silent,
                              limit=10, playbook_id=pb.id if pb else None)
    if not rows:
        return Reply("No quiet member is waiting for a nudge.")
    sugg = await suggestions_for(app.store, ev.platform, rows, now=app.clock.now(),
                                 recent_days=p.recent_days if p else 14,
                                 help_ids=help_channel_ids(app.settings, ev.platform))
    lines = [f"**Quiet members** (joined {int(joined)}+ days ago, silent {int(silent)}+ days):"]
    for r in rows:
        s = sugg.get(r.member_id)
        point = f"could help with a question in <#{s['channel']['id']}>" if s else "nothing fitting to point to yet"
        lines.append(f"- <@{r.member_id}>: {point}")
    lines.append("`/steward nudge @member` sends one now (within the usual caps).")
    return Reply("\n".join(lines))


async def _ambassadors_cmd(app: App, ev: CommandInvoked):
    from bot.commands import Reply

    await app.store.flush()
    cfg = amb.ambassador_settings(app.settings)
    w = amb.playbook_weights(app.engine)  # the same weights as the weekly digest
    ranked = await amb.rank_candidates(app.store, ev.platform, now=app.clock.now(), cfg=cfg, weights=w,
                                       staff_check=amb.staff_check(app.engine, ev.platform))
    if not ranked:
        return Reply("No ambassador candidate yet: nobody has answered enough questions from others.")
    names = await channel_names(app.store, ev.platform, app.settings)
    items = tuple(DigestItem(text=f"**{i + 1}.** <@{c.member_id}>: {escape(amb.evidence_text(c, names, w))}",
                             buttons=(Button("approve", "Approve", f"{ev.platform}|{c.member_id}", "primary"),
                                      Button("not_now", "Not now", f"{ev.platform}|{c.member_id}")))
                  for i, c in enumerate(ranked[:5]))
    return Reply(digest=Digest(title="Ambassador candidates", items=items,
                               footer="Approve gives the ambassador role and sends a warm invitation."))


_ID = re.compile(r"<@!?([A-Za-z0-9]+)(?:\|[^>]*)?>|^@?([A-Za-z0-9]+)$")


async def _nudge_cmd(app: App, ev: CommandInvoked):
    from bot.commands import Reply

    m = _ID.search(ev.args[0]) if ev.args else None
    if m is None:
        return Reply("Usage: `/steward nudge @member`")
    member_id = m.group(1) or m.group(2)
    await app.store.flush()
    now = app.clock.now()
    member = await app.store.get_member(ev.platform, member_id)
    if member is None:
        return Reply("I don't know that member.")
    sugg = (await suggestions_for(app.store, ev.platform, [member], now=now, recent_days=14,
                                  help_ids=help_channel_ids(app.settings, ev.platform))).get(member_id)
    if sugg is None:
        return Reply("There's nothing recent and real to point them to, so no nudge: a generic one helps no one.")
    context, locale = await _member_context(app, ev.platform, member_id, actor=ev.member_id)
    context.update(suggestion=sugg, suggestions=[sugg], channel=sugg["channel"])
    by_dm = nudges_by_dm(app.settings, ev.platform)
    text = app.templates.render("lurker_nudge" if by_dm else "lurker_nudge_channel", context, locale)
    key = f"nudge:{ev.platform}:{member_id}:{now.date().isoformat()}"
    if by_dm:
        if app.templates.exists("stop_hint"):
            text += "\n\n" + app.templates.render("stop_hint", context, locale)
        msg = OutboundMessage(platform=ev.platform, kind="dm", text=text, member_id=member_id, dedupe_key=key)
    else:
        msg = OutboundMessage(platform=ev.platform, kind="channel", text=text, channel_id=sugg["channel"]["id"],
                              mention_ids=(member_id,), dedupe_key=key)
    item = await app.outbox.submit(msg, playbook_id="nudge", action="send_nudge",
                                   reason=f"nudge requested by {ev.member_id}", automated=True, outreach=by_dm)
    if item is None:
        return Reply("They were already nudged today.")
    if item.status == "skipped":
        return Reply(f"No nudge: {escape(item.error or 'not allowed')}.")
    if item.status == "pending" and item.error:
        return Reply(f"Queued; it waits: {escape(item.error)}.")
    return Reply(f"Nudged <@{member_id}> about a question in <#{sugg['channel']['id']}>.")


def _short(text: str, n: int = 140) -> str:
    s = " ".join((text or "").split())
    return s if len(s) <= n else s[: n - 1] + "…"


# --------------------------------------------------------------------------- demo


async def demo_section(console, app) -> None:
    """``steward demo``: what the three community playbooks saw at the end of the run."""
    from rich.table import Table
    from sqlalchemy import func, select

    from bot.community.questions import QT

    await app.store.flush()
    plat = "slack"
    async with app.store.database.connect() as conn:
        counts = dict((await conn.execute(select(QT.c.status, func.count()).where(QT.c.platform == plat)
                                          .group_by(QT.c.status))).all())
    console.rule("[bold]Questions, nudges and ambassadors")
    console.print(f"questions detected: {sum(counts.values())} (answered {counts.get('answered', 0)}, "
                  f"resolved {counts.get('resolved', 0)}, still open {counts.get('open', 0)})")
    cfg = amb.ambassador_settings(app.settings)
    w = amb.playbook_weights(app.engine)
    ranked = await amb.rank_candidates(app.store, plat, now=app.clock.now(), cfg=cfg, weights=w,
                                       staff_check=amb.staff_check(app.engine, plat))
    names = await channel_names(app.store, plat, app.settings)
    table = Table(title="Ambassador candidates (top 5)")
    table.add_column("#", justify="right")
    table.add_column("member")
    table.add_column("score", justify="right")
    table.add_column("evidence")
    for i, c in enumerate(ranked[:5]):
        table.add_row(str(i + 1), c.name, f"{c.score:.1f}", amb.evidence_text(c, names, w))
    console.print(table)
