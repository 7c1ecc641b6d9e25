"""Consent and restraint: opt-out, caps, quiet hours, the hourly budget, staff and open cases.
Each test has a control that does get the message, so ignoring the rule makes it fail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert

from bot.core.events import CommandInvoked, MemberJoined
from bot.core.records import OutboundMessage
from bot.messaging.markdown import to_plain
from bot.storage.models import ModerationCaseRow
from tests.community.helpers import START, community_playbooks, quiet_community
from tests.conftest import T0


def dms_to(app, member_id, platform="slack"):
    return [m for m in app.outbox.gateways[platform].sent if m.kind == "dm" and m.member_id == member_id]


async def nudge_cmd(app, member_id, platform="slack"):
    cmds = app.services.commands
    ev = CommandInvoked(platform, app.clock.now(), member_id="UMOD", command="nudge", args=(f"<@{member_id}>",),
                        platform_admin=True)
    return await cmds.handle(ev)


async def test_opted_out_member_is_never_nudged(make_app, tmp_path):
    app = await make_app(playbooks_dir=community_playbooks(tmp_path), start=START)
    c, now, q = await quiet_community(app)
    await app.store.set_preferences("slack", "ULURK1", now=now, opted_out=True)
    await app.engine.fire_schedule("lurkers", now)
    assert dms_to(app, "ULURK1") == []
    assert len(dms_to(app, "ULURK2")) == 1  # control
    # not by a manager's /steward nudge either
    reply = await nudge_cmd(app, "ULURK1")
    assert dms_to(app, "ULURK1") == []
    assert "opted out" in reply.text


async def test_optout_after_queueing_stops_the_dm(make_app, tmp_path):
    app = await make_app(playbooks_dir=community_playbooks(tmp_path), start=START, outreach={"quiet_hours": "09:00-12:00"})
    c, now, q = await quiet_community(app)
    await app.engine.fire_schedule("lurkers", now)  # deferred by quiet hours
    assert dms_to(app, "ULURK1") == []
    await app.store.set_preferences("slack", "ULURK1", now=now, opted_out=True)
    app.clock.advance_to(now + timedelta(hours=3))
    await app.delivery.drain()
    assert dms_to(app, "ULURK1") == []
    assert len(dms_to(app, "ULURK2")) == 1  # control


async def test_one_nudge_per_member_per_period(make_app, tmp_path):
    app = await make_app(playbooks_dir=community_playbooks(tmp_path), start=START)
    c, now, q = await quiet_community(app)
    r0 = await nudge_cmd(app, "ULURK1")
    assert len(dms_to(app, "ULURK1")) == 1, r0.text
    app.clock.advance_to(now + timedelta(days=10))
    await c.say("UASK", "Is there a way to run the tests offline?", at=now + timedelta(days=10))
    reply = await nudge_cmd(app, "ULURK1")
    assert len(dms_to(app, "ULURK1")) == 1
    assert "already nudged in the last 30 days" in reply.text
    app.clock.advance_to(now + timedelta(days=31))
    await c.say("UASK", "Which version should I use for production right now?", at=now + timedelta(days=31))
    reply = await nudge_cmd(app, "ULURK1")
    assert len(dms_to(app, "ULURK1")) == 2, reply.text


async def test_automated_dm_cap_counts_every_playbook(make_app, tmp_path):
    app = await make_app(playbooks_dir=community_playbooks(tmp_path), start=START)
    c, now, q = await quiet_community(app)
    for i in range(2):
        msg = OutboundMessage("slack", "dm", text=f"hello {i}", member_id="ULURK1", dedupe_key=f"other:{i}")
        await app.outbox.submit(msg, playbook_id="welcome", action="send_dm", reason="test", automated=True)
    assert len(dms_to(app, "ULURK1")) == 2
    await app.engine.fire_schedule("lurkers", now)
    assert len(dms_to(app, "ULURK1")) == 2  # the cap of two automated DMs in 30 days
    assert len(dms_to(app, "ULURK2")) == 1  # control


async def test_quiet_hours_in_the_members_own_time_zone(make_app, tmp_path):
    # 10:00 UTC is 19:00 in Tokyo: fine; 13:00 UTC is 22:00 there: quiet until 09:00 Tokyo (00:00 UTC)
    app = await make_app(playbooks_dir=community_playbooks(tmp_path), start=START)
    c, now, q = await quiet_community(app, lurker_tz="Asia/Tokyo")
    later = now + timedelta(hours=3)
    app.clock.advance_to(later)
    await app.engine.fire_schedule("lurkers", later)
    assert dms_to(app, "ULURK1") == []
    assert len(dms_to(app, "ULURK2")) == 1  # control: UTC, 13:00
    app.clock.advance_to(T0.replace(hour=23, minute=59))
    await app.delivery.drain()
    assert dms_to(app, "ULURK1") == []
    app.clock.advance_to(T0.replace(hour=0) + timedelta(days=1))
    await app.delivery.drain()
    assert len(dms_to(app, "ULURK1")) == 1


async def test_hourly_budget_spreads_dms(make_app, tmp_path):
    app = await make_app(playbooks_dir=community_playbooks(tmp_path), start=START, outreach={"hourly_budget": 1})
    c, now, q = await quiet_community(app)
    await app.engine.fire_schedule("lurkers", now)
    sent = [m for m in app.outbox.gateways["slack"].sent if m.kind == "dm"]
    assert len(sent) == 1
    app.clock.advance_to(now + timedelta(hours=1, minutes=5))
    await app.delivery.drain()
    assert len([m for m in app.outbox.gateways["slack"].sent if m.kind == "dm"]) == 2


async def test_staff_and_members_with_open_cases_are_never_nudged(make_app, tmp_path):
    from bot.core.records import Member

    app = await make_app(playbooks_dir=community_playbooks(tmp_path), start=START)
    c, now, q = await quiet_community(app)
    await app.store.upsert_member(Member("slack", "ULURK1", "Lena Quiet", is_staff=True))
    async with app.store.database.begin() as conn:
        await conn.execute(insert(ModerationCaseRow.__table__).values(
            platform="slack", member_id="ULURK2", incident_key="k1", rule="flood", status="open",
            opened_at=now, updated_at=now))
    await app.engine.fire_schedule("lurkers", now)
    assert dms_to(app, "ULURK1") == [] and dms_to(app, "ULURK2") == []
    r1, r2 = await nudge_cmd(app, "ULURK1"), await nudge_cmd(app, "ULURK2")
    assert dms_to(app, "ULURK1") == [] and dms_to(app, "ULURK2") == []
    assert "staff are never nudged" in r1.text and "open moderation case" in r2.text


def _many_lurkers_playbooks(tmp_path):
    """The shipped lurkers playbook, allowed to nudge a whole crowd in one tick."""
    d = community_playbooks(tmp_path)
    pb = d / "lurkers.yaml"
    text = pb.read_text()
    assert "limit: 20" in text and "per_hour: 20\n" in text
    pb.write_text(text.replace("limit: 20", "limit: 100").replace("  per_hour: 20\n", ""))
    return d


async def test_hourly_budget_holds_when_workers_send_at_once(make_app, tmp_path, db_url):
    """57 nudges due together, a budget of 30: the live worker decides many rows at once, and the
    budget counts places taken (not only rows already sent), so 30 go out in the hour and 27 wait."""
    import asyncio

    from bot.delivery.options import DeliveryOptions
    from bot.delivery.worker import DeliveryWorker

    app = await make_app(db_url, playbooks_dir=_many_lurkers_playbooks(tmp_path), start=START)
    assert app.settings.outreach.hourly_budget == 30
    c, now, q = await quiet_community(app)
    lurkers = [f"ULURKX{i:02d}" for i in range(55)]
    for i, mid in enumerate(lurkers):
        await c.join(mid, f"Quiet Member {i}", at=START, tz="UTC")
    app.clock.advance_to(now)
    worker = DeliveryWorker(app.outbox, DeliveryOptions(poll_seconds=0.05, pacing=False, concurrency=32))
    app.outbox.sender = None  # queued for the live loop below, as in `steward run`
    await app.engine.fire_schedule("lurkers", now)
    queued = [i for i in await app.store.outbox() if i.action == "send_nudge"]
    assert len(queued) == 57
    stop = asyncio.Event()
    run = asyncio.create_task(worker.run(stop))
    for _ in range(400):
        rows = await app.store.outbox()
        if not any(r.status == "sending" or (r.status == "pending" and r.not_before <= now) for r in rows):
            break
        await asyncio.sleep(0.05)
    stop.set()
    await run
    sent = [m for m in app.outbox.gateways["slack"].sent if m.kind == "dm"]
    assert len(sent) == 30
    waiting = [r for r in await app.store.outbox(status="pending") if r.action == "send_nudge"]
    assert len(waiting) == 27 and {r.error for r in waiting} == {"hourly outreach budget spent"}
    # an hour after the first places were taken, the next ones free up
    app.clock.advance_to(now + timedelta(hours=1, seconds=1))
    await worker.drain()
    assert len([m for m in app.outbox.gateways["slack"].sent if m.kind == "dm"]) == 57


@pytest.mark.parametrize("platform", ["slack", "discord"])
async def test_a_wave_of_300_joins_is_welcomed_without_waiting_for_the_outreach_budget(make_app, platform):
    """The budget is for unsolicited DMs; a welcome answers the member's own join. 300 joins within
    a few minutes get their 300 welcome DMs ten minutes after joining, not over ten hours."""
    app = await make_app()
    assert app.settings.outreach.hourly_budget == 30
    for i in range(300):
        at = T0 + timedelta(seconds=i)
        app.clock.advance_to(at)
        await app.engine.dispatch(MemberJoined(platform, at, member_id=f"9{i:05d}", display_name=f"Newcomer {i}"))
    app.clock.advance_to(T0 + timedelta(minutes=16))
    await app.delivery.drain()
    dms = [m for m in app.outbox.gateways[platform].sent if m.kind == "dm"]
    assert len(dms) == 300 and len({m.member_id for m in dms}) == 300
    assert to_plain(dms[-1].text).startswith("Hi Newcomer 299, welcome to Test Garden!")
    # what still waits is the journey's later steps, days away
    now = app.clock.now()
    assert [i for i in await app.store.outbox(status="pending") if i.not_before <= now] == []


async def test_scheduled_dms_wait_for_the_budget_but_welcomes_do_not(make_app, tmp_path):
    """What counts against the budget: a lurker nudge yes; a welcome, sent the same hour, no."""
    d = community_playbooks(tmp_path)
    from tests.conftest import ROOT

    (d / "welcome.yaml").write_text((ROOT / "playbooks" / "welcome.yaml").read_text())
    app = await make_app(playbooks_dir=d, start=START, outreach={"hourly_budget": 1})
    c, now, q = await quiet_community(app)  # the four members are welcomed too, 60 days earlier
    await app.engine.fire_schedule("lurkers", now)

    def dms(prefix):
        return [m.member_id for m in app.outbox.gateways["slack"].sent
                if m.kind == "dm" and m.dedupe_key.startswith(prefix)]

    assert len(dms("lurkers:")) == 1  # the budget of one; the other nudge waits
    await c.join("UNEW", "Nina New", at=now)
    app.clock.advance_to(now + timedelta(minutes=10))
    await app.delivery.drain()
    assert "UNEW" in dms("welcome:")
    assert len(dms("lurkers:")) == 1
