"""The onboarding journey (playbooks/welcome.yaml): three DMs over a week, each stopping once the
member found their way in, governed by the outreach limits, durable across restarts; checked,
previewed and dry-run like any playbook."""

from __future__ import annotations

from datetime import timedelta

from bot.core.events import CommandInvoked, MemberJoined, MemberLeft, MessagePosted, ReactionAdded
from bot.messaging.markdown import to_plain
from tests.conftest import T0

NAMES = {"CINTRO": "introductions", "CHELP": "help", "CNEWS": "announcements"}


def CH(cid):
    return NAMES.get(cid, cid)


def _dms(gw, member_id):
    return [to_plain(m.text, channel_name=CH) for m in gw.sent if m.kind == "dm" and m.member_id == member_id]


async def _at(app, delta):
    app.clock.advance_to(T0 + delta)
    await app.delivery.drain()


async def test_a_quiet_newcomer_gets_three_short_dms_over_a_week(make_app):
    app = await make_app()
    gw = app.outbox.gateways["slack"]
    await app.engine.dispatch(MemberJoined("slack", T0, member_id="U1", display_name="Rosa"))
    await _at(app, timedelta(minutes=10))
    await _at(app, timedelta(days=3))
    await _at(app, timedelta(days=7))
    day0, day3, day7 = _dms(gw, "U1")
    assert day0.startswith("Hi Rosa, welcome to Test Garden!\nOne easy first step: say hello in #introductions")
    assert day3.startswith("Hi Rosa, how are your first days in Test Garden going?\nIf something is unclear, "
                           "ask in #help")
    assert day7.startswith("One last tip, then I'll leave you be: #announcements is worth a look")
    for text in (day0, day3, day7):
        assert text.rstrip().endswith("Reply stop.")
    # later steps rode on the first step's place in the caps (two automated DMs per 30 days)
    assert [i.status for i in await app.store.outbox(playbook_id="welcome") if i.message.kind == "dm"] == ["sent"] * 3


async def test_the_journey_stops_when_the_member_posts(make_app, db_url):
    app = await make_app(db_url)
    gw = app.outbox.gateways["discord"]
    await app.engine.dispatch(MemberJoined("discord", T0, member_id="42", display_name="Bas"))
    await _at(app, timedelta(minutes=10))
    app.clock.advance_to(T0 + timedelta(days=1))
    await app.engine.dispatch(MessagePosted("discord", T0 + timedelta(days=1), channel_id="100000000000000004",
                                            message_id="m1", author_id="42", text="hello all!"))
    await _at(app, timedelta(days=8))
    assert len(_dms(gw, "42")) == 1
    skipped = [(i.error) for i in await app.store.outbox(status="skipped")]
    assert skipped == ["journey stopped: the member posted"] * 2


async def test_a_reaction_or_leaving_stops_it_too_and_a_restart_sends_nothing_twice(make_app, tmp_path):
    url = f"sqlite:///{tmp_path / 'j.db'}"
    app = await make_app(url)
    await app.engine.dispatch(MemberJoined("slack", T0, member_id="U1", display_name="Ada"))
    await app.engine.dispatch(MemberJoined("slack", T0, member_id="U2", display_name="Cem"))
    await app.engine.dispatch(MemberJoined("slack", T0, member_id="U3", display_name="Dewi"))
    await _at(app, timedelta(minutes=10))
    await app.engine.dispatch(ReactionAdded("slack", T0 + timedelta(hours=1), channel_id="CHELP", message_id="1.2",
                                            member_id="U1", emoji="tada"))
    await app.engine.dispatch(MemberLeft("slack", T0 + timedelta(hours=2), member_id="U2"))
    await app.store.flush()
    await app.close()
    # a new process on the same database: the steps are in the outbox, and the stop conditions are
    # read from what was stored
    again = await make_app(url)
    gw = again.outbox.gateways["slack"]
    await _at(again, timedelta(days=3))
    await _at(again, timedelta(days=7))
    await again.delivery.drain()
    assert [m.member_id for m in gw.sent if m.kind == "dm"] == ["U3", "U3"]
    why = {(i.message.member_id, i.error) for i in await again.store.outbox(status="skipped")}
    assert why == {("U1", "journey stopped: the member reacted to a message"),
                   ("U2", "journey stopped: the member left")}


async def test_a_step_waits_out_quiet_hours_in_the_members_time_zone(make_app):
    # 10:00 UTC is 23:00 in Auckland: each step (due at 10:00 UTC) waits for 09:00 there, 20:00 UTC
    app = await make_app()
    gw = app.outbox.gateways["slack"]
    await app.engine.dispatch(MemberJoined("slack", T0, member_id="U5", display_name="Moana",
                                           timezone="Pacific/Auckland"))
    await _at(app, timedelta(hours=10))
    assert len(_dms(gw, "U5")) == 1  # the day-0 welcome, in the morning there
    await _at(app, timedelta(days=3))
    assert len(_dms(gw, "U5")) == 1, "held by quiet hours"
    [held] = [i for i in await app.store.outbox(status="pending") if i.meta and i.meta["name"] == "day3-ask"]
    assert held.error == "quiet hours in the member's time zone"
    assert held.not_before == T0 + timedelta(days=3, hours=10)
    await _at(app, timedelta(days=3, hours=10))
    assert len(_dms(gw, "U5")) == 2


def _member(mid, tz):
    from bot.core.records import Member

    return Member("slack", mid, display_name="Moana", timezone=tz, joined_at=T0)


async def test_opting_out_mid_journey_stops_the_rest(make_app):
    app = await make_app()
    gw = app.outbox.gateways["slack"]
    await app.engine.dispatch(MemberJoined("slack", T0, member_id="U9", display_name="Pia"))
    await _at(app, timedelta(minutes=10))
    from bot.commands import commands_for

    app.clock.advance_to(T0 + timedelta(days=1))
    await commands_for(app).handle(CommandInvoked("slack", T0 + timedelta(days=1), member_id="U9", command="optout"))
    await _at(app, timedelta(days=8))
    assert len(_dms(gw, "U9")) == 1
    assert {i.error for i in await app.store.outbox(status="skipped")} == {"member opted out"}


async def test_the_journey_in_dry_run_is_decided_when_each_step_is_due(make_app):
    """As in a backtest: nothing waits in an outbox; each step is recorded when the clock reaches it,
    or stopped by what the member did before then."""
    from bot.core.clock import SimulatedClock
    from bot.replay.driver import replay

    app = await make_app(dry_run=True)
    recorded = []
    app.outbox.listeners.append(recorded.append)
    assert isinstance(app.clock, SimulatedClock)
    events = [MemberJoined("slack", T0, member_id="U1", display_name="Ada"),
              MemberJoined("slack", T0, member_id="U2", display_name="Bas"),
              MessagePosted("slack", T0 + timedelta(days=4), channel_id="CHELP", message_id="1", author_id="U2",
                            text="how do I install it?")]
    await replay(app.engine, events, start=T0, end=T0 + timedelta(days=10))
    steps = [(i.message.member_id, i.meta["name"], i.not_before - T0) for i in recorded if i.action == "journey_step"]
    assert steps == [("U1", "day0-welcome", timedelta(minutes=10)), ("U2", "day0-welcome", timedelta(minutes=10)),
                     ("U1", "day3-ask", timedelta(days=3)), ("U2", "day3-ask", timedelta(days=3)),
                     ("U1", "day7-explore", timedelta(days=7))]
    [stopped] = await app.store.outbox(status="skipped")
    assert (stopped.message.member_id, stopped.error) == ("U2", "journey stopped: the member posted")


async def test_a_manager_previews_the_journey(make_app):
    from bot.commands import commands_for

    app = await make_app(managers={"slack_user_ids": ["UBOSS"]})
    await app.store.upsert_member(_member("UBOSS", "Europe/Amsterdam"))
    r = await commands_for(app).handle(CommandInvoked("slack", T0, member_id="UBOSS", command="playbooks",
                                                      args=("preview", "welcome")))
    lines = to_plain(r.text, channel_name=CH).split("\n- ")
    assert lines[0] == "welcome is a journey of 3 step(s); as you would read them had you just joined:"
    assert lines[1].startswith("day0-welcome (after 10m): Hi Moana, welcome to Test Garden!")
    assert lines[2].startswith("day3-ask (after 3d): Hi Moana, how are your first days")
    assert lines[3].startswith("day7-explore (after 7d): One last tip")
    assert await app.store.outbox() == []


def test_steward_check_names_the_line_of_a_broken_step(tmp_path):
    from bot.app import check_context, templates_for
    from bot.engine.loader import load_dir
    from tests.conftest import ROOT, test_settings

    pb = tmp_path / "pb"
    pb.mkdir()
    text = (ROOT / "playbooks" / "welcome.yaml").read_text()
    text = text.replace("template: journey_first_step", "template: journey_day_three")
    text = text.replace("delay: 7d", "delay: 2d")
    (pb / "welcome.yaml").write_text(text)
    settings = test_settings("sqlite://")
    res = load_dir(pb, check_context(settings, templates_for(ROOT / "messages")))
    lines = text.splitlines()
    tpl_line = next(i for i, ln in enumerate(lines, 1) if "journey_day_three" in ln)
    delay_line = next(i for i, ln in enumerate(lines, 1) if "delay: 2d" in ln)
    got = sorted(str(p) for p in res.errors)
    assert got == sorted([
        f"{pb / 'welcome.yaml'}:{tpl_line}: welcome: journey: steps[1]: template 'journey_day_three' does not exist",
        f"{pb / 'welcome.yaml'}:{delay_line}: welcome: journey: steps[2]: delay 2d comes before the step above it",
    ])


def test_a_config_without_the_steps_channels_keeps_the_journey(tmp_path):
    """A step's channel missing from the config is a warning: the journey still runs, naming none."""
    from bot.app import check_context, templates_for
    from bot.engine.loader import load_dir
    from bot.settings import load_settings
    from tests.conftest import ROOT

    settings = load_settings(None, channels={"welcome": {"slack": "CW"}})
    res = load_dir(ROOT / "playbooks", check_context(settings, templates_for(ROOT / "messages")))
    assert [s.name for s in res.playbooks["welcome"].actions] == ["greet", "journey"]
    assert [p.severity for p in res.problems if p.playbook_id == "welcome"] == ["warning", "warning"]


async def test_health_counts_first_contributions_per_join_cohort_and_the_step_before(make_app, db_url):
    from bot.community.health import compute_health

    app = await make_app(db_url)
    for i, mid in enumerate(("U1", "U2", "U3")):
        await app.engine.dispatch(MemberJoined("slack", T0, member_id=mid, display_name=f"M{i}"))
    await _at(app, timedelta(minutes=10))
    await app.engine.dispatch(MessagePosted("slack", T0 + timedelta(days=1), channel_id="CHELP", message_id="1.1",
                                            author_id="U1", text="hi all"))
    await _at(app, timedelta(days=3))
    await _at(app, timedelta(days=7))
    await app.engine.dispatch(MessagePosted("slack", T0 + timedelta(days=12), channel_id="CHELP",
                                            message_id="1.2", author_id="U2", text="a question"))
    await _at(app, timedelta(days=40))
    h = await compute_health(app.store, platform="slack", start=T0 - timedelta(days=1), end=T0 + timedelta(days=40))
    [c] = h["onboarding"]
    assert (c["cohort"], c["joined"], c["contributed_7d"], c["contributed_30d"]) == ("2026-03", 3, 1, 2)
    assert c["at_step"] == {"after day0-welcome": 1, "after day7-explore": 1}
