"""Fixtures: a built app with the dashboard served on a free port, and an HTTP client that keeps
cookies as a browser does."""

from __future__ import annotations

import re

import aiohttp
import pytest_asyncio

from bot.commands import commands_for
from bot.core.events import CommandInvoked

MANAGER = "UMGR"
MEMBER = "U100"


@pytest_asyncio.fixture
async def served(make_app):
    """``await served(db_url=None, **settings)`` → (app, dashboard); both stopped afterwards."""
    from bot.dashboard import start

    dashes = []

    async def _serve(db_url: str | None = None, **extra):
        extra.setdefault("managers", {"slack_user_ids": [MANAGER]})
        extra.setdefault("dashboard", {"port": 0})
        app = await make_app(db_url, **extra)
        dash = await start(app)
        assert dash is not None
        dashes.append(dash)
        return app, dash

    yield _serve
    for d in dashes:
        await d.stop()


@pytest_asyncio.fixture
async def browser_like():
    """An HTTP client that keeps cookies for 127.0.0.1 and does not follow redirects by itself."""
    sessions = []

    def _new() -> aiohttp.ClientSession:
        s = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        sessions.append(s)
        return s

    yield _new
    for s in sessions:
        await s.close()


async def ask_for_link(app, member_id: str = MANAGER, platform: str = "slack") -> str:
    """What ``/steward dashboard`` answers ``member_id`` (the text they see)."""
    reply = await commands_for(app).handle(CommandInvoked(platform, app.clock.now(), member_id=member_id,
                                                          command="dashboard"))
    return reply.text


def link_in(text: str) -> str:
    m = re.search(r"(http://\S+/login/\S+)", text)
    assert m, text
    return m.group(1)


async def sign_in(http: aiohttp.ClientSession, link: str) -> aiohttp.ClientResponse:
    """Open the link and press the button on it, as a person does."""
    async with http.get(link) as page:
        assert page.status == 200
        html = await page.text()
    token = re.search(r'name="token" value="([^"]+)"', html).group(1)
    base = link.split("/login/")[0]
    async with http.post(base + "/login", data={"token": token}, allow_redirects=False) as resp:
        await resp.read()
        return resp


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)
