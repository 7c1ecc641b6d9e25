"""Whether a join is a member's first is decided by when things happened, not by the order the
events are handled in: a member Steward first sees leaving was here before (their next join is a
rejoin), while a join that happened before a leave handled ahead of it is still their first."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from tests.fakes.discord_fixtures import WELCOME
from tests.fakes.discord_server import GUILD_ID, user_payload

CAS = "200000000000000031"


def _watch(app) -> list[str]:
    seen: list[str] = []

    async def observe(ev, facts) -> None:
        seen.append(ev.name)

    app.engine.observers.append(observe)
    return seen


async def _handled(adapter, seen: list[str], name: str) -> None:
    for _ in range(250):
        if name in seen:
            await adapter.idle()
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"no {name} event was handled")


async def _leave_unseen(fake_discord, user_id: str, name: str) -> None:
    # someone Steward never saw (not in the member list it got on connecting) leaves the server
    fake_discord.users[user_id] = user_payload(user_id, name)
    await fake_discord.dispatch("GUILD_MEMBER_REMOVE", {"guild_id": GUILD_ID, "user": fake_discord.users[user_id]})


async def test_a_member_first_seen_leaving_is_not_welcomed_when_they_come_back(discord_bot, fake_discord):
    app, adapter = await discord_bot()
    seen = _watch(app)
    await _leave_unseen(fake_discord, CAS, "Cas")
    await _handled(adapter, seen, "member_left")
    await fake_discord.member_join(CAS, "Cas")  # later than the leave: they are coming back
    await _handled(adapter, seen, "member_joined")
    await app.delivery.drain()
    assert fake_discord.sent(WELCOME) == []


async def test_a_join_handled_after_a_later_leave_is_still_the_first(discord_bot, fake_discord):
    app, adapter = await discord_bot()
    seen = _watch(app)
    # the leave is stamped an hour from now, so the join below happened before it
    app.clock.advance_to(datetime.now(UTC) + timedelta(hours=1))
    await _leave_unseen(fake_discord, CAS, "Cas")
    await _handled(adapter, seen, "member_left")
    await fake_discord.member_join(CAS, "Cas")
    greet = await fake_discord.wait_message(WELCOME)
    assert fake_discord.seen(greet) == "Welcome, @Cas! Glad you're here."
