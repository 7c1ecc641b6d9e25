"""The durable inbox on PostgreSQL: events stored together, a refused one fails alone, claims never
overlap between instances, and a claim takes no more rows than asked."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest

from bot.storage import db
from bot.storage.inbox import Inbox
from bot.storage.repositories import Store

pytestmark = [pytest.mark.postgres]

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def _body(i: int) -> str:
    return json.dumps({"type": "event_callback", "event_id": f"Ev{i}", "event": {"type": "team_join", "n": i}})


async def test_events_stored_together_and_a_refused_one_fails_alone(store):
    inbox = Inbox(store, "slack", worker="a:1")
    bodies = [_body(i) for i in range(12)] + ["text PostgreSQL refuses \x00"]
    got = await asyncio.gather(*(inbox.put(b, event_id=None, received_at=NOW) for b in bodies),
                               return_exceptions=True)
    assert isinstance(got[-1], Exception)  # this one is not acknowledged: Slack sends it again
    assert got[:-1] == [None] * 12  # the others are stored and may be acknowledged
    assert await inbox.pending() == 12


async def test_two_instances_claim_disjoint_batches_no_larger_than_asked(store, pg_url):
    other = Store(db.create_engine(pg_url))
    try:
        a = Inbox(store, "slack", worker="a:1", batch=5)
        b = Inbox(other, "slack", worker="b:1", batch=5)
        await asyncio.gather(*(a.put(_body(i), event_id=None, received_at=NOW) for i in range(23)))
        seen: list[int] = []
        while True:
            ra, rb = await asyncio.gather(a.claim(), b.claim())
            if not ra and not rb:
                break
            assert len(ra) <= 5 and len(rb) <= 5
            seen += [json.loads(r.body)["event"]["n"] for r in ra + rb]
        assert sorted(seen) == list(range(23))  # every event claimed, none twice
    finally:
        await other.database.dispose()


async def test_a_row_goes_only_once_what_its_handler_buffered_is_written(store):
    """The handler leaves message rows in the store's write buffer; an event's inbox row is deleted
    only after they are committed, and stays (to be processed again) when writing them fails."""
    from sqlalchemy import text

    from bot.core.events import MessagePosted

    inbox = Inbox(store, "slack", worker="a:1", lease_s=0.2)
    await asyncio.gather(*(inbox.put(_body(i), event_id=None, received_at=NOW) for i in range(3)))

    async def handler(body, received_at, only=None):
        n = body["event"]["n"]
        await store.record(MessagePosted("slack", NOW, channel_id="C1", message_id=f"1700000000.{n:06d}",
                                         author_id="U1", text=f"hello {n}", thread_id=None, mentions=(),
                                         is_bot=False))

    async def database_away():
        raise OSError("database away")

    async def run_until_processed(before_done):
        stop = asyncio.Event()
        inbox.processed = 0
        task = asyncio.create_task(inbox.run(handler, stop, poll_s=0.05, before_done=before_done))
        for _ in range(200):
            if inbox.processed >= 3:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await task

    await run_until_processed(database_away)
    assert await inbox.pending() == 3  # the buffered rows were not written: the events stay
    store._messages._msg_buf.clear()  # as after a crash: what was buffered is gone
    await asyncio.sleep(0.3)  # the claims run out
    await run_until_processed(store.flush)
    assert await inbox.pending() == 0
    async with store.database.connect() as conn:
        texts = sorted((await conn.execute(text("SELECT text FROM messages"))).scalars())
    assert texts == ["hello 0", "hello 1", "hello 2"]
