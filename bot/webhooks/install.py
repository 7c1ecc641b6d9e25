"""Attaches webhooks to a built app: the gateway the delivery worker sends webhook rows through,
the queue the features emit events into (``app.services.webhooks``), the observer that turns a
newcomer's join, a member's first message and level (bot/webhooks/levels.py) and the questions the
tracker decided into events; the ``steward check`` rule for ``[features.webhooks]``; and
``/steward failures``, where managers see what was given up on (webhooks among the rest)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from bot.core.clock import iso
from bot.core.errors import ConfigError, Problem
from bot.core.events import Event, MemberJoined, MessagePosted, ReactionAdded
from bot.webhooks.gateway import PLATFORM, WebhookGateway
from bot.webhooks.levels import Levels
from bot.webhooks.options import WebhookOptions, webhook_options
from bot.webhooks.queue import WebhookQueue

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger("steward.webhooks")


def _section_line(settings: Any) -> tuple[str, int]:
    where = getattr(settings, "source", None) or "config"
    try:
        for i, line in enumerate(Path(where).read_text(encoding="utf-8").splitlines(), 1):
            if line.strip().startswith("[features.webhooks"):
                return where, i
    except OSError:
        pass
    return where, 1


def _problems(settings: Any, e: ValidationError) -> list[Problem]:
    where, line = _section_line(settings)
    return [Problem(where, line, "-", f"[features.webhooks] {'.'.join(str(x) for x in err['loc'])}: {err['msg']}")
            for err in e.errors()]


def check_webhooks(settings: Any, playbooks: Any = None) -> list[Problem]:
    """``steward check``: the ``[features.webhooks]`` section, and each endpoint's secret is set."""
    try:
        opts = webhook_options(settings)
    except ValidationError as e:
        return _problems(settings, e)
    where, line = _section_line(settings)
    return [Problem(where, line, "-", f"[features.webhooks] endpoints.{name}: the environment variable "
                                      f"{ep.secret_env} (its signing secret) is not set", severity="warning")
            for name, ep in opts.endpoints.items() if not settings.secret(ep.secret_env)]


def options_or_error(settings: Any) -> WebhookOptions:
    try:
        return webhook_options(settings)
    except ValidationError as e:
        raise ConfigError("\n".join(str(p) for p in _problems(settings, e))) from None


def install(app: App) -> None:
    opts = options_or_error(app.settings)
    queue = WebhookQueue(app.store, opts, app.clock, community=app.settings.community_name,
                         dry_run=app.outbox.dry_run, wake=app.outbox.wake)
    app.services.webhooks = queue
    from bot.commands import commands_for

    commands_for(app).register("failures", _failures_cmd)
    if not opts.endpoints:
        return
    app.outbox.gateways[PLATFORM] = WebhookGateway(opts, app.clock, app.settings.secret)
    questions = app.services.questions
    levels = Levels(app.store, queue, questions.tracker if questions is not None else None)
    if questions is not None and (queue.wanted("question.unanswered") or queue.wanted("question.resolved")):
        questions.decided = []

    async def observe(ev: Event, facts: dict[str, Any]) -> None:
        if isinstance(ev, MemberJoined) and facts.get("first_join") and not ev.is_bot \
                and queue.wanted("member.joined"):
            await queue.emit("member.joined", {
                "member": member_ref(ev.platform, ev.member_id, ev.display_name),
                "joined_at": iso(ev.at)},
                key=f"{ev.platform}:{ev.member_id}", member=ev.member_id)
        elif isinstance(ev, (MessagePosted, ReactionAdded)) and levels.wanted():
            await levels.observe(ev)
        if questions is not None and questions.decided:
            for what, ch in await questions.take_decided():
                await _question_event(app, queue, what, ch)

    app.engine.observers.append(observe)


def member_ref(platform: str, member_id: str, name: str | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"platform": platform, "id": member_id}
    if name:
        ref["display_name"] = name
    return ref


async def _question_event(app: App, queue: WebhookQueue, what: str, ch: Any) -> None:
    """``question.unanswered`` / ``question.resolved`` from a question the tracker (or a manager) decided
    (a question already resolved or answered never comes here as unanswered: ``take_decided``)."""
    q = ch.question
    ref = {"platform": q.platform, "channel_id": q.channel_id, "message_id": q.message_id,
           "author_id": q.author_id, "asked_at": iso(q.asked_at), "text": q.text or None}
    key = f"{q.platform}:{q.channel_id}:{q.message_id}"
    if what == "unanswered" and queue.wanted("question.unanswered"):
        await queue.emit("question.unanswered", {"question": ref, "reason": (ch.evidence or q.evidence) or None},
                         key=key, member=q.author_id)
    elif what == "resolved" and queue.wanted("question.resolved"):
        await queue.emit("question.resolved", {"question": ref, "resolved_by": ch.by}, key=key, member=q.author_id)


async def _failures_cmd(app: App, ev: Any):
    """``/steward failures`` (managers): what ``steward failures`` prints, the newest ten."""
    from bot.commands import Reply
    from bot.messaging.markdown import escape
    from bot.storage.cli import failure_report

    lines = await failure_report(app.store, limit=10)
    if not lines:
        return Reply("Nothing has failed for good.")
    return Reply("What Steward gave up on, newest first (`steward failures` lists more):\n"
                 + "\n".join(f"- {escape(line)}" for line in lines))
