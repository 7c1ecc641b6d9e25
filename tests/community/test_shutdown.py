"""A clean stop keeps what the features had buffered: the questions seen and who answered them."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text as sql

from tests.community.helpers import START, Community
from tests.conftest import T0


async def test_closing_the_app_writes_the_question_state_it_had_buffered(make_app, tmp_path):
    url = f"sqlite:///{tmp_path / 'kept.db'}"
    app = await make_app(url, start=START)
    c = Community(app)
    await c.join("UASK", "Asker", at=START)
    await c.join("UHELP", "Helper", at=START)
    q = await c.say("UASK", "How do I mount a USB stick on the server?", at=T0)
    await c.say("UHELP", "<@UASK>: plug it in and run lsblk, then mount /dev/sdb1", at=T0 + timedelta(minutes=2),
                mentions=("UASK",))
    await app.close()  # what `steward run` does on SIGTERM

    again = await make_app(url, start=T0)
    async with again.store.database.connect() as conn:
        rows = (await conn.execute(sql("SELECT message_id, status, answered_by FROM questions"))).all()
    assert [(r.message_id, r.status) for r in rows] == [(q, "answered")]
    assert "UHELP" in rows[0].answered_by
