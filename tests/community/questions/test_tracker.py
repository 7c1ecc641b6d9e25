"""Answer inference in flat channels: the conversation tracker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.community.questions import ConversationTracker

T = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


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


def test_a_busy_thread_does_not_push_the_channel_s_question_out():
    """Replies inside a thread are not lines of the channel (it does not show them): 45 of them do
    not push a question asked in the channel out of its 40-line window, and the channel's next line
    still answers it."""
    c = Chat()
    root = c.say("UC", "release notes for 2.4 are up")
    q = c.say("UA", "How do I mount an NFS share at boot?")
    for i in range(45):
        c.say("UB" if i % 2 else "UC", f"thread chatter number {i} about the release", thread=root)
    assert c.status(q) == ("open", [])
    c.say("UB", "alice put it in /etc/fstab with _netdev")
    assert c.status(q) == ("answered", ["UB"])


@pytest.mark.parametrize("lines_between", [10, 45], ids=["beyond-the-candidates", "out-of-the-window"])
def test_a_thread_reply_far_below_its_root_credits_the_reply(lines_between):
    """A reply in the thread of a line posted many channel lines earlier (past the lines a message is
    scored against, or past the 40-line window itself) is a reply to its author (who helped whom, for
    the ambassador score), not a line linked to nothing."""
    c = Chat()
    root = c.say("UA", "I published the migration guide for 2.4 today")
    for i in range(lines_between):
        c.say("UC" if i % 2 else "UB", f"unrelated channel line number {i}")
    c.replies.clear()
    c.say("UB", "nice, the section on the sync bug helped me", thread=root)
    assert c.replies == [("UB", "UA", "replied in the thread")]


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


def test_thanks_answers_the_line_that_was_answered_not_an_earlier_wording():
    """A busy channel: the asker's first wording goes unheard, they ask again, bob answers the new
    line and is thanked. The thanks answers the line bob replied to; the first wording, which no reply
    was linked to, stays open (as the annotators of the Ubuntu logs saw such cases)."""
    c = Chat()
    first = c.say("UA", "how can I see which process holds port 3000?")
    for i in range(3):
        c.say("UC", f"<@UD>: did the upgrade finish on box {i}?")
        c.say("UD", f"<@UC>: yes, box {i} is on 24.04 now")
    again = c.say("UA", "anyone? which process is on port 3000?")
    c.say("UB", "alice: sudo lsof -i :3000")
    c.say("UA", "thanks bob2!")
    assert c.status(again) == ("answered", ["UB"])
    assert c.questions[first].status == "open"


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
    """Who replied to whom, the ambassador signal, from the reply model: an addressed line, a line
    right after in a two-person exchange; an answer is recorded as an answer, not twice; bots never."""
    c = Chat()
    q1 = c.say("UA", "How do I mount an NFS share at boot?")
    c.say("UB", "<@UA>: put it in /etc/fstab")  # answers the question: recorded as an answer, not twice
    q2 = c.say("UA", "which options?")  # replies to bob's line (he had addressed her)
    c.say("UB", "_netdev and defaults")  # answers her follow-up
    assert c.replies == [("UA", "UB", "@UB had addressed them")]
    assert c.status(q1) == ("answered", ["UB"])
    assert c.questions[q1].evidence == "answered by @UB 1 min later (addressed @UA)"
    assert c.status(q2) == ("answered", ["UB"])
    assert c.questions[q2].evidence == "answered by @UB 1 min later (replied right after)"
    c.replies.clear()
    c.say("BOT", "<@UA>: see the fstab factoid", bot=True)
    assert c.replies == []
