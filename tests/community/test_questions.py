"""Question detection (English, Dutch, not fragments) and answer inference in flat channels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.community.questions import ConversationTracker, is_question

T = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", [
    "How do I configure the proxy for the installer?",
    "anyone know why the build fails on arm64",
    "is there a way to run the tests offline",
    "<@U1>: did you install the headers?",
    "Hoe stel ik de proxy in?",
    "kan iemand uitleggen waarom de build faalt",
    "Weet iemand hoe ik mijn gegevens exporteer",
])
def test_questions_are_detected(text):
    assert is_question(text)


@pytest.mark.parametrize("text", [
    "huh?", "what?", "really?", "lol?", "who cares?", "why not?", "echt?", "toch?",
    "thanks, that worked!", "when ever i try to mount my client computer",
    "see https://example.com/page?id=3 for details", "Good morning all",
])
def test_fragments_and_statements_are_not_questions(text):
    assert not is_question(text)


def test_problem_statement_counts_only_in_a_help_channel():
    text = "I'm having trouble with the installer on my laptop"
    assert not is_question(text)
    assert is_question(text, help_channel=True)


class Chat:
    def __init__(self) -> None:
        self.tr = ConversationTracker()
        self.n = 0
        self.questions = {}
        self.replies: list[tuple[str, str, str]] = []
        for mid, name in (("UA", "alice"), ("UB", "bob2"), ("UC", "carol"), ("BOT", "factoids")):
            self.tr.learn_name("slack", mid, name, is_bot=mid == "BOT")

    def say(self, who: str, text: str, *, thread: str | None = None, minutes: float = 1, bot: bool = False) -> str:
        self.n += 1
        mid = f"{self.n}.000"
        for c in self.tr.observe(platform="slack", channel_id="C", message_id=mid, author_id=who,
                                 at=T + timedelta(minutes=self.n * minutes), text=text, thread_id=thread,
                                 is_bot=bot):
            if c.kind == "replied":
                self.replies.append((c.by, c.to, c.evidence))
            else:
                self.questions[c.question.message_id] = c.question
        return mid

    def status(self, mid: str) -> tuple[str, list[str]]:
        q = self.questions[mid]
        return q.status, q.answered_by


def test_mention_of_the_asker_answers_the_question():
    c = Chat()
    q = c.say("UA", "How do I mount an NFS share at boot?")
    c.say("UC", "good morning")
    c.say("UB", "<@UA>: put it in /etc/fstab with _netdev")
    assert c.status(q) == ("answered", ["UB"])


def test_addressing_by_name_counts_like_a_mention():
    c = Chat()
    q = c.say("UA", "what is using port 3000?")
    c.say("UB", "alice netstat -lnp | grep 3000")
    assert c.status(q) == ("answered", ["UB"])


def test_bot_replies_never_count():
    c = Chat()
    q = c.say("UA", "How do I mount an NFS share at boot?")
    c.say("BOT", "<@UA>: see the NFS page", bot=True)
    c.say("BOT", "here is the FAQ", thread=q, bot=True)
    assert c.status(q) == ("open", [])


def test_thread_reply_counts_at_once():
    c = Chat()
    q = c.say("UA", "Which version should I use for production?")
    c.say("UC", "2.4, the 2.3 line has a sync bug", thread=q)
    assert c.status(q) == ("answered", ["UC"])


def test_question_aimed_at_someone_is_answered_when_they_speak_up():
    c = Chat()
    q = c.say("UA", "<@UB>: did you install the headers?")
    c.say("UB", "yes, linux-headers-generic")
    assert c.status(q) == ("answered", ["UB"])


def test_asker_thanks_the_person_who_helped():
    c = Chat()
    q = c.say("UA", "any idea why the sync stops after an hour?")
    c.say("UB", "it's a known bug, upgrade to 2.4")
    c.say("UA", "thanks bob2, that worked")
    assert c.status(q) == ("answered", ["UB"])


def test_thanks_in_advance_is_not_an_answer():
    c = Chat()
    q = c.say("UA", "any idea why the sync stops after an hour?")
    c.say("UA", "thanks in advance")
    assert c.status(q) == ("open", [])


def test_a_mention_much_later_does_not_answer():
    c = Chat()
    q = c.say("UA", "How do I mount an NFS share at boot?")
    for i in range(60):
        c.say("UC", f"chatter {i}")
    c.say("UB", "<@UA>: hi there")
    assert c.status(q) == ("open", [])


def test_reply_to_a_newer_question_of_the_asker_does_not_answer_the_older_one():
    c = Chat()
    q1 = c.say("UA", "How do I mount an NFS share at boot?")
    q2 = c.say("UA", "and how do I export my settings to CSV?")
    c.say("UB", "<@UA>: use the export command")
    assert c.status(q1) == ("open", [])
    assert c.status(q2) == ("answered", ["UB"])


def test_accept_reaction_answers():
    c = Chat()
    q = c.say("UA", "Which version should I use for production?")
    changes = c.tr.reaction(platform="slack", channel_id="C", message_id=q, member_id="UB",
                            emoji="white_check_mark", at=T + timedelta(hours=1))
    assert [ch.kind for ch in changes] == ["answered"]
    assert c.status(q) == ("answered", ["UB"])


def test_replies_are_inferred_in_a_flat_channel():
    """Who replied to whom, the ambassador signal: addressed lines, a conversation that goes on
    without names, and a fresh question taken up by someone who says no name."""
    c = Chat()
    c.say("UA", "How do I mount an NFS share at boot?")
    c.say("UB", "<@UA>: put it in /etc/fstab")  # answers the question: recorded as an answer, not twice
    c.say("UA", "which options?")
    c.say("UB", "_netdev and defaults")  # goes on talking with alice
    assert c.replies == [("UA", "UB", "continued a conversation"), ("UB", "UA", "continued a conversation")]
    c.replies.clear()
    c.say("UC", "does anyone know why grub hides the menu?", minutes=20)
    c.say("UB", "hold shift while it boots", minutes=20)  # nobody else took carol's question up
    assert c.replies == [("UB", "UC", "took up a question")]
    c.replies.clear()
    c.say("UA", "nice weather today", minutes=20)  # a remark to nobody, long after, with carol helped
    c.say("BOT", "<@UC>: see the grub factoid", bot=True, minutes=20)
    assert c.replies == []


@pytest.mark.parametrize("flush_each", [False, True], ids=["one-batch", "flushed-each"])
async def test_late_thread_replies_answer_once_and_never_for_the_asker(make_app, db_url, tmp_path, flush_each):
    """Thread replies that come after the tracker let the question go: the first reply by someone
    other than the asker answers it (with a helps row); the asker's own reply, a second reply and a
    reply to a question already answered change nothing. The same whether the replies wait in one
    batch (with a question not written yet and an answer not written yet) or are written one by one."""
    from sqlalchemy import select

    from bot.community.install import question_findings
    from bot.community.questions import HELPS
    from bot.replay.backtest import iso
    from tests.community.helpers import START, Community, community_playbooks
    from tests.conftest import T0

    app = await make_app(db_url, playbooks_dir=community_playbooks(tmp_path), start=START)
    svc = app.engine.services["questions"]
    c = Community(app)
    for mid, name in (("UASK", "Ada Asker"), ("UHELP", "Hugo Helper"), ("UOTHER", "Omar Other"),
                      ("UMOD", "Mia Moderator"), ("UEVE", "Eve Early")):
        await c.join(mid, name, at=START)
    q1 = await c.say("UASK", "How do I export my data to CSV?", at=T0)
    q2 = await c.say("UOTHER", "Which version should I use for production right now?", at=T0 + timedelta(minutes=1))
    q3 = await c.say("UMOD", "Is there a way to run the tests offline?", at=T0 + timedelta(minutes=2))
    q4 = await c.say("UEVE", "Where do the logs go on Windows?", at=T0 + timedelta(minutes=3))
    await svc.flush()  # q4 is written open: its answer below waits as an update, in the late replies' batch
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
            await svc.flush()
    if not flush_each:
        assert len(svc._late) == len(replies)  # nothing written yet: the whole batch goes at once

    found = {f["message"]: f for f in await question_findings(app, "slack")}
    assert {m: (f["status"], f["answered_by"]) for m, f in found.items()} == {
        q1: ("answered", ["UHELP"]), q2: ("answered", ["UHELP"]), q3: ("unanswered", []),
        q4: ("answered", ["UHELP"]), q5: ("answered", ["UMOD"])}
    assert found[q1]["first_response_at"] == iso(late + timedelta(minutes=3))
    assert found[q2]["first_response_at"] == iso(late + timedelta(minutes=1))
    async with app.store.engine.connect() as conn:
        helps = sorted(tuple(r) for r in (await conn.execute(
            select(HELPS.c.helper_id, HELPS.c.member_id, HELPS.c.question_id)
            .where(HELPS.c.evidence == "replied in the thread"))).all())
    assert helps == sorted([("UHELP", "UEVE", q4), ("UHELP", "UOTHER", q2), ("UHELP", "UASK", q1),
                            ("UMOD", "UOTHER", q5)])
