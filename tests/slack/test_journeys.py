"""The onboarding journey on the fake Slack: events in over the real Bolt app, DMs out through the
real gateway."""

from __future__ import annotations

import re
from datetime import timedelta

from tests.conftest import T0
from tests.fakes.slack_requests import event_callback, message, team_join


async def _send(bot, event: dict, n: int) -> None:
    await bot.fake.send_envelope("events_api", event_callback(event))
    await bot.settle(n)


async def _until(bot, delta) -> None:
    bot.app.clock.advance_to(T0 + delta)
    await bot.deliver()


async def test_the_journey_stops_when_the_member_posts(start_bot, fake):
    bot = await start_bot("socket")
    await _send(bot, team_join("U100", "Rosa Jansen"), 1)
    await _until(bot, timedelta(minutes=10))
    [day0] = fake.dms_to("U100")
    assert day0["text"].startswith("Hi Rosa Jansen, welcome to *Test Garden*!\nOne easy first step: say hello "
                                   "in <#CINTRO>")
    # Bea, who joined with her, stays quiet: her day-3 step goes
    await _send(bot, team_join("U200", "Bea"), 2)
    await _until(bot, timedelta(days=1))
    ts = f"{(T0 + timedelta(days=1)).timestamp():.6f}"
    await _send(bot, message("CINTRO", "U100", "Hi all, I'm Rosa and I build garden sensors", ts=ts), 3)
    await _until(bot, timedelta(days=3, minutes=10))
    assert len(fake.dms_to("U100")) == 1
    bea = fake.dms_to("U200")
    assert len(bea) == 2 and bea[1]["text"].startswith("Hi Bea, how are your first days in Test Garden going?")
    assert "ask in <#CHELP>" in bea[1]["text"]
    stopped = {i.error for i in await bot.app.store.outbox(status="skipped") if i.message.member_id == "U100"}
    assert stopped == {"journey stopped: the member posted"}


async def test_a_step_is_held_by_quiet_hours_in_the_members_time_zone(start_bot, fake):
    # 10:00 UTC is 23:00 in Auckland (Slack gives the member's tz): the welcome waits until 09:00 there
    bot = await start_bot("socket")
    await _send(bot, team_join("U300", "Moana", tz="Pacific/Auckland"), 1)
    await _until(bot, timedelta(minutes=10))
    assert fake.dms_to("U300") == []
    [held] = [i for i in await bot.app.store.outbox(status="pending") if i.meta and i.meta["step"] == 0]
    assert held.error == "quiet hours in the member's time zone"
    await _until(bot, timedelta(hours=10))
    assert len(fake.dms_to("U300")) == 1


async def test_opting_out_mid_journey_by_replying_stop(start_bot, fake):
    bot = await start_bot("socket")
    await _send(bot, team_join("U400", "Pia"), 1)
    await _until(bot, timedelta(minutes=10))
    [dm] = fake.dms_to("U400")
    word = re.search(r"Reply \*(\w+)\*\._$", dm["text"]).group(1)
    await _send(bot, message(fake.dm_channel("U400"), "U400", word, channel_type="im"), 2)
    await _until(bot, timedelta(days=8))
    texts = [d["text"] for d in fake.dms_to("U400")]
    assert len(texts) == 2 and texts[1].startswith("Done: I won't send you any more messages.")
    assert [i.error for i in await bot.app.store.outbox(status="skipped")] == ["member opted out"] * 2
