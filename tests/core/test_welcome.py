"""The welcome playbook end to end through engine, store and outbox."""

from __future__ import annotations

from datetime import timedelta

from bot.core.events import MemberJoined, MemberLeft
from bot.messaging.markdown import to_plain
from tests.conftest import T0


async def test_first_join_gets_greeting_then_delayed_dm(make_app, db_url):
    app = await make_app(db_url)
    gw = app.outbox.gateways["slack"]
    await app.engine.dispatch(MemberJoined("slack", T0, member_id="U100", display_name="Rosa Jansen"))
    # the greeting goes at once, in the welcome channel, pinging only the newcomer
    assert len(gw.sent) == 1
    greet = gw.sent[0]
    assert greet.kind == "channel" and greet.channel_id == "CWELCOME"
    assert to_plain(greet.text) == "Welcome, @U100! Glad you're here."
    assert greet.mention_ids == ("U100",)
    # the DM waits for its delay
    app.clock.advance_to(T0 + timedelta(minutes=9))
    await app.outbox.deliver_due()
    assert len(gw.sent) == 1
    app.clock.advance_to(T0 + timedelta(minutes=10))
    await app.outbox.deliver_due()
    assert len(gw.sent) == 2
    dm = gw.sent[1]
    assert dm.kind == "dm" and dm.member_id == "U100"
    text = to_plain(dm.text, channel_name={"CINTRO": "introductions", "CHELP": "help", "CNEWS": "announcements"}.get)
    assert text.startswith("Hi Rosa Jansen, welcome to Test Garden!")
    assert "#introductions, #help, #announcements" in text
    assert "say hello in #introductions" in text
    assert text.rstrip().endswith("Reply stop.")


async def test_rejoin_is_not_welcomed_again(make_app, db_url):
    app = await make_app(db_url)
    gw = app.outbox.gateways["slack"]
    await app.engine.dispatch(MemberJoined("slack", T0, member_id="U7", display_name="Bas"))
    await app.engine.dispatch(MemberLeft("slack", T0 + timedelta(days=1), member_id="U7"))
    await app.engine.dispatch(MemberJoined("slack", T0 + timedelta(days=2), member_id="U7", display_name="Bas"))
    app.clock.advance_to(T0 + timedelta(days=3))
    await app.outbox.deliver_due()
    assert [m.kind for m in gw.sent] == ["channel", "dm"]


async def test_redelivered_join_event_sends_nothing_twice(make_app, db_url):
    app = await make_app(db_url)
    gw = app.outbox.gateways["slack"]
    ev = MemberJoined("slack", T0, member_id="U8", display_name="Eva")
    await app.engine.dispatch(ev)
    await app.engine.dispatch(ev)
    app.clock.advance_to(T0 + timedelta(hours=1))
    await app.outbox.deliver_due()
    await app.outbox.deliver_due()
    assert sorted(m.kind for m in gw.sent) == ["channel", "dm"]


async def test_bots_are_not_welcomed(make_app):
    app = await make_app()
    gw = app.outbox.gateways["discord"]
    await app.engine.dispatch(MemberJoined("discord", T0, member_id="900", display_name="a bot", is_bot=True))
    assert gw.sent == []


async def test_dm_in_member_locale(make_app):
    app = await make_app()
    gw = app.outbox.gateways["discord"]
    await app.engine.dispatch(MemberJoined("discord", T0, member_id="42", display_name="Joost", locale="nl"))
    app.clock.advance_to(T0 + timedelta(minutes=10))
    await app.outbox.deliver_due()
    dm = [m for m in gw.sent if m.kind == "dm"][0]
    assert to_plain(dm.text).startswith("Hoi Joost, welkom bij Test Garden!")
    assert "Liever geen berichten van mij?" in to_plain(dm.text)


async def test_opted_out_member_gets_no_dm(make_app):
    app = await make_app()
    gw = app.outbox.gateways["slack"]
    await app.engine.dispatch(MemberJoined("slack", T0, member_id="U9", display_name="Pia"))
    await app.store.set_preferences("slack", "U9", now=T0, opted_out=True)
    app.clock.advance_to(T0 + timedelta(minutes=11))
    await app.outbox.deliver_due()
    assert [m.kind for m in gw.sent] == ["channel"]
    skipped = await app.store.outbox(status="skipped")
    assert [(i.message.member_id, i.error) for i in skipped] == [("U9", "member opted out")]
