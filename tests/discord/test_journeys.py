"""The onboarding journey on the fake Discord: a member joins the server, DMs over a week."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.conftest import T0
from tests.fakes.discord_fixtures import INTRODUCTIONS, WELCOME

ROSA = "200000000000000001"
BAS = "200000000000000002"


async def _until(app, at) -> None:
    app.clock.advance_to(at)
    await app.delivery.drain()


async def test_the_journey_stops_when_the_member_posts(discord_bot, fake_discord):
    app, adapter = await discord_bot()
    await fake_discord.member_join(ROSA, "Rosa Jansen")
    await fake_discord.member_join(BAS, "Bas")
    await fake_discord.wait_message(WELCOME)
    await adapter.idle()
    await _until(app, T0 + timedelta(minutes=10))
    await fake_discord.wait_dm(ROSA)
    await fake_discord.post_message(INTRODUCTIONS, ROSA, "Hello! Rosa here, I grow tomatoes")
    await adapter.idle()
    await _until(app, T0 + timedelta(days=3))
    await _until(app, T0 + timedelta(days=7))
    assert len(fake_discord.dms_to(ROSA)) == 1
    bas = await fake_discord.wait_dm(BAS, count=3)
    assert fake_discord.seen(bas).startswith("One last tip, then I'll leave you be: #announcements")
    stopped = [i.error for i in await app.store.outbox(status="skipped")]
    assert stopped == ["journey stopped: the member posted"] * 2


async def test_a_step_is_held_by_quiet_hours_in_the_community_time_zone(discord_bot, fake_discord):
    # Discord gives no member time zone: the community's. 10:00 UTC is 23:00 in Auckland
    app, adapter = await discord_bot(community={"timezone": "Pacific/Auckland"})
    await fake_discord.member_join(ROSA, "Rosa Jansen")
    await fake_discord.wait_message(WELCOME)
    await adapter.idle()
    await _until(app, T0 + timedelta(minutes=10))
    assert fake_discord.dms_to(ROSA) == []
    await _until(app, datetime(2026, 3, 2, 20, 0, tzinfo=UTC))  # 09:00 in Auckland
    await fake_discord.wait_dm(ROSA)


async def test_opting_out_mid_journey_by_replying_stop(discord_bot, fake_discord):
    app, adapter = await discord_bot()
    await fake_discord.member_join(ROSA, "Rosa Jansen")
    await fake_discord.wait_message(WELCOME)
    await adapter.idle()
    await _until(app, T0 + timedelta(minutes=10))
    await fake_discord.wait_dm(ROSA)
    await fake_discord.write_dm(ROSA, "stop")
    await fake_discord.wait_dm(ROSA, count=2)
    await _until(app, T0 + timedelta(days=8))
    assert len(fake_discord.dms_to(ROSA)) == 2
    assert [i.error for i in await app.store.outbox(status="skipped")] == ["member opted out"] * 2
