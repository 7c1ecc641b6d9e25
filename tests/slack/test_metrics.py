"""What Steward counts for Prometheus, read off the scrape page as a person (or Prometheus) reads it,
after the real bot welcomed a member on the fake Slack through a 429."""

from __future__ import annotations

import asyncio

import aiohttp

from tests.fakes.slack_requests import team_join


async def scrape(url: str, token: str) -> set[str]:
    """GET /metrics as Prometheus does, with its bearer token; the page's lines."""
    async with aiohttp.ClientSession() as http, \
            http.get(url + "/metrics", headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 200
        return set((await resp.text()).splitlines())


async def test_a_welcome_through_a_429_is_counted(start_bot, fake, monkeypatch):
    from bot.dashboard import start

    monkeypatch.setenv("STEWARD_METRICS_TOKEN", "t0ken-for-prometheus")
    bot = await start_bot("http", playbooks=("welcome", "unanswered"),
                          dashboard={"port": 0, "metrics": True, "metrics_token_env": "STEWARD_METRICS_TOKEN"})
    dash = await start(bot.app)
    # the welcome DM's first try (the greeting in #welcome is the first post) is told to wait
    fake.rate_limit("chat.postMessage", retry_after=0.2, times=1, after=1)
    await bot.http.event(team_join("U100", "Rosa Jansen"))
    await bot.settle()
    await bot.later(minutes=10)
    assert fake.dms_to("U100") == []
    await asyncio.sleep(0.25)  # Slack's Retry-After passes in real time too
    await bot.later(seconds=1)
    assert len(fake.dms_to("U100")) == 1
    await bot.app.engine.fire_schedule("unanswered", bot.app.clock.now())

    try:
        lines = await scrape(dash.url, "t0ken-for-prometheus")
    finally:
        await dash.stop()
    assert 'steward_events_handled_total{event="member_joined",platform="slack"} 1.0' in lines
    assert 'steward_event_lag_seconds_count{platform="slack"} 1.0' in lines
    assert 'steward_sends_total{platform="slack"} 2.0' in lines  # the greeting and the DM
    assert 'steward_rate_limited_total{platform="slack"} 1.0' in lines
    assert 'steward_outbox_depth{state="sent"} 2.0' in lines
    assert 'steward_outbox_depth{state="pending"} 2.0' in lines  # the journey's day-3 and day-7 DMs wait
    assert 'steward_scan_duration_seconds_count{playbook="unanswered",scan="unanswered_questions"} 1.0' in lines
    # a 429 is a wait, not a failure
    assert not [ln for ln in lines if ln.startswith("steward_send_failures_total")]


async def test_a_failed_dm_is_counted_as_given_up(start_bot, fake):
    fake.add_user("U900", "Gone Member", deleted=True)
    bot = await start_bot("http")
    await bot.http.event(team_join("U900", "Gone Member"))
    await bot.settle()
    await bot.later(minutes=10)
    lines = set((await bot.app.metrics.exposition()).decode().splitlines())
    assert 'steward_send_failures_total{outcome="failed",platform="slack"} 1.0' in lines
    assert 'steward_outbox_depth{state="failed"} 1.0' in lines
    # the welcome playbook's fallback mention in #welcome went out, beside the greeting
    assert 'steward_sends_total{platform="slack"} 2.0' in lines


async def test_two_apps_in_one_process_count_apart(start_bot, fake):
    one = await start_bot("http")
    two = await start_bot("http")
    await one.http.event(team_join("U100", "Rosa Jansen"))
    await one.settle()
    lines_one = set((await one.app.metrics.exposition()).decode().splitlines())
    lines_two = set((await two.app.metrics.exposition()).decode().splitlines())
    assert 'steward_sends_total{platform="slack"} 1.0' in lines_one
    assert not [ln for ln in lines_two if ln.startswith("steward_sends_total")]
