"""Webhook events given up on, on the Outreach page, as a manager reads it: the endpoint, the event,
when it was given up and why; in English and in Dutch."""

from __future__ import annotations

import pytest_asyncio

from bot.core.events import MemberJoined
from bot.core.records import Member
from tests.conftest import T0
from tests.dashboard.conftest import MANAGER, ask_for_link, link_in, sign_in
from tests.dashboard.test_pages import page
from tests.webhooks.receiver import Receiver


@pytest_asyncio.fixture
async def receiver():
    r = Receiver("the-receivers-secret-5678")
    await r.start()
    yield r
    await r.stop()


async def test_outreach_shows_webhook_events_given_up_on(served, browser_like, receiver, monkeypatch):
    monkeypatch.setenv("CRM_HOOK_SECRET", "not-the-receivers-secret")  # every request fails verification: 401
    app, dash = await served(features={"webhooks": {"give_up_after": "1h", "endpoints": {
        "crm": {"url": receiver.url, "secret_env": "CRM_HOOK_SECRET", "events": ["member.joined"]}}}})
    await app.store.upsert_member(Member("slack", MANAGER, display_name="Mara"))
    http = browser_like()
    assert (await sign_in(http, link_in(await ask_for_link(app, MANAGER)))).status == 303
    assert "Webhook events given up on Events an endpoint did not accept" in await page(http, dash.url + "/outreach")
    await app.engine.dispatch(MemberJoined(platform="slack", at=T0, member_id="U0ADA", display_name="Ada"))
    await app.delivery.drain()
    assert receiver.requests == 1 and receiver.accepted == []

    text = await page(http, dash.url + "/outreach")
    section = text.split("Webhook events given up on", 2)[2]  # the table, after the heading and caption
    assert "Endpoint Event Given up Why" in section
    row = section.split("Why", 1)[1].split("Opted out")[0].strip()
    assert row == f"crm member.joined {T0:%Y-%m-%d %H:%M} UTC (1 min) crm: refused (http 401)", row

    await app.store.set_preferences("slack", MANAGER, now=app.clock.now(), locale="nl")
    text = await page(http, dash.url + "/outreach")
    assert "Opgegeven webhook-gebeurtenissen" in text and "Endpoint Gebeurtenis Opgegeven Waarom" in text
    assert "crm member.joined" in text
