"""Never twice, never lost, on Slack: a post Slack carried out but answered with a 500, answered too
late, or whose connection dropped before the answer, is looked up before it is sent again."""

from __future__ import annotations

import aiohttp
import pytest

from bot.core.records import OutboundMessage
from tests.fakes.slack_requests import block_actions, event_callback
from tests.slack.conftest import eventually, until

MEMBERS = [f"U{i:03d}" for i in range(12)]


async def _queue_dms(bot) -> None:
    for m in MEMBERS:
        msg = OutboundMessage("slack", "dm", text=f"Welcome, <@{m}>!", member_id=m, dedupe_key=f"welcome:{m}")
        await bot.app.outbox.submit(msg, playbook_id="welcome", action="send_dm", reason="joined",
                                    deliver_now=False)


async def _deliver_until_settled(bot, rounds: int = 12) -> None:
    await bot.deliver()
    for _ in range(rounds):
        if not [i for i in await bot.app.store.outbox() if i.status in ("pending", "sending")]:
            return
        await bot.later(minutes=2)


@pytest.mark.parametrize("fault", ["500", "not json", "late", "reset"])
async def test_each_member_gets_exactly_one_dm_when_slack_accepts_but_the_answer_is_lost(
        start_bot, fake, db_url, fault):
    bot = await start_bot("http", db_url=db_url)
    # the client gives up on an answer after a second; the fake answers the late posts after two
    short = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1))
    bot.adapter.gateway.client.session = short
    try:
        await _lost_answers(bot, fake, fault)
    finally:
        await short.close()


async def _lost_answers(bot, fake, fault: str) -> None:
    for m in MEMBERS[::3]:  # every third post is made by Slack, but its answer is bad
        where = {"match": {"channel": fake.dm_channel(m)}}
        if fault == "500":
            fake.accept_then("chat.postMessage", status=500, **where)
        elif fault == "not json":
            fake.accept_then("chat.postMessage", status=502, raw_body="<html>502 Bad Gateway</html>", **where)
        elif fault == "late":
            fake.accept_then("chat.postMessage", status=200, delay=2.0, **where)
        else:
            fake.accept_then("chat.postMessage", reset=True, **where)
    await _queue_dms(bot)
    await _deliver_until_settled(bot)
    got = {m: [d["text"] for d in fake.stored_dms_to(m)] for m in MEMBERS}
    assert got == {m: [f"Welcome, <@{m}>!"] for m in MEMBERS}
    rows = await bot.app.store.outbox()
    assert [r.status for r in rows] == ["sent"] * len(MEMBERS)
    # the rows point at the messages Slack holds, also where the answer was lost
    assert sorted(r.native_id for r in rows) == sorted(d["ts"] for m in MEMBERS for d in fake.stored_dms_to(m))


async def test_a_post_that_was_not_made_is_sent_after_the_look_up(start_bot, fake):
    bot = await start_bot("http")
    # a 500 before Slack did anything: the look-up finds nothing and the DM goes out once
    fake.fail("chat.postMessage", "internal_error", status=500)
    await _queue_dms(bot)
    await _deliver_until_settled(bot)
    assert {m: len(fake.stored_dms_to(m)) for m in MEMBERS} == {m: 1 for m in MEMBERS}
    assert len(fake.calls_to("conversations.history")) == 1


async def test_a_failed_look_up_never_sends_blind(start_bot, fake):
    bot = await start_bot("http")
    fake.accept_then("chat.postMessage", status=500, match={"channel": fake.dm_channel(MEMBERS[0])})
    fake.fail("conversations.history", "internal_error", status=500, times=2)
    await _queue_dms(bot)
    await bot.deliver()
    [row] = [r for r in await bot.app.store.outbox() if r.message.member_id == MEMBERS[0]]
    assert row.status == "pending" and row.unsure and row.error.startswith("outcome unknown")
    await bot.later(minutes=2)
    [row] = [r for r in await bot.app.store.outbox() if r.message.member_id == MEMBERS[0]]
    assert row.status == "pending" and row.unsure and "checking failed" in row.error
    await _deliver_until_settled(bot)
    assert len(fake.stored_dms_to(MEMBERS[0])) == 1
    [row] = [r for r in await bot.app.store.outbox() if r.message.member_id == MEMBERS[0]]
    assert row.status == "sent" and not row.unsure


MANAGERS = {"slack_user_ids": ["UMOD"]}


@pytest.mark.parametrize("mode", ["socket", "http"])
async def test_a_click_delivered_six_times_is_answered_six_times_and_acts_once(start_bot, fake, db_url, mode):
    fake.usergroups["S0AMB"] = []
    bot = await start_bot(mode, db_url=db_url, managers=MANAGERS, slack={"ambassador_usergroup": "S0AMB"})
    click = block_actions(user_id="UMOD", action_id="steward:approve:0:0", value="slack|UHELP", channel_id="CMODS",
                          label="Approve", response_url=fake.response_url("approve"))
    for _ in range(6):  # Slack's retries, or the same signed request replayed
        if mode == "http":
            status, _ = await bot.http.interaction(click)
            assert status == 200
        else:
            await fake.send_envelope("interactive", click)
    await bot.settle(6)
    await bot.deliver()
    assert [p["text"] for p in fake.posted("CMODS")] == [
        "<@UMOD> approved <@UHELP> as an ambassador; the invitation is on its way."]
    assert fake.usergroups["S0AMB"] == ["UHELP"] and len(fake.dms_to("UHELP")) == 1
    answers = await eventually(lambda: len(fake.responses) >= 6 and fake.responses)
    assert sorted(a["text"] for a in answers) == ["That was already done. Nothing was changed."] * 5 + [
        "You chose *Approve*."]
    audit = [a["action"] for a in await bot.app.store.audit_log()]
    assert audit.count("button:approve") == 1


async def test_a_reaction_delivered_twice_is_one_reaction(start_bot, fake, db_url):
    from sqlalchemy import func, select

    from bot.storage.messages import R

    bot = await start_bot("http", db_url=db_url)
    ev = {"type": "reaction_added", "user": "U2", "reaction": "white_check_mark", "item_user": "U1",
          "item": {"type": "message", "channel": "CHELP", "ts": "1772445600.000100"}, "event_ts": "1772445601.000200"}
    body = event_callback(ev)
    await bot.http.event(body)
    await bot.http.event(body)  # Slack's retry of the same event
    await bot.http.event(event_callback(ev))  # the same reaction in a second delivery
    await bot.settle(3)
    await bot.app.store.flush()
    async with bot.app.store.database.connect() as conn:
        rows = (await conn.execute(select(R.c.member_id, R.c.emoji, func.count()).group_by(
            R.c.member_id, R.c.emoji))).all()
    assert [tuple(r) for r in rows] == [("U2", "white_check_mark", 1)]


def _channel_join(user: str, channel: str) -> dict:
    return {"type": "member_joined_channel", "user": user, "channel": channel, "channel_type": "C",
            "team": "T0FAKE", "event_ts": "1772445601.000300"}


async def _deliver(bot, mode: str, event: dict) -> None:
    """One event as Slack delivers it in ``mode``: acknowledged (200, or the envelope's ack)."""
    if mode == "http":
        status, _ = await bot.http.event(event_callback(event))
        assert status == 200
    else:
        ack = await bot.fake.send_envelope("events_api", event_callback(event))
        assert ack["envelope_id"].startswith("env-")


@pytest.mark.parametrize("mode", ["socket", "http"])
async def test_an_event_whose_handler_hits_a_transient_error_is_retried_and_the_welcome_arrives(
        start_bot, fake, db_url, mode):
    bot = await start_bot(mode, db_url=db_url)
    bot.adapter.inbox.retry_base_s = 0.05
    # Slack is unreachable for a moment: the welcome's lookup of the channel's name fails
    fault = fake.fail("conversations.info", "", reset=True, times=None)
    await _deliver(bot, mode, _channel_join("U777", "CWELCOME"))
    await bot.settle(1, timeout=15)  # the event went through the engine once, and failed
    assert fake.posted("CWELCOME") == []
    fake.faults.remove(fault)  # Slack is back
    welcome = await eventually(lambda: fake.posted("CWELCOME"), timeout=20)
    assert [p["text"] for p in welcome] == ["Welcome, <@U777>! Glad you're here."]
    assert await eventually(lambda: bot.adapter.inbox.processed >= 1, timeout=5)
    assert await bot.adapter.inbox.pending() == 0


@pytest.mark.parametrize("mode", ["socket", "http"])
async def test_an_event_given_up_on_is_kept_with_its_reason_for_the_managers(start_bot, fake, db_url, mode):
    from bot.storage.cli import failure_report
    from bot.storage.inbox import failures

    bot = await start_bot(mode, db_url=db_url)
    inbox = bot.adapter.inbox
    inbox.retry_base_s, inbox.retry_max_s, inbox.max_transient = 0.01, 0.05, 3
    fake.fail("conversations.info", "", reset=True, times=None)  # Slack does not come back
    await _deliver(bot, mode, _channel_join("U778", "CWELCOME"))

    async def given_up():
        return await failures(bot.app.store)

    [row] = await until(given_up, timeout=30)
    assert fake.posted("CWELCOME") == []
    assert row.platform == "slack" and row.event_type == "member_joined_channel"
    assert row.error.startswith("gave up after 3 attempt(s): playbook welcome: ")
    assert "ServerDisconnectedError" in row.error or "ClientOSError" in row.error
    assert await bot.adapter.inbox.pending() == 0
    # what `steward failures` shows the managers
    [line] = await failure_report(bot.app.store)
    assert line.endswith(f"event  slack member_joined_channel {row.event_id}: {row.error}")
