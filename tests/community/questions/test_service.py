"""The question service: late thread replies written in batches."""

from __future__ import annotations

from datetime import timedelta

import pytest


@pytest.mark.parametrize("flush_each", [False, True], ids=["one-batch", "flushed-each"])
async def test_late_thread_replies_answer_once_and_never_for_the_asker(make_app, db_url, tmp_path, flush_each):
    """Thread replies that come after the tracker let the question go: the first reply by someone
    other than the asker answers it (with a helps row); the asker's own reply, a second reply and a
    reply to a question already answered change nothing. The same whether the replies wait in one
    batch (with a question not written yet and an answer not written yet) or are written one by one."""
    from sqlalchemy import select

    from bot.community.install import question_findings
    from bot.community.questions import HELPS
    from bot.core.clock import iso
    from tests.community.helpers import START, Community, community_playbooks
    from tests.conftest import T0

    app = await make_app(db_url, playbooks_dir=community_playbooks(tmp_path), start=START)
    svc = app.services.questions
    c = Community(app)
    for mid, name in (("UASK", "Ada Asker"), ("UHELP", "Hugo Helper"), ("UOTHER", "Omar Other"),
                      ("UMOD", "Mia Moderator"), ("UEVE", "Eve Early")):
        await c.join(mid, name, at=START)
    q1 = await c.say("UASK", "How do I export my data to CSV?", at=T0)
    q2 = await c.say("UOTHER", "Which version should I use for production right now?", at=T0 + timedelta(minutes=1))
    q3 = await c.say("UMOD", "Is there a way to run the tests offline?", at=T0 + timedelta(minutes=2))
    q4 = await c.say("UEVE", "Where do the logs go on Windows?", at=T0 + timedelta(minutes=3))
    await svc.store.flush()  # q4 is written open: its answer below waits as an update, in the late replies' batch
    await c.say("UHELP", "under %APPDATA%", at=T0 + timedelta(minutes=4), thread=q4)
    note = await c.say("UMOD", "Release notes for 2.4 are up", at=T0 + timedelta(minutes=5))
    q5 = await c.say("UOTHER", "How do I rotate the API key?", at=T0 + timedelta(minutes=6))  # still buffered

    late = T0 + timedelta(days=2)  # past every answer window: the tracker has let these go
    replies = [("UASK", q1, "still stuck on this"), ("UHELP", q2, "use the LTS one"),
               ("UMOD", q2, "agreed, the LTS"), ("UHELP", q1, "use the export command"),
               ("UOTHER", q4, "also see the docs"), ("UHELP", note, "nice"), ("UMOD", q5, "Settings, Keys")]
    for i, (who, root, text) in enumerate(replies):
        await c.say(who, text, at=late + timedelta(minutes=i), thread=root)
        if flush_each:
            await svc.store.flush()
    if not flush_each:
        assert len(svc._late) == len(replies)  # nothing written yet: the whole batch goes at once

    found = {f["message"]: f for f in await question_findings(app, "slack")}
    assert {m: (f["status"], f["answered_by"]) for m, f in found.items()} == {
        q1: ("answered", ["UHELP"]), q2: ("answered", ["UHELP"]), q3: ("unanswered", []),
        q4: ("answered", ["UHELP"]), q5: ("answered", ["UMOD"])}
    assert found[q1]["first_response_at"] == iso(late + timedelta(minutes=3))
    assert found[q2]["first_response_at"] == iso(late + timedelta(minutes=1))
    async with app.store.database.connect() as conn:
        helps = sorted(tuple(r) for r in (await conn.execute(
            select(HELPS.c.helper_id, HELPS.c.member_id, HELPS.c.question_id)
            .where(HELPS.c.evidence == "replied in the thread"))).all())
    assert helps == sorted([("UHELP", "UEVE", q4), ("UHELP", "UOTHER", q2), ("UHELP", "UASK", q1),
                            ("UMOD", "UOTHER", q5)])


async def test_a_question_a_manager_resolved_is_let_go_of(make_app, db_url, tmp_path):
    """After a manager's resolve button, the conversation never decides the question again: a reply
    in its thread credits nobody with answering it (as when the tracker had already let it go), and
    whoever reports decisions (webhooks) is never told it went unanswered."""
    from sqlalchemy import select

    from bot.community.questions import HELPS
    from bot.community.questions.service import REPLY
    from bot.core.events import ButtonClicked
    from tests.community.helpers import START, Community, community_playbooks
    from tests.conftest import T0

    app = await make_app(db_url, playbooks_dir=community_playbooks(tmp_path), start=START,
                         managers={"slack_user_ids": ["UMOD"]})
    svc = app.services.questions
    svc.decided = []  # someone reports decisions
    c = Community(app)
    for mid, name in (("UASK", "Ada Asker"), ("UHELP", "Hugo Helper"), ("UMOD", "Mia Moderator")):
        await c.join(mid, name, at=START)
    q = await c.say("UASK", "How do I configure the proxy for the installer?", at=T0)
    await app.engine.dispatch(ButtonClicked("slack", T0 + timedelta(hours=1), member_id="UMOD", action="resolve",
                                            value=f"slack|CHELP/{q}", channel_id="CMODS"))
    at = T0 + timedelta(hours=1, minutes=5)
    await c.say("UHELP", "set it under [network] in the config", at=at, thread=q)
    for i in range(45):
        await c.say(("UHELP", "UMOD")[i % 2], f"The meetup notes, part {i}", at=at + timedelta(minutes=1 + i))
    await app.store.flush()
    async with app.store.database.connect() as conn:
        answers = (await conn.execute(select(HELPS.c.helper_id).where(
            HELPS.c.question_id == q, HELPS.c.evidence.not_like(REPLY + "%")))).all()
    assert answers == []  # a reply to Ada, not an answer to a question already resolved
    assert [(what, ch.question.message_id) for what, ch in await svc.take_decided()] == [("resolved", q)]


async def test_a_deleted_question_is_withdrawn_and_an_answered_one_stays(make_app, db_url, tmp_path):
    """A member deletes questions. One still open (let go of unanswered and waiting for the scan, or
    still in the conversation's window) goes as if never asked: no finding, no open question to point
    a nudge at, and a later reply answers nothing. One that was answered stays answered."""
    from bot.community.install import question_findings
    from bot.community.questions.unanswered import open_questions
    from bot.core.events import MessageDeleted
    from tests.community.helpers import START, Community, community_playbooks
    from tests.conftest import T0

    app = await make_app(db_url, playbooks_dir=community_playbooks(tmp_path), start=START)
    c = Community(app)
    for mid, name in (("UASK", "Ada Asker"), ("UHELP", "Hugo Helper"), ("UOTHER", "Omar Other"),
                      ("UEVE", "Eve Early")):
        await c.join(mid, name, at=START)
    q1 = await c.say("UASK", "How do I export my data to CSV?", at=T0)
    q2 = await c.say("UOTHER", "Which version should I use for production right now?", at=T0 + timedelta(minutes=1))
    await c.say("UHELP", "use the LTS one", at=T0 + timedelta(minutes=2), thread=q2)
    late = T0 + timedelta(days=2)  # q1 is let go of, unanswered
    q3 = await c.say("UEVE", "Where do the logs go on Windows?", at=late)
    before = {f["message"]: f["status"] for f in await question_findings(app, "slack")}
    assert before == {q1: "unanswered", q2: "answered", q3: "unanswered"}

    for i, mid in enumerate((q1, q2, q3)):
        app.clock.advance_to(late + timedelta(minutes=1 + i))
        await app.engine.dispatch(MessageDeleted("slack", late + timedelta(minutes=1 + i), channel_id=c.help,
                                                 message_id=mid))
    await c.say("UHELP", "<@UEVE> they are under %APPDATA%", at=late + timedelta(minutes=5))
    assert {f["message"]: f["status"] for f in await question_findings(app, "slack")} == {q2: "answered"}
    assert await open_questions(app.store, "slack", older_than=late + timedelta(days=1),
                                newer_than=T0 - timedelta(days=1)) == []
