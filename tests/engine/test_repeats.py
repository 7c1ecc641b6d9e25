"""A message delivered twice (a platform's retry, a redelivered Socket Mode envelope) is handled
once: no observer counts it again. Real SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.core.events import MemberJoined, MessagePosted
from bot.storage.models import HelpRow, MessageRow, QuestionRow
from tests.conftest import T0


async def test_a_question_and_its_answer_each_delivered_twice_count_once(db_url, make_app):
    app = await make_app(db_url, dry_run=True)
    for i, mid in enumerate(("UANA", "UBEN")):
        await app.engine.dispatch(MemberJoined("slack", T0 + timedelta(minutes=i), member_id=mid,
                                               display_name=mid.lower()))
    day = T0 + timedelta(days=40)
    ask = MessagePosted("slack", day, channel_id="CHELP", message_id="1.0", author_id="UANA",
                        text="how do I reset my password? I can't log in")
    answer = MessagePosted("slack", day + timedelta(seconds=45), channel_id="CHELP", message_id="2.0",
                           author_id="UBEN", text="<@UANA> there is a reset password link on the login page")
    for ev in (ask, ask, answer, answer):
        await app.engine.dispatch(ev)
    await app.store.flush()
    H, M, Q = HelpRow.__table__, MessageRow.__table__, QuestionRow.__table__
    async with app.store.database.connect() as conn:
        helps = [tuple(r) for r in await conn.execute(select(H.c.helper_id, H.c.member_id))]
        links = dict((await conn.execute(select(M.c.message_id, M.c.linked_to))).all())
        questions = [tuple(r) for r in await conn.execute(select(Q.c.message_id, Q.c.status, Q.c.answered_by))]
    # Ben's answer: one reply to Ana, once
    assert links == {"1.0": "", "2.0": "UANA"}
    assert helps == [("UBEN", "UANA")]
    assert questions == [("1.0", "answered", ["UBEN"])]
