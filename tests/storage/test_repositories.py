"""Repositories on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.core.errors import SchemaNotMigrated
from bot.core.events import (
    MemberJoined,
    MemberLeft,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    ReactionAdded,
)
from bot.core.records import Member, OutboundMessage
from bot.storage import db
from bot.storage.repositories import Store
from tests.conftest import T0


@pytest.fixture
async def store(db_url):
    eng = db.create_engine(db_url)
    await db.ensure_schema(eng, auto_upgrade=True)
    s = Store(eng, batch_size=3)
    yield s
    await eng.dispose()


async def test_messages_are_buffered_and_deduplicated(store):
    for i in range(5):
        await store.record(MessagePosted("slack", T0 + timedelta(seconds=i), channel_id="C1", message_id=f"1.{i}",
                                         author_id="U1", text=f"m{i}", mentions=("U2",)))
    # a redelivered event is not a second message
    await store.record(MessagePosted("slack", T0, channel_id="C1", message_id="1.0", author_id="U1", text="m0"))
    assert await store.count("messages") == 5
    await store.record(MessageEdited("slack", T0, channel_id="C1", message_id="1.1", author_id="U1", text="edited"))
    await store.record(MessageDeleted("slack", T0, channel_id="C1", message_id="1.2"))
    await store.record(ReactionAdded("slack", T0, channel_id="C1", message_id="1.1", member_id="U2", emoji="tada"))
    assert await store.count("reactions") == 1


async def test_first_join_and_rejoin(store):
    f1 = await store.record(MemberJoined("discord", T0, member_id="1", display_name="A"))
    f2 = await store.record(MemberJoined("discord", T0 + timedelta(days=1), member_id="1", display_name="A2"))
    assert f1["first_join"] is True and f2["first_join"] is False
    m = await store.get_member("discord", "1")
    assert m is not None and m.display_name == "A2" and m.joined_at == T0 + timedelta(days=1)


async def test_first_join_is_decided_by_event_times_not_by_processing_order(store):
    later = T0 + timedelta(minutes=5)
    # listed by the platform's member list (no date): a channel join is not a first join, the
    # workspace join (team_join, sent only for newcomers) is
    await store.add_members_bulk([Member("slack", "ULIST", "Listed"), Member("slack", "UNEW", "New")])
    assert (await store.record(MemberJoined("slack", T0, member_id="ULIST", channel_id="C1")))["first_join"] is False
    assert (await store.record(MemberJoined("slack", T0, member_id="UNEW")))["first_join"] is True
    # first seen leaving: a join after the leave is a rejoin ...
    await store.record(MemberLeft("slack", T0, member_id="ULEFT", channel_id="C1"))
    assert (await store.record(MemberJoined("slack", later, member_id="ULEFT", channel_id="C2")))["first_join"] is False
    # ... a join before it, handled after it, is still the first
    await store.record(MemberLeft("discord", later, member_id="D1"))
    assert (await store.record(MemberJoined("discord", T0, member_id="D1")))["first_join"] is True
    assert (await store.record(MemberJoined("discord", later, member_id="D1")))["first_join"] is False
    # first seen by a message: its own join, handled after it, is still the first
    await store.upsert_member(Member("slack", "UMSG", "Cas"), seen_at=later)
    assert (await store.record(MemberJoined("slack", T0, member_id="UMSG", channel_id="C1")))["first_join"] is True
    assert (await store.record(MemberJoined("slack", later, member_id="UMSG", channel_id="C3")))["first_join"] is False


async def test_a_member_list_pass_remembers_its_cursor_and_the_last_complete_pass(store):
    run = await store.member_list_pass("slack", "T1", now=T0)
    assert (run.cursor, run.completed_at) == (None, None)
    await store.member_list_page_done("slack", "T1", "page2", 200)
    run = await store.member_list_pass("slack", "T1", now=T0 + timedelta(minutes=1))  # a restart
    assert (run.cursor, run.members, run.completed_at) == ("page2", 200, None)
    await store.member_list_page_done("slack", "T1", None, 50, completed_at=T0 + timedelta(minutes=2))
    # the next pass starts at the beginning, and still knows the list was read to the end before
    run = await store.member_list_pass("slack", "T1", now=T0 + timedelta(hours=1))
    assert (run.cursor, run.members, run.completed_at) == (None, 0, T0 + timedelta(minutes=2))
    await store.member_list_page_done("slack", "T1", "page2", 200)
    run = await store.member_list_pass("slack", "T1", now=T0 + timedelta(hours=2))  # a restart mid-pass
    assert (run.cursor, run.members, run.completed_at) == ("page2", 200, T0 + timedelta(minutes=2))


async def test_member_enrichment_keeps_native_ids(store):
    await store.upsert_member(Member("slack", "U0ABC", "Noor", locale="nl", timezone="Europe/Amsterdam"))
    m = await store.get_member("slack", "U0ABC")
    assert (m.member_id, m.display_name, m.locale, m.timezone) == ("U0ABC", "Noor", "nl", "Europe/Amsterdam")
    assert m.joined_at is None or m.joined_at.tzinfo is not None


async def test_run_keys_and_outbox_keys_are_unique(store):
    kw = dict(run_key="welcome:slack:U1:once", playbook_id="welcome", platform="slack", subject="U1",
              period="once", now=T0)
    assert await store.claim_run(**kw) is True
    assert await store.claim_run(**kw) is False
    msg = OutboundMessage("slack", "dm", "hi", member_id="U1", dedupe_key="k1")
    a = await store.enqueue(msg, playbook_id="welcome", action="send_dm", reason="r", status="pending",
                            not_before=T0, now=T0)
    b = await store.enqueue(msg, playbook_id="welcome", action="send_dm", reason="r", status="pending",
                            not_before=T0, now=T0)
    assert a is not None and b is None
    claimed = await store.claim_due(now=T0, limit=10, worker="w1")
    assert [i.dedupe_key for i in claimed] == ["k1"]
    assert await store.claim_due(now=T0, limit=10, worker="w2") == []  # claimed rows are not claimed again
    await store.mark_outbox(a, status="sent", now=T0, native_id="123.4")
    item = await store.outbox_item(a)
    assert item.status == "sent" and item.native_id == "123.4" and item.sent_at == T0


async def test_preferences_and_audit(store):
    p = await store.set_preferences("slack", "U1", now=T0, opted_out=True)
    assert p.opted_out
    p = await store.set_preferences("slack", "U1", now=T0, locale="nl")
    assert p.opted_out and p.locale == "nl"
    await store.audit(at=T0, actor="U9", action="command:stats", platform="slack", detail={"args": []})
    log = await store.audit_log()
    assert log[0]["actor"] == "U9" and log[0]["action"] == "command:stats" and log[0]["at"] == T0


async def test_unmigrated_postgres_is_refused_with_a_clear_message(empty_pg_url):
    eng = db.create_engine(empty_pg_url)
    try:
        with pytest.raises(SchemaNotMigrated) as e:
            await db.ensure_schema(eng, auto_upgrade=False)
    finally:
        await eng.dispose()
    assert "steward db upgrade" in str(e.value) and "has no Steward schema" in str(e.value)
    assert "postgres@127.0.0.1" in str(e.value) or "127.0.0.1" in str(e.value)


async def test_hostile_text_is_stored_without_losing_the_batch(store):
    texts = ["fine", "lone \ud800 surrogate", "nul \x00 byte", "after"]
    for i, t in enumerate(texts):
        await store.record(MessagePosted("slack", T0 + timedelta(seconds=i), channel_id="C9", message_id=f"9.{i}",
                                         author_id="U1", text=t))
    await store.flush()
    assert await store.count("messages") == 4
    from sqlalchemy import text as sql

    async with store.database.connect() as conn:
        rows = [r[0] for r in (await conn.execute(sql("SELECT text FROM messages WHERE channel_id = 'C9' "
                                                      "ORDER BY message_id"))).all()]
    assert rows == ["fine", "lone \ufffd surrogate", "nul \ufffd byte", "after"]


async def test_concurrent_first_joins_of_one_member_do_not_fail(store):
    import asyncio

    evs = [MemberJoined("slack", T0, member_id="URACE", display_name="R"),
           MemberJoined("slack", T0, member_id="URACE", display_name="R", channel_id="C1")]
    facts = await asyncio.gather(*(store.record(e) for e in evs))
    assert sum(bool(f.get("first_join")) for f in facts) >= 1
    assert (await store.get_member("slack", "URACE")) is not None


async def test_a_batch_written_behind_that_fails_is_kept_and_written_later(store):
    """A full buffer is written in the background; when that write fails, no message is lost: the
    error surfaces at the next flush, and the rows go in once the database takes them again."""
    from sqlalchemy import text as sql

    async with store.database.begin() as conn:
        await conn.execute(sql("ALTER TABLE messages RENAME TO messages_away"))
    for i in range(4):  # the third fills the buffer (batch_size=3) and starts a write that fails
        await store.record(MessagePosted("slack", T0 + timedelta(seconds=i), channel_id="C7", message_id=f"7.{i}",
                                         author_id="U1", text=f"line {i}"))
    with pytest.raises(Exception, match="messages"):
        await store.flush()
    async with store.database.begin() as conn:
        await conn.execute(sql("ALTER TABLE messages_away RENAME TO messages"))
    await store.flush()
    async with store.database.connect() as conn:
        rows = [r[0] for r in (await conn.execute(sql("SELECT text FROM messages WHERE channel_id = 'C7' "
                                                      "ORDER BY message_id"))).all()]
    assert rows == ["line 0", "line 1", "line 2", "line 3"]
