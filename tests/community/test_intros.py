"""Introductions: who is paired with whom (newcomer with established, overlapping working hours,
never twice, never with an open case), the pairing round, "did you meet?" and its answers, what
managers see, and forget."""

from __future__ import annotations

from datetime import timedelta

from bot.community.intros import make_pairs, overlap_hours
from bot.community.intros_store import Candidate
from bot.core.events import CommandInvoked, DirectMessageReceived
from bot.core.records import Member
from bot.messaging.markdown import to_plain
from tests.conftest import T0


def _c(mid, days_ago, tz="Europe/Amsterdam"):
    return Candidate(mid, mid, T0 - timedelta(days=days_ago), tz)


def test_overlap_of_working_hours():
    assert overlap_hours(1, 1) == 8 and overlap_hours(0, 9) == 0 and overlap_hours(-5, 1) == 2


def test_a_newcomer_is_paired_with_an_established_member_in_a_close_time_zone():
    cands = [_c("NEW", 3), _c("MID", 60), _c("OLD_FAR", 400, "Pacific/Auckland"), _c("OLD", 400),
             _c("OTHER", 400)]
    interests = {"NEW": ["python"], "MID": ["python"], "OLD_FAR": ["python"], "OLD": ["python"], "OTHER": ["design"]}
    pairs = make_pairs(cands, interests, set(), now=T0, default_tz="UTC", newcomer_days=30, established_days=90,
                       max_pairs=10)
    got = [(p.a.member_id, p.b.member_id, p.topic) for p in pairs]
    assert got[0] == ("NEW", "OLD", "python")
    assert ("MID", "OLD_FAR", "python") in got  # the rest pair among themselves; OTHER shares nothing
    # never the same pair twice
    again = make_pairs(cands, interests, {frozenset(("NEW", "OLD"))}, now=T0, default_tz="UTC",
                       newcomer_days=30, established_days=90, max_pairs=10)
    assert ("NEW", "OLD") not in [(p.a.member_id, p.b.member_id) for p in again]


async def _community(app, members):
    from bot.community.intros_store import IntroStore

    store = IntroStore(app.store)
    for mid, days, topic in members:
        await app.store.upsert_member(Member("slack", mid, display_name=mid.title(), joined_at=T0 - timedelta(days=days),
                                             timezone="Europe/Amsterdam"))
        await store.set_status("slack", mid, "on", now=T0)
        await app.services.interests.choose("slack", mid, [topic])


async def test_a_round_then_did_you_meet_then_what_managers_see_then_forget(make_app, tmp_path, db_url):
    import shutil

    from tests.conftest import ROOT

    d = tmp_path / "pb"
    d.mkdir()
    for name in ("intros.yaml", "intros_followup.yaml"):
        shutil.copy(ROOT / "playbooks" / name, d / name)
    app = await make_app(db_url, playbooks_dir=d, managers={"slack_user_ids": ["UBOSS"]})
    gw = app.outbox.gateways["slack"]
    await _community(app, [("UNEW", 2, "install"), ("UOLD", 300, "install"), ("UCASE", 300, "install"),
                           ("UPLUG", 300, "plugins")])
    await _open_case(app, "UCASE")
    await app.engine.fire_schedule("intros", T0)
    [intro] = [m for m in gw.sent if m.kind == "group"]
    assert intro.mention_ids == ("UNEW", "UOLD")
    text = to_plain(intro.text)
    assert text.startswith("Meet each other: @UNEW and @UOLD\nYou're both into installing and setting up")
    # a second tick within the cadence makes no new round
    await app.engine.fire_schedule("intros", T0 + timedelta(days=7))
    assert len([m for m in gw.sent if m.kind == "group"]) == 1
    # a week later each is asked, and answers in the DM
    app.clock.advance_to(T0 + timedelta(days=7, hours=6))
    await app.engine.fire_schedule("intros_followup", app.clock.now())
    asked = {m.member_id: to_plain(m.text) for m in gw.sent if m.kind == "dm"}
    assert asked["UNEW"].startswith("Hi Unew, last week I introduced you to @UOLD. Did you two get to meet?")
    await app.engine.dispatch(DirectMessageReceived("slack", app.clock.now(), member_id="UNEW", channel_id="DUNEW",
                                                    message_id="1", text="Yes!"))
    await app.delivery.drain()
    assert to_plain(gw.sent[-1].text) == "Great to hear, thanks for letting me know!"
    from bot.commands import commands_for

    r = await commands_for(app).handle(CommandInvoked("slack", app.clock.now(), member_id="UBOSS", command="intros"))
    lines = to_plain(r.text).splitlines()
    assert lines[1:5] == ["members taking part: 4 (paused 0, left 0)", "pairings: 1; asked \"did you meet?\": 1",
                          "acceptance (pairs where someone answered): 1 of 1 (100%)",
                          "met (pairs where someone said yes): 1 of 1 answered (100%)"]
    # a member pauses; forget removes their part in the pairing and their interests
    r = await commands_for(app).handle(CommandInvoked("slack", app.clock.now(), member_id="UOLD", command="intros",
                                                      args=("pause",)))
    assert r.text.startswith("Paused for 28 days")
    from bot.storage.personal_data import forget

    await forget(app.store, "slack", "UNEW")
    assert await app.store.count("intro_members") == 1 and await app.store.count("intro_prefs") == 3


async def _open_case(app, member_id):
    from sqlalchemy import insert

    from bot.storage.models import ModerationCaseRow

    cols = ModerationCaseRow.__table__.c
    values = {"platform": "slack", "member_id": member_id, "status": "open"}
    for c in cols:
        if c.name in values or c.name == "id" or c.nullable:
            continue
        values[c.name] = T0 if "at" in c.name else (0 if str(c.type) == "INTEGER" else "x")
    async with app.store.database.begin() as conn:
        await conn.execute(insert(ModerationCaseRow.__table__).values(**values))
