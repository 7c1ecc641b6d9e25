"""Signing in from chat: ``/steward dashboard`` answers a manager, privately, with a one-time link
that expires in 10 minutes; opening it (one more click, a POST, so a link preview cannot spend it)
starts a session. No password and no OAuth app: the chat platform already knows who is a manager."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from aiohttp import web

from bot.commands import Reply, commands_for
from bot.core.events import CommandInvoked
from bot.dashboard.server import COOKIE, DASH, Dashboard, see_other, set_session_cookie, view

if TYPE_CHECKING:
    from bot.app import App

#: how long a link from ``/steward dashboard`` may wait before it is opened
LINK_TTL = timedelta(minutes=10)


async def link_for(dash: Dashboard, platform: str, member_id: str, *, roles: tuple[str, ...] = (),
                   platform_admin: bool = False) -> str:
    """A one-time sign-in link for a manager (the caller has checked that they are one)."""
    app = dash.app
    token = await dash.sessions.new_link(platform, member_id, now=app.clock.now(), ttl=LINK_TTL, roles=roles,
                                         platform_admin=platform_admin)
    return f"{dash.base_url}/login/{token}"


def install(dash: Dashboard) -> None:
    """Answer ``/steward dashboard`` (a manager command: members get the usual polite refusal)."""
    app: App = dash.app

    async def _command(app: App, ev: CommandInvoked) -> Reply:
        url = await link_for(dash, ev.platform, ev.member_id, roles=ev.roles, platform_admin=ev.platform_admin)
        return Reply(f"Your dashboard link (only you can see this; it works once, for 10 minutes): {url}")

    commands_for(app).register("dashboard", _command)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/login/{token}", _login_page)
    router.add_post("/login", _login)
    router.add_post("/logout", _logout)
    router.add_get("/signed-out", _signed_out)


async def _login_page(request: web.Request) -> web.Response:
    dash = request.app[DASH]
    t = view(request).t
    return dash.page(request, "login.html", title=t("signin.title"), token=request.match_info["token"][:200])


async def _login(request: web.Request) -> web.StreamResponse:
    dash = request.app[DASH]
    app = dash.app
    t = view(request).t
    now = app.clock.now()
    token = str((await request.post()).get("token", ""))[:200]
    login = await dash.sessions.use_link(token, now=now) if token else None
    if login is None:
        return dash.page(request, "message.html", status=403, title=t("signin.refused"), text=t("signin.spent"))
    standing = await app.engine.roles.standing(login.platform, login.member_id, roles=login.roles,
                                               platform_admin=login.platform_admin)
    if not standing.manager:
        await app.store.audit(at=now, platform=login.platform, actor=login.member_id, action="dashboard:refused",
                              detail={"why": "not a manager"})
        return dash.page(request, "message.html", status=403, title=t("signin.refused"),
                         text=t("signin.not_manager"))
    sid, _ = await dash.sessions.start(login, now=now, hours=dash.session_hours)
    await app.store.audit(at=now, platform=login.platform, actor=login.member_id, action="dashboard:login")
    resp = see_other("/")
    set_session_cookie(resp, request, dash, sid)
    return resp


async def _logout(request: web.Request) -> web.StreamResponse:
    dash = request.app[DASH]
    app = dash.app
    login = view(request).login
    now = app.clock.now()
    await dash.sessions.revoke(request.cookies.get(COOKIE, ""), now=now)
    await app.store.audit(at=now, platform=login.platform, actor=login.member_id, action="dashboard:logout")
    resp = see_other("/signed-out")
    resp.del_cookie(COOKIE, path="/")
    return resp


async def _signed_out(request: web.Request) -> web.Response:
    t = view(request).t
    return request.app[DASH].page(request, "message.html", title=t("signout.title"), text=t("signout.text"))
