"""The welcome playbook end to end through engine, store and outbox."""

from __future__ import annotations

from datetime import timedelta

import pytest

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
    await app.delivery.drain()
    assert len(gw.sent) == 1
    app.clock.advance_to(T0 + timedelta(minutes=10))
    await app.delivery.drain()
    assert len(gw.sent) == 2
    dm = gw.sent[1]
    assert dm.kind == "dm" and dm.member_id == "U100"
    text = to_plain(dm.text, channel_name={"CINTRO": "introductions", "CHELP": "help", "CNEWS": "announcements"}.get)
    assert text.startswith("Hi Rosa Jansen, welcome to Test Garden!")
    # the journey's day-0 step: one suggestion
    assert "One easy first step: say hello in #introductions" in text
    assert text.rstrip().endswith("Reply stop.")


async def test_rejoin_is_not_welcomed_again(make_app, db_url):
    app = await make_app(db_url)
    gw = app.outbox.gateways["slack"]
    await app.engine.dispatch(MemberJoined("slack", T0, member_id="U7", display_name="Bas"))
    app.clock.advance_to(T0 + timedelta(minutes=10))
    await app.delivery.drain()
    await app.engine.dispatch(MemberLeft("slack", T0 + timedelta(days=1), member_id="U7"))
    await app.engine.dispatch(MemberJoined("slack", T0 + timedelta(days=2), member_id="U7", display_name="Bas"))
    app.clock.advance_to(T0 + timedelta(days=8))
    await app.delivery.drain()
    # and the rest of the first journey stopped when they left
    assert [m.kind for m in gw.sent] == ["channel", "dm"]


async def test_redelivered_join_event_sends_nothing_twice(make_app, db_url):
    app = await make_app(db_url)
    gw = app.outbox.gateways["slack"]
    ev = MemberJoined("slack", T0, member_id="U8", display_name="Eva")
    await app.engine.dispatch(ev)
    await app.engine.dispatch(ev)
    app.clock.advance_to(T0 + timedelta(hours=1))
    await app.delivery.drain()
    await app.delivery.drain()
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
    await app.delivery.drain()
    dm = [m for m in gw.sent if m.kind == "dm"][0]
    assert to_plain(dm.text).startswith("Hoi Joost, welkom bij Test Garden!")
    assert "Liever geen berichten van mij?" in to_plain(dm.text)


async def test_opted_out_member_gets_no_dm(make_app):
    app = await make_app()
    gw = app.outbox.gateways["slack"]
    await app.engine.dispatch(MemberJoined("slack", T0, member_id="U9", display_name="Pia"))
    await app.store.set_preferences("slack", "U9", now=T0, opted_out=True)
    app.clock.advance_to(T0 + timedelta(minutes=11))
    await app.delivery.drain()
    assert [m.kind for m in gw.sent] == ["channel"]
    skipped = await app.store.outbox(status="skipped")
    assert [(i.message.member_id, i.error) for i in skipped] == [("U9", "member opted out")]


NAMES = ["Ada", "Bas", "Cem", "Dewi", "Eva", "Femke", "Gijs", "Hugo"]


async def _wave(app, platform, names, *, every_s=5, start=T0, first_id=1):
    ids = []
    for i, name in enumerate(names):
        at = start + timedelta(seconds=every_s * i)
        app.clock.advance_to(at)
        mid = f"{first_id + i}00"
        ids.append(mid)
        await app.engine.dispatch(MemberJoined(platform, at, member_id=mid, display_name=name))
    return ids


def _greetings(gw, ids, names):
    who = dict(zip(ids, names, strict=True))
    return [to_plain(m.text, member_name=lambda i: who.get(i, i)) for m in gw.sent
            if m.kind == "channel" and m.channel_id in ("CWELCOME", "100000000000000001")]


@pytest.mark.parametrize("platform", ["slack", "discord"])
async def test_a_wave_of_joins_is_greeted_in_one_post_with_names(make_app, platform):
    """The first newcomer is greeted at once; the seven who follow within the minute get one post
    together, naming five and counting the rest, pinging only those it names."""
    app = await make_app()
    gw = app.outbox.gateways[platform]
    ids = await _wave(app, platform, NAMES)
    assert _greetings(gw, ids, NAMES) == ["Welcome, @Ada! Glad you're here."]
    app.clock.advance_to(T0 + timedelta(seconds=60))
    await app.delivery.drain()
    assert _greetings(gw, ids, NAMES) == [
        "Welcome, @Ada! Glad you're here.",
        "Welcome, @Bas, @Cem, @Dewi, @Eva, @Femke and 2 others! Glad you're all here."]
    assert gw.sent[-1].mention_ids == tuple(ids[1:6])
    # a newcomer long after the wave is greeted at once again, alone
    later = await _wave(app, platform, ["Ilse"], start=T0 + timedelta(minutes=5), first_id=9)
    assert _greetings(gw, later, ["Ilse"])[-1] == "Welcome, @Ilse! Glad you're here."
    # every one of them still gets their own welcome DM
    app.clock.advance_to(T0 + timedelta(minutes=16))
    await app.delivery.drain()
    assert sorted(m.member_id for m in gw.sent if m.kind == "dm") == sorted(ids + later)


async def test_a_wave_is_greeted_in_the_members_language_of_the_community(make_app):
    app = await make_app(community={"default_locale": "nl"})
    gw = app.outbox.gateways["slack"]
    ids = await _wave(app, "slack", NAMES[:3])
    app.clock.advance_to(T0 + timedelta(seconds=60))
    await app.delivery.drain()
    assert _greetings(gw, ids, NAMES[:3]) == ["Welkom, @Ada! Fijn dat je er bent.",
                                              "Welkom, @Bas en @Cem! Fijn dat jullie er zijn."]


def _playbooks_with_raids(tmp_path):
    import shutil

    from tests.conftest import ROOT

    d = tmp_path / "pb"
    d.mkdir()
    for name in ("welcome.yaml", "raids.yaml"):
        shutil.copy(ROOT / "playbooks" / name, d / name)
    return d


async def _raid(app, platform, n=14):
    names = [f"Raider {i}" for i in range(n)]
    ids = await _wave(app, platform, names, every_s=2)
    app.clock.advance_to(T0 + timedelta(minutes=3))
    await app.delivery.drain()
    return ids, names


async def _click(app, platform, action, member_id):
    from bot.core.events import ButtonClicked

    chan = app.settings.channel_id("moderators", platform)
    await app.engine.dispatch(ButtonClicked(platform, app.clock.now(), member_id=member_id, action=action,
                                            value=platform, channel_id=chan, platform_admin=True))
    await app.delivery.drain()


@pytest.mark.parametrize("platform", ["slack", "discord"])
async def test_no_greetings_while_a_raid_alert_is_open_until_the_moderators_say_greet(make_app, tmp_path, platform):
    app = await make_app(playbooks_dir=_playbooks_with_raids(tmp_path))
    gw = app.outbox.gateways[platform]
    ids, names = await _raid(app, platform)
    alert = [m for m in gw.sent if m.kind == "channel" and m.channel_id == app.settings.channel_id("moderators", platform)]
    assert len(alert) == 1 and "Possible raid" in alert[0].text
    assert [b.action for b in alert[0].digest.items[0].buttons] == ["raid_greet", "raid_quiet"]
    # the first joiner was greeted before anything looked like a raid; nobody since
    assert _greetings(gw, ids, names) == ["Welcome, @Raider 0! Glad you're here."]
    [held] = await app.store.outbox(status="held")
    assert held.action == "greet"
    # the raid goes quiet: still nothing posted without a decision
    app.clock.advance_to(T0 + timedelta(minutes=30))
    await app.delivery.drain()
    assert len(_greetings(gw, ids, names)) == 1
    # a newcomer after the raid is greeted at once, not put on hold with the raiders
    late = await _wave(app, platform, ["Ilse"], start=T0 + timedelta(minutes=30), first_id=90)
    assert _greetings(gw, ids + late, names + ["Ilse"])[-1] == "Welcome, @Ilse! Glad you're here."
    gw.sent.clear()
    # a member who is not a moderator cannot decide
    from bot.core.events import ButtonClicked

    await app.engine.dispatch(ButtonClicked(platform, app.clock.now(), member_id="777", action="raid_greet",
                                            value=platform, channel_id="CMODS"))
    await app.delivery.drain()
    assert _greetings(gw, ids, names) == []
    await _click(app, platform, "raid_greet", "1")
    assert _greetings(gw, ids, names) == [
        "Welcome, @Raider 1, @Raider 2, @Raider 3, @Raider 4, @Raider 5 and 8 others! Glad you're all here."]
    said = [to_plain(m.text) for m in gw.sent if m.kind == "channel"][-1]
    assert said == "@1 chose to greet the 13 newcomer(s) held during the raid alert."


async def test_dont_greet_drops_the_held_greetings(make_app, tmp_path):
    app = await make_app(playbooks_dir=_playbooks_with_raids(tmp_path))
    gw = app.outbox.gateways["discord"]
    ids, names = await _raid(app, "discord")
    await _click(app, "discord", "raid_quiet", "1")
    app.clock.advance_to(T0 + timedelta(hours=1))
    await app.delivery.drain()
    assert _greetings(gw, ids, names) == ["Welcome, @Raider 0! Glad you're here."]
    [dropped] = [i for i in await app.store.outbox(status="skipped") if i.action == "greet"]
    assert dropped.error == "held during a raid alert; the moderators chose not to greet"
    # after the raid, newcomers are greeted again
    later = await _wave(app, "discord", ["Ilse"], start=T0 + timedelta(hours=2), first_id=90)
    assert _greetings(gw, later, ["Ilse"])[-1] == "Welcome, @Ilse! Glad you're here."
