"""The dashboard's web server: aiohttp, server-rendered jinja2 pages, a vendored htmx for partial
updates (every page and form works with JavaScript off). Sessions come from a one-time link a manager
asks for in chat (auth.py); every state-changing request is a POST carrying the session's CSRF token,
and goes through the same code as the chat's buttons and commands (actions.py)."""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

import jinja2
from aiohttp import web

from bot.dashboard.words import Words
from bot.storage.sessions import Login, Sessions

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger("steward.dashboard")

HERE = Path(__file__).resolve().parent
COOKIE = "steward_session"
FLASH = "steward_flash"
#: paths anyone may open: the login link, static files, the health check; /metrics asks for its
#: own token (bot/dashboard/metrics.py) and is not there at all unless the config turns it on
PUBLIC = ("/login", "/static/", "/healthz", "/signed-out", "/metrics", "/favicon.ico")
DASH: web.AppKey[Dashboard] = web.AppKey("dashboard")


@dataclass
class Viewer:
    """Who is looking at a page: the session (None when signed out), what they may do, their words."""

    t: Callable[..., str]
    locale: str = "en"
    login: Login | None = None
    standing: Any = None
    me: str = ""


#: where a request keeps its ``Viewer`` (typed keys where aiohttp has them)
VIEWER: Any = web.RequestKey("viewer", Viewer) if hasattr(web, "RequestKey") else "viewer"


def view(request: web.Request) -> Viewer:
    return request[VIEWER]

_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


class Dashboard:
    """One dashboard over one built app (its store, engine, outbox and settings)."""

    def __init__(self, app: App, *, host: str | None = None, port: int | None = None,
                 public_url: str | None = None) -> None:
        cfg = app.settings.dashboard
        self.app = app
        self.host = host if host is not None else cfg.host
        self.port = port if port is not None else cfg.port
        self.public_url = (public_url or cfg.public_url or "").rstrip("/") or None
        self.session_hours = cfg.session_hours
        self.sessions = Sessions(app.store.database)
        self.words = Words(app.templates.root)
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")), autoescape=True,
                                      undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        self._cache: dict[Any, tuple[float, Any]] = {}
        self._refreshing: dict[Any, asyncio.Task] = {}
        self._runner: web.AppRunner | None = None
        self.url: str | None = None
        #: served alone (``steward dashboard``): no platform connection here, so decisions that act on
        #: the platform (the ambassador role, moderation) and per-process playbook switches are left to
        #: the dashboard ``steward run`` serves and to the chat
        self.standalone = False

    # ------------------------------------------------------------------ serving
    def web_app(self) -> web.Application:
        from bot.dashboard import auth, metrics, pages, pages_more

        w = web.Application(middlewares=[_headers, _signed_in, _csrf], client_max_size=64 * 1024)
        w[DASH] = self
        w.router.add_get("/healthz", _healthz)
        w.router.add_get("/favicon.ico", _no_icon)
        w.router.add_static("/static/", HERE / "static", append_version=True)
        auth.add_routes(w.router)
        pages.add_routes(w.router)
        pages_more.add_routes(w.router)
        metrics.add_routes(w.router, self)
        return w

    async def start(self) -> str:
        """Listen on host:port (0: any free port); the address it serves."""
        self._runner = web.AppRunner(self.web_app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        port = self._runner.addresses[0][1] if self._runner.addresses else self.port
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{host}:{port}"
        log.info("dashboard on %s", self.public_url or self.url)
        from bot.dashboard.pages import warm_up

        warm_up(self)
        return self.url

    async def stop(self) -> None:
        # figures still being computed are let go of, and waited for, while the database is still open
        tasks = list(self._refreshing.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        """Where managers open the dashboard (the configured public URL, else where it listens)."""
        return self.public_url or self.url or f"http://{self.host}:{self.port}"

    # ------------------------------------------------------------------ helpers for the pages
    async def cached(self, key: Any, ttl: float, compute: Callable[[], Awaitable[Any]]) -> Any:
        """``compute()``'s value for heavy figures: computed once, then at most once per ``ttl``
        seconds in the background while the last value is shown (no page waits for it again)."""
        hit = self._cache.get(key)
        if hit is None:
            running = self._refreshing.get(key)
            if running is not None:  # being computed already (the warm-up): wait for that one
                await asyncio.shield(running)
                if key in self._cache:
                    return self._cache[key][1]
            value = await compute()
            self._cache[key] = (time.monotonic(), value)
            return value
        if time.monotonic() - hit[0] >= ttl and key not in self._refreshing:
            self._refreshing[key] = asyncio.create_task(self._refresh(key, compute))
        return hit[1]

    def warm(self, key: Any, compute: Callable[[], Awaitable[Any]]) -> None:
        """Compute ``key`` in the background now, so the first page that needs it does not wait long."""
        if key not in self._cache and key not in self._refreshing:
            self._refreshing[key] = asyncio.create_task(self._refresh(key, compute))

    async def _refresh(self, key: Any, compute: Callable[[], Awaitable[Any]]) -> None:
        try:
            self._cache[key] = (time.monotonic(), await compute())
        except Exception:  # the last value stays; the next page view tries again
            log.exception("dashboard: recomputing %s failed", key)
        finally:
            self._refreshing.pop(key, None)

    def forget_cached(self) -> None:
        """After a decision: lists computed afresh, so what was decided shows at once (the health
        figures, minutes wide, stay until their next refresh)."""
        for key in [k for k in self._cache if k[0] != "health"]:
            del self._cache[key]

    async def locale_of(self, login: Login) -> str:
        prefs = await self.app.store.preferences(login.platform, login.member_id)
        member = await self.app.store.get_member(login.platform, login.member_id)
        return self.words.pick(prefs.locale, member.locale if member else None, self.app.settings.default_locale)

    def page(self, request: web.Request, template: str, *, status: int = 200, **context: Any) -> web.Response:
        """Render a page with what every page shows (navigation, the signed-in manager, the flash)."""
        v = request[VIEWER]
        login = v.login
        flash = unquote(request.cookies.get(FLASH, ""))[:500] if login is not None else ""
        html = self.env.get_template(template).render(
            t=v.t, locale=v.locale, login=login, me=v.me, path=request.path,
            csrf=login.csrf if login else "", flash=flash, community=self.app.settings.community.name,
            admin=bool(v.standing and v.standing.admin), **context)
        resp = web.Response(text=html, status=status, content_type="text/html", charset="utf-8")
        if flash:
            resp.del_cookie(FLASH, path="/")
        return resp

    def done(self, request: web.Request, where: str, message: str) -> web.Response:
        """After a POST: back to ``where`` (a path of ours), saying ``message`` once (Post/Redirect/Get)."""
        if not where.startswith("/") or where.startswith("//"):
            where = "/"
        resp = see_other(where)
        resp.set_cookie(FLASH, quote(message[:500]), max_age=60, path="/", httponly=True, samesite="Strict",
                        secure=_secure(request, self))
        return resp


def see_other(where: str) -> web.Response:
    """303 to ``where`` (a path of ours): after a POST, the browser GETs the page that answers."""
    return web.Response(status=303, headers={"Location": where})


def _secure(request: web.Request, dash: Dashboard) -> bool:
    """Whether cookies get ``Secure``: served over https, directly or behind a proxy that says so."""
    return (request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"
            or (dash.public_url or "").startswith("https://"))


def set_session_cookie(resp: web.StreamResponse, request: web.Request, dash: Dashboard, sid: str) -> None:
    resp.set_cookie(COOKIE, sid, max_age=int(dash.session_hours * 3600), path="/", httponly=True,
                    samesite="Strict", secure=_secure(request, dash))


async def _no_icon(request: web.Request) -> web.Response:
    return web.Response(status=204)


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


@web.middleware
async def _headers(request: web.Request, handler):
    try:
        resp = await handler(request)
    except web.HTTPException as e:
        resp = e
    if not request.path.startswith("/static/"):
        resp.headers.setdefault("Cache-Control", "no-store")
    resp.headers.setdefault("Content-Security-Policy", _CSP)
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    # same-origin, not no-referrer: under no-referrer browsers send "Origin: null" with our own forms
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    resp.headers.setdefault("X-Frame-Options", "DENY")
    if isinstance(resp, web.HTTPException) and resp.status >= 300:
        raise resp
    return resp


@web.middleware
async def _signed_in(request: web.Request, handler):
    """Pages need a live session of someone who is a manager now (a manager who is no longer one
    has every session ended)."""
    dash = request.app[DASH]
    app = dash.app
    if request.path.startswith(("/static/", "/healthz", "/favicon.ico")):  # no session needed, none looked up
        request[VIEWER] = Viewer(dash.words.for_locale("en"))
        return await handler(request)
    now = app.clock.now()
    login = await dash.sessions.get(request.cookies.get(COOKIE, ""), now=now)
    if login is not None:
        standing = await app.engine.roles.standing(login.platform, login.member_id, roles=login.roles,
                                                   platform_admin=login.platform_admin)
        if not standing.manager:
            await dash.sessions.revoke_member(login.platform, login.member_id, now=now)
            await app.store.audit(at=now, platform=login.platform, actor=login.member_id,
                                  action="dashboard:refused", detail={"why": "no longer a manager"})
            login = None
        else:
            locale = await dash.locale_of(login)
            member = await app.store.get_member(login.platform, login.member_id)
            request[VIEWER] = Viewer(dash.words.for_locale(locale), locale, login, standing,
                                     member.display_name if member and member.display_name else login.member_id)
    if login is None:
        locale = dash.words.pick(app.settings.default_locale)
        request[VIEWER] = v = Viewer(dash.words.for_locale(locale), locale)
        if not any(request.path.startswith(p) for p in PUBLIC):
            return dash.page(request, "message.html", status=401, title=v.t("signin.title"),
                             text=v.t("signin.needed"))
    return await handler(request)


@web.middleware
async def _csrf(request: web.Request, handler):
    """A POST must come from one of our own pages: the same origin, and (once signed in) the
    session's token in the form or the ``X-CSRF-Token`` header. Anything else changes nothing."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return await handler(request)
    dash = request.app[DASH]
    origin = request.headers.get("Origin")
    ours = {request.host, urlsplit(dash.public_url or "").netloc}
    ok = origin is None or urlsplit(origin).netloc in ours - {""}
    login = request[VIEWER].login
    if ok and login is not None:
        form = await request.post()
        sent = request.headers.get("X-CSRF-Token") or str(form.get("csrf", ""))
        ok = bool(sent) and hmac.compare_digest(sent.encode(), login.csrf.encode())
    elif ok and request.path != "/login":
        ok = False
    if not ok:
        t = request[VIEWER].t
        app = dash.app
        await app.store.audit(at=app.clock.now(), platform=login.platform if login else None,
                              actor=login.member_id if login else "unknown", action="dashboard:refused",
                              target=request.path[:200], detail={"why": "missing or wrong form token"})
        return dash.page(request, "message.html", status=403, title=t("forged.title"), text=t("forged.text"))
    return await handler(request)
