"""What Steward counts for Prometheus on Discord: a welcome through a 429 that discord.py waited
out itself, read off the scrape page."""

from __future__ import annotations

from datetime import timedelta

from tests.conftest import T0
from tests.fakes.discord_fixtures import WELCOME

ROSA = "200000000000000041"


async def test_a_welcome_through_a_429_is_counted(discord_bot, fake_discord):
    app, adapter = await discord_bot()
    await fake_discord.member_join(ROSA, "Rosa Jansen")
    await fake_discord.wait_message(WELCOME)
    await adapter.idle()
    fake_discord.rate_limit(r"/users/@me/channels", retry_after=0.05, times=1)  # opening the DM
    app.clock.advance_to(T0 + timedelta(minutes=10))
    await app.delivery.drain()
    await fake_discord.wait_dm(ROSA)
    lines = set((await app.metrics.exposition()).decode().splitlines())
    assert 'steward_events_handled_total{event="member_joined",platform="discord"} 1.0' in lines
    assert 'steward_sends_total{platform="discord"} 2.0' in lines  # the greeting and the DM
    assert 'steward_rate_limited_total{platform="discord"} 1.0' in lines
    assert 'steward_outbox_depth{state="sent"} 2.0' in lines
    assert not [ln for ln in lines if ln.startswith("steward_send_failures_total")]
