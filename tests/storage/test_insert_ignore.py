"""A batch written with insert-ignore may hold rows naming different columns: a question asked
and one asked and resolved before the batch was written go in together."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.community.questions import QT
from bot.storage import db
from bot.storage.repositories import Store
from tests.conftest import T0


def _question(mid: str, **extra) -> dict:
    return {"platform": "slack", "channel_id": "C1", "message_id": mid, "author_id": "U1", "asked_at": T0,
            "status": "open", "answered_by": [], "first_response_at": None, "tier": 0, **extra}


async def test_rows_with_different_columns_go_in_one_batch(db_url):
    eng = db.create_engine(db_url)
    try:
        await db.ensure_schema(eng, auto_upgrade=True)
        store = Store(eng)
        resolved = _question("1.0", status="resolved", resolved_by="U1", resolved_at=T0 + timedelta(minutes=3))
        async with eng.begin() as conn:
            await store.insert_ignore(conn, QT, [resolved, _question("1.1"), _question("1.0")],
                                      ("platform", "channel_id", "message_id"))
        async with eng.connect() as conn:
            rows = {r.message_id: r for r in (await conn.execute(select(QT))).all()}
    finally:
        await eng.dispose()
    assert set(rows) == {"1.0", "1.1"}
    assert rows["1.0"].status == "resolved" and rows["1.0"].resolved_by == "U1"
    assert rows["1.1"].status == "open" and rows["1.1"].resolved_by is None and rows["1.1"].resolved_at is None
