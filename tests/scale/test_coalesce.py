"""Many events at once on PostgreSQL: the store answers concurrent one-row requests from shared
statements, and every caller gets the answer it would have got alone."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.events import MemberJoined
from bot.core.records import OutboundMessage

pytestmark = [pytest.mark.postgres]

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


async def test_members_joining_again_at_once_are_each_a_first_join_once(store):
    joins = [MemberJoined("slack", NOW + timedelta(seconds=i), member_id=f"U{i % 10:03d}",
                          display_name=f"Member {i % 10}") for i in range(30)]
    facts = await asyncio.gather(*(store.record(ev) for ev in joins))
    firsts = [ev.member_id for ev, f in zip(joins, facts, strict=True) if f["first_join"]]
    assert sorted(firsts) == [f"U{i:03d}" for i in range(10)]
    assert store._members._insert_new_many.statements < len(joins)  # shared statements, not one each
    m = await store.get_member("slack", "U004")
    assert m is not None and m.display_name == "Member 4"
    assert await store.count("members") == 10


async def test_a_run_key_claimed_by_many_at_once_is_granted_once(store):
    keys = [f"welcome:slack:U{i % 7}:once" for i in range(35)]
    got = await asyncio.gather(*(store.claim_run(run_key=k, playbook_id="welcome", platform="slack",
                                                 subject=k.split(":")[2], period="once", now=NOW) for k in keys))
    granted = [k for k, ok in zip(keys, got, strict=True) if ok]
    assert sorted(granted) == sorted(set(keys))
    # and later, alone, it is still taken
    assert await store.claim_run(run_key=keys[0], playbook_id="welcome", platform="slack", subject="U0",
                                 period="once", now=NOW) is False


async def test_messages_queued_at_once_each_once_and_a_bad_one_fails_alone(store):
    def dm(i: int, text: str = "Welcome!") -> OutboundMessage:
        return OutboundMessage(platform="slack", kind="dm", text=text, member_id=f"U{i}",
                               dedupe_key=f"welcome:slack:U{i}:once:0")

    msgs = [dm(i % 8) for i in range(24)] + [dm(99, "bad \x00 text")]
    results = await asyncio.gather(*(store.enqueue(m, playbook_id="welcome", action="send_dm", reason="joined",
                                                   status="pending", not_before=NOW, now=NOW, automated=True)
                                     for m in msgs), return_exceptions=True)
    assert isinstance(results[-1], Exception)  # the row PostgreSQL refuses fails alone ...
    ids = results[:-1]
    assert all(isinstance(i, int) for i in ids[:8]) and all(i is None for i in ids[8:])  # ... the rest go in once
    rows = await store.outbox(status="pending")
    assert sorted(r.message.member_id for r in rows) == [f"U{i}" for i in range(8)]
    assert all(r.automated for r in rows)
    assert {r.id for r in rows} == set(ids[:8])


async def test_preferences_read_together_each_member_their_own(store):
    await store.set_preferences("slack", "U2", now=NOW, opted_out=True)
    await store.set_preferences("slack", "U3", now=NOW, locale="nl")
    prefs = await asyncio.gather(*(store.preferences("slack", f"U{i}") for i in (1, 2, 3, 2, 4)))
    assert [(p.member_id, p.opted_out, p.locale) for p in prefs] == [
        ("U1", False, None), ("U2", True, None), ("U3", False, "nl"), ("U2", True, None), ("U4", False, None)]


async def test_dm_caps_of_rows_claimed_together_each_counted_on_its_own(store, pg_url):
    from bot.delivery.policies import OutreachLimits
    from tests.conftest import test_settings

    settings = test_settings(pg_url, outreach={"quiet_hours": "off", "automated_dms_per_member": 2})
    limits = OutreachLimits(store, settings)
    for n, member in enumerate(["U1", "U1", "U2", "U1"]):
        msg = OutboundMessage(platform="slack", kind="dm", text="Hello", member_id=member,
                              dedupe_key=f"outreach:{n}")
        await store.enqueue(msg, playbook_id=f"p{n}", action="send_dm", reason="r", status="pending",
                            not_before=NOW, now=NOW, automated=True)
    items = await store.outbox(status="pending")
    decisions = await asyncio.gather(*(limits.decide(i, NOW) for i in items))
    verdicts = [(i.message.member_id, d.verdict) for i, d in zip(items, decisions, strict=True)]
    assert verdicts == [("U1", "send"), ("U1", "send"), ("U2", "send"), ("U1", "skip")]
    assert "2 automated DMs" in decisions[-1].reason
