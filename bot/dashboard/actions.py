"""What the dashboard's buttons do: exactly what the chat's do. A decision becomes the same
``ButtonClicked`` a digest button sends (approve, not now, resolve, the moderation decisions), and a
playbook or privacy action the same ``/steward`` command, both handled by the engine and audited there
with the manager's identity. Nothing here decides on its own."""

from __future__ import annotations

import secrets

from aiohttp import web

from bot.commands import Reply, commands_for
from bot.core.events import ButtonClicked, CommandInvoked
from bot.core.roles import CLICK_ANSWER
from bot.dashboard.server import DASH, view


def nonce() -> str:
    """One per rendered form: a form sent twice (a double click, a reload) acts once, as a click
    the platform delivers twice does."""
    return secrets.token_urlsafe(12)


async def click(request: web.Request, action: str, value: str) -> str | None:
    """Send ``action`` on ``value`` as the signed-in manager's click; the refusal, if turned down."""
    app = request.app[DASH].app
    login = view(request).login
    form = await request.post()
    once = "".join(c for c in str(form.get("nonce", "")) if c.isalnum() or c in "-_")[:40] or nonce()
    ev = ButtonClicked(login.platform, app.clock.now(), member_id=login.member_id, action=action, value=value,
                       click_id=f"dashboard:{once}", roles=login.roles, platform_admin=login.platform_admin)
    facts = await app.engine.dispatch(ev)
    request.app[DASH].forget_cached()
    return (facts or {}).get(CLICK_ANSWER)


async def command(request: web.Request, sub: str, *args: str) -> Reply:
    """Run ``/steward sub args`` as the signed-in manager typed it in chat."""
    app = request.app[DASH].app
    login = view(request).login
    ev = CommandInvoked(login.platform, app.clock.now(), member_id=login.member_id, command=sub,
                        args=tuple(args), roles=login.roles, platform_admin=login.platform_admin)
    reply = await commands_for(app).handle(ev)
    request.app[DASH].forget_cached()
    return reply
