"""Bolt listeners: each acknowledges at once, translates, and hands over to the core.

Events: translate → enrich → ``engine.dispatch``. ``/steward``: ack within Slack's 3 seconds,
then ``commands_for(app).handle`` and the reply, ephemeral, through ``response_url``. Digest
buttons come back as ``ButtonClicked`` and the "Report to moderators" message shortcut as
``MessageReported``, both dispatched to the engine.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.adapters.slack.blocks import slack_message
from bot.adapters.slack.translate import (
    ACTION_PREFIX,
    TABLE,
    button_event,
    command_event,
    report_event,
    translate,
)
from bot.commands import Reply, commands_for
from bot.core.events import Event
from bot.core.roles import CLICK_ANSWER
from bot.messaging.markdown import escape

if TYPE_CHECKING:
    from bot.adapters.slack.runtime import SlackAdapter

log = logging.getLogger("steward.slack")

COMMAND = "/steward"
REPORT_CALLBACK = "report_message"
THANKS_FOR_REPORT = ("Thank you for reporting this message. The moderators will take a look; "
                     "the author is not told who reported it.")
COMMAND_FAILED = "Sorry, that didn't work: something went wrong on my side. The admins can see the details in the log."


def reply_payload(reply: Reply) -> dict[str, Any]:
    """A core ``Reply`` as a ``response_url`` message (mrkdwn, or Block Kit for a digest)."""
    out: dict[str, Any] = {"response_type": "ephemeral" if reply.ephemeral else "in_channel",
                           "replace_original": False}
    text, blocks = slack_message(reply.text, reply.digest)
    out["text"] = text or " "
    if blocks is not None:
        out["blocks"] = blocks
    return out


def _kind(body: Any) -> str:
    """What a request is, for a log line: ``event team_join``, ``slash command``, ``block_actions``."""
    if not isinstance(body, dict):
        return "request"
    if body.get("type") == "event_callback":
        return f"event {(body.get('event') or {}).get('type', '?')}"
    if body.get("command"):
        return "slash command"
    return str(body.get("type") or "request")[:40]


def register(bolt: AsyncApp, adapter: SlackAdapter) -> None:
    """Attach Steward's listeners to a Bolt app."""
    app = adapter.app

    @bolt.middleware
    async def only_our_workspace(req: AsyncBoltRequest, resp: BoltResponse, next) -> BoltResponse | None:
        # runs after Bolt's signature check: a signed request from another install of the app is
        # acknowledged (so Slack does not resend it) and goes no further
        if adapter.boundary.allows(req.context.team_id, _kind(req.body)):
            return await next()
        return BoltResponse(status=200, body="")

    async def dispatch(ev: Event) -> dict[str, Any]:
        try:
            return await app.engine.dispatch(ev) or {}
        except Exception:
            log.exception("dispatching %s failed", ev.name)
            return {}

    async def on_event(event: dict[str, Any]) -> None:
        received = app.clock.now()
        # until the member list has been read once, an old member's channel join looks new
        await adapter.members_ready()
        ev = translate(event, adapter.me, received_at=received)
        if ev is not None:
            await dispatch(await adapter.directory.enrich(ev))

    for etype in sorted({t for t, _ in TABLE}):
        bolt.event(etype)(on_event)

    @bolt.command(COMMAND)
    async def on_command(ack, body: dict[str, Any], respond) -> None:
        await ack()
        groups = adapter.manager_groups()
        roles = await adapter.directory.roles_of(body.get("user_id", ""), groups) if groups else ()
        ev = command_event(body, roles=roles, received_at=app.clock.now())
        try:
            reply = await commands_for(app).handle(ev)
        except Exception:
            log.exception("/steward %s failed", ev.command)
            reply = Reply(COMMAND_FAILED)
        await respond(**reply_payload(reply))
        await dispatch(ev)

    @bolt.action(re.compile("^" + re.escape(ACTION_PREFIX)))
    async def on_button(ack, body: dict[str, Any], respond) -> None:
        await ack()
        ev = button_event(body, received_at=app.clock.now())
        if ev is None:
            return
        facts = await dispatch(ev)
        label = ((body.get("actions") or [{}])[0].get("text") or {}).get("text") or ev.action
        # a click the core turned down (not a manager, about oneself) is answered with why, privately
        answer = facts.get(CLICK_ANSWER) or f"You chose **{escape(label)}**."
        if body.get("response_url"):
            await respond(text=slack_message(answer)[0], response_type="ephemeral", replace_original=False)

    @bolt.shortcut(REPORT_CALLBACK)
    async def on_report(ack, body: dict[str, Any], respond) -> None:
        await ack()
        ev = report_event(body, received_at=app.clock.now())
        await dispatch(ev)
        if body.get("response_url"):
            await respond(text=slack_message(escape(THANKS_FOR_REPORT))[0], response_type="ephemeral",
                          replace_original=False)
        else:
            await adapter.gateway.client.chat_postEphemeral(channel=ev.channel_id, user=ev.reporter_id,
                                                            text=slack_message(escape(THANKS_FOR_REPORT))[0])

    @bolt.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        log.error("Slack listener error (%s): %s", (body or {}).get("type"), error)
