"""``/metrics`` on the dashboard server: not there unless the config turns it on, and behind its
bearer token when one is named. Over HTTP, as Prometheus (or curl) asks."""

from __future__ import annotations

import pytest

from bot.core.errors import ConfigError
from tests.dashboard.conftest import ask_for_link, link_in, sign_in

TOKEN_ENV = "STEWARD_TEST_METRICS_TOKEN"
TOKEN = "scrape-me-3f9a1c"


async def test_metrics_are_off_by_default_even_for_a_signed_in_manager(served, browser_like):
    app, dash = await served()
    async with browser_like().get(dash.url + "/metrics") as resp:
        assert resp.status == 404
    http = browser_like()
    await sign_in(http, link_in(await ask_for_link(app)))
    async with http.get(dash.url + "/metrics") as resp:
        assert resp.status == 404
    async with http.get(dash.url + "/healthz") as resp:
        assert resp.status == 200


async def test_metrics_behind_a_token_refuse_without_it(served, browser_like, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    app, dash = await served(dashboard={"port": 0, "metrics": True, "metrics_token_env": TOKEN_ENV})
    http = browser_like()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
                    {"Authorization": f"Bearer {TOKEN}x"}):
        async with http.get(dash.url + "/metrics", headers=headers) as resp:
            assert resp.status == 401, headers
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
            assert "steward_" not in await resp.text()
    # a manager's session is not the token either
    await sign_in(http, link_in(await ask_for_link(app)))
    async with http.get(dash.url + "/metrics") as resp:
        assert resp.status == 401
    async with http.get(dash.url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        lines = (await resp.text()).splitlines()
    assert 'steward_outbox_depth{state="pending"} 0.0' in lines
    assert "# TYPE steward_sends_total counter" in lines


async def test_metrics_without_a_token_are_open_on_the_local_address(served, browser_like):
    app, dash = await served(dashboard={"port": 0, "metrics": True})
    async with browser_like().get(dash.url + "/metrics") as resp:
        assert resp.status == 200
        assert "# TYPE steward_event_lag_seconds histogram" in await resp.text()


async def test_a_named_token_variable_that_is_not_set_stops_the_start(served, monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with pytest.raises(ConfigError, match=f"{TOKEN_ENV} is not set"):
        await served(dashboard={"port": 0, "metrics": True, "metrics_token_env": TOKEN_ENV})
