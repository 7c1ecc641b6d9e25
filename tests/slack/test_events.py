"""Events in, on a real wire: signed HTTP requests and Socket Mode envelopes into the real Bolt app."""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.fakes.slack_requests import event_callback, message, team_join

DM_START = "Hi Rosa Jansen, welcome to *Test Garden*!"


async def send(bot, mode: str, event: dict) -> None:
    """Deliver one event the way Slack would in ``mode``, and check Slack's side of the exchange."""
    if mode == "http":
        status, _ = await bot.http.event(event)
        assert status == 200
    else:
        ack = await bot.fake.send_envelope("events_api", event_callback(event))
        assert ack["envelope_id"].startswith("env-")


@pytest.mark.parametrize("mode", ["socket", "http"])
async def test_a_joining_member_gets_the_welcome(start_bot, fake, mode):
    bot = await start_bot(mode)
    await send(bot, mode, team_join("U100", "Rosa Jansen"))
    await bot.settle()
    greeting = fake.posted("CWELCOME")
    assert [p["text"] for p in greeting] == ["Welcome, <@U100>! Glad you're here."]
    assert fake.dms_to("U100") == []  # the DM waits ten minutes
    await bot.later(minutes=10)
    dms = fake.dms_to("U100")
    assert len(dms) == 1
    text = dms[0]["text"]
    assert text.startswith(DM_START)
    assert "say hello in <#CINTRO>" in text
    assert text.rstrip().endswith("_Rather not get messages from me? Reply *stop*._")
    # nothing pings anyone the message does not mean to
    assert "<!channel>" not in text and dms[0]["link_names"] is False


async def test_a_channel_join_is_enriched_with_the_members_name(start_bot, fake):
    fake.add_channel("CGEN", "general")
    bot = await start_bot("socket")
    # she joins after Steward was installed (and her team_join went missing)
    fake.add_user("U200", "Bea de Vries", tz="Europe/London", locale="nl-NL")
    await send(bot, "socket", {"type": "member_joined_channel", "user": "U200", "channel": "CGEN",
                               "channel_type": "C", "event_ts": f"{time.time():.6f}"})
    await bot.settle()
    member = await bot.app.store.get_member("slack", "U200")
    assert (member.display_name, member.timezone, member.locale) == ("Bea de Vries", "Europe/London", "nl")
    await bot.later(minutes=10)
    [dm] = fake.dms_to("U200")
    assert dm["text"].startswith("Hoi Bea de Vries, welkom bij *Test Garden*!")  # in her language
    assert await bot.app.services.channel_name("slack", "CGEN") == "general"


async def test_messages_are_stored_and_bots_are_stored_as_bots(start_bot, fake):
    fake.add_user("U300", "Cas")
    fake.add_user("U301", "deploy-bot", is_bot=True)
    bot = await start_bot("socket")
    await send(bot, "socket", message("CHELP", "U300", "How do I reset my password?", ts="1772445600.000100"))
    await send(bot, "socket", message("CHELP", "U301", "Build passed", ts="1772445601.000100"))
    await send(bot, "socket", message("CHELP", "U300", "never mind", ts="1772445602.000100",
                                      thread_ts="1772445600.000100"))
    await bot.settle(3)
    await bot.app.store.flush()
    assert await bot.app.store.count("messages") == 3
    assert (await bot.app.store.get_member("slack", "U301")).is_bot is True
    assert (await bot.app.store.get_member("slack", "U300")).is_bot is False
    # events are handled concurrently, as Slack delivers them: order by message
    posted = sorted((e for e in bot.dispatched if e.name == "message_posted"), key=lambda e: e.message_id)
    assert [e.is_bot for e in posted] == [False, True, False]
    assert posted[2].thread_id == "1772445600.000100"


async def test_a_joining_bot_gets_no_welcome(start_bot, fake):
    bot = await start_bot("http")
    await send(bot, "http", team_join("U400", "helper", is_bot=True))
    await bot.settle()
    await bot.later(hours=1)
    assert fake.posted() == []
    assert (await bot.app.store.get_member("slack", "U400")).is_bot is True


async def test_forged_and_stale_requests_are_refused(start_bot, fake):
    bot = await start_bot("http")
    forged_status, _ = await bot.http.event(team_join("U500", "Mallory"), forge=True)
    stale_status, _ = await bot.http.event(team_join("U501", "Old"), timestamp=int(time.time()) - 6 * 60)
    assert (forged_status, stale_status) == (401, 401)
    # within five minutes is fine
    ok_status, _ = await bot.http.event(team_join("U502", "Recent"), timestamp=int(time.time()) - 4 * 60)
    assert ok_status == 200
    await bot.settle()
    assert [e.member_id for e in bot.dispatched] == ["U502"]
    assert [p["text"] for p in fake.posted("CWELCOME")] == ["Welcome, <@U502>! Glad you're here."]


async def test_url_verification_is_answered(start_bot):
    bot = await start_bot("http")
    status, body = await bot.http.post(json.dumps({"type": "url_verification", "challenge": "c-123",
                                                   "token": "x"}), "application/json")
    assert status == 200 and "c-123" in body


async def test_a_redelivered_event_welcomes_once(start_bot, fake):
    bot = await start_bot("http")
    ev = event_callback(team_join("U600", "Dirk"), event_id="Ev-same")
    await bot.http.event(ev)
    await bot.http.event(ev)  # Slack retries when it did not see the ack in time
    await bot.settle(2)
    await bot.later(minutes=10)
    assert len(fake.posted("CWELCOME")) == 1 and len(fake.dms_to("U600")) == 1


@pytest.mark.parametrize("mode", ["socket", "http"])
async def test_the_welcome_dms_stop_hint_works_in_the_dm(start_bot, fake, mode):
    """The hint names a reply; the member types it in the DM where they read it, and is opted out."""
    bot = await start_bot(mode)
    await send(bot, mode, team_join("U100", "Rosa Jansen"))
    await bot.settle()
    await bot.later(minutes=10)
    [dm] = fake.dms_to("U100")
    hint = re.search(r"Reply \*(\w+)\*\._$", dm["text"])
    assert hint is not None, dm["text"]
    await send(bot, mode, message(fake.dm_channel("U100"), "U100", hint.group(1), channel_type="im"))
    await bot.settle(2)
    assert (await bot.app.store.preferences("slack", "U100")).opted_out
    confirm = fake.dms_to("U100")[-1]["text"]
    assert confirm == "Done: I won't send you any more messages. Changed your mind? Reply *start*."
    # what a member writes to Steward is not community activity: not stored as a message
    assert await bot.app.store.count("messages") == 0
    await send(bot, mode, message(fake.dm_channel("U100"), "U100", "start", channel_type="im"))
    await bot.settle(3)
    assert not (await bot.app.store.preferences("slack", "U100")).opted_out
