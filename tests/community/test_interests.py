"""Members' interests: inferred from where and what they post, chosen with /steward interests (chosen
win), seen and cleared by the member, used by the lurker nudge and the journey, gone after a forget."""

from __future__ import annotations

from datetime import timedelta

from bot.core.events import CommandInvoked, MemberJoined
from bot.messaging.markdown import to_plain
from tests.community.helpers import START, Community, community_playbooks, quiet_community
from tests.conftest import T0

TOPICS = """topics:
  - id: install
    name: {en: installing, nl: installeren}
    channels: [introductions]
    terms: [install, installer, proxy]
  - id: build
    name: {en: building, nl: bouwen}
    channels: [announcements]
    terms: [build, arm64, compile]
"""


def _topics(tmp_path, text=TOPICS):
    p = tmp_path / "topics.yaml"
    p.write_text(text)
    return {"interests": {"topics": str(p)}}


async def _cmd(app, member, *args):
    from bot.commands import commands_for

    r = await commands_for(app).handle(CommandInvoked("slack", app.clock.now(), member_id=member,
                                                      command="interests", args=tuple(args)))
    return to_plain(r.text)


async def test_inferred_then_chosen_then_cleared_then_forgotten(make_app, tmp_path, db_url):
    app = await make_app(db_url, features=_topics(tmp_path))
    c = Community(app)
    await c.join("U1", "Ada")
    for i in range(2):
        await c.say("U1", f"the arm64 build broke again ({i})", at=T0 + timedelta(hours=i + 1), channel="CGENERAL")
    await c.say("U1", "any tips?", at=T0 + timedelta(hours=3), channel="CNEWS")
    svc = app.services.interests
    [it] = await svc.of("slack", "U1")
    assert (it.topic, it.source) == ("build", "inferred")
    text = await _cmd(app, "U1")
    assert text.startswith("Your interests:\n- building (guessed from where and what you post)")
    assert "Topics: install (installing), build (building)." in text
    # chosen wins over what was guessed
    assert (await _cmd(app, "U1", "install")).startswith("Done: your interests are installing.")
    assert [(i.topic, i.source) for i in await svc.of("slack", "U1")] == [("install", "chosen")]
    assert "I don't know the topic(s) cooking" in await _cmd(app, "U1", "cooking")
    # cleared: nothing kept, nothing guessed, even after more posts about builds
    assert (await _cmd(app, "U1", "clear")).startswith("Cleared")
    await c.say("U1", "compile errors on arm64 again", at=T0 + timedelta(hours=5), channel="CNEWS")
    assert await svc.of("slack", "U1") == []
    assert (await _cmd(app, "U1")).startswith("Steward keeps no interests for you.")
    # forget removes every row of theirs
    from bot.storage.personal_data import forget

    await _cmd(app, "U1", "build")
    await forget(app.store, "slack", "U1")
    assert await app.store.count("member_interests") == 0


async def test_the_lurker_nudge_picks_an_open_question_in_the_members_interests(make_app, tmp_path):
    app = await make_app(playbooks_dir=community_playbooks(tmp_path), start=START, features=_topics(tmp_path))
    c, now, q = await quiet_community(app)
    await c.say("UHELP", "Why does the build fail with a missing header on arm64?", at=now - timedelta(hours=2))
    app.clock.advance_to(now)
    await _cmd(app, "ULURK1", "build")
    await _cmd(app, "ULURK2", "install")
    await app.engine.fire_schedule("lurkers", now)
    dms = {m.member_id: to_plain(m.text) for m in app.outbox.gateways["slack"].sent if m.kind == "dm"}
    assert "missing header on arm64" in dms["ULURK1"]
    assert "configure the proxy for the installer" in dms["ULURK2"]


async def test_the_journeys_last_step_names_the_channel_that_fits(make_app, tmp_path):
    app = await make_app(features=_topics(tmp_path))
    gw = app.outbox.gateways["slack"]
    await app.engine.dispatch(MemberJoined("slack", T0, member_id="U7", display_name="Bo"))
    await _cmd(app, "U7", "build")
    app.clock.advance_to(T0 + timedelta(days=7))
    await app.delivery.drain()
    last = to_plain([m for m in gw.sent if m.kind == "dm"][-1].text, channel_name={"CNEWS": "announcements"}.get)
    assert last.startswith("One last tip, then I'll leave you be: #announcements is where people talk about "
                           "building.")


def test_a_malformed_topics_file_is_reported_with_its_line(tmp_path):
    from bot.community.interests import check_topics
    from tests.conftest import test_settings

    bad = TOPICS.replace("terms: [build, arm64, compile]", "terms: [build, two words]").replace(
        "  - id: install\n", "  - id: Install!\n")
    settings = test_settings("sqlite://", features=_topics(tmp_path, bad))
    got = [str(p) for p in check_topics(settings, {})]
    path = tmp_path / "topics.yaml"
    assert got == [f"{path}:2: topics: topics.0.id: Value error, id must be lowercase letters, digits, '-' or '_'",
                   f"{path}:9: topics: topics.1.terms: Value error, term 'two words' must be one word"]
