"""The conversation tracker: reads a channel's messages in order and decides which questions were
answered, and by whom, from the reply-link model of ``bot.conversation``.

In flat channels, where people answer without threading, the model scores each earlier message in
a window (the last 40 lines, up to a day) as the one a new message replies to, from how people talk
to each other: who addressed whom, how soon, how the two have been taking turns, what the lines say.
A question is answered when the replies linked to it reach ``answer_threshold`` on the answer model
(``bot/conversation/answers.py``), when someone replies in its thread, when the asker thanks
someone who spoke since, or on an accept reaction. Every decision carries its reason in words.

What the rest of the package uses: ``observe`` and ``reaction`` (each returns ``Change``s),
``settle`` (a person decided a question), ``learn_name``, ``forget`` and ``has_let_go``. The tracker is pure: no storage, no clock of its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from bot.community.questions.changes import Change, TrackedQuestion
from bot.community.questions.detect import _prose, asks_in, thanks_in, works_in
from bot.community.questions.settings import AnswerRules
from bot.conversation.features import Line
from bot.conversation.model import shipped
from bot.conversation.tracker import ConversationTracker as ReplyTracker
from bot.conversation.tracker import Outcome, Question


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


class ConversationTracker:
    """Questions and replies in channels, from the reply-link model."""

    def __init__(self, rules: AnswerRules | None = None, *, help_channels: Iterable[str] = ()) -> None:
        self.rules = rules or AnswerRules()
        self.help_channels = set(help_channels)
        self.links = ReplyTracker(shipped(), threshold=self.rules.answer_threshold)
        #: the questions asked, while the model can still link to them (and reactions can answer them)
        self.tracked: dict[tuple[str, str, str], TrackedQuestion] = {}
        #: the line the message last observed replies to (None: it starts a conversation)
        self.parent: Line | None = None

    def learn_name(self, platform: str, member_id: str, name: str | None, *, is_bot: bool = False) -> None:
        """Remember a member's display name (and whether it is a bot)."""
        self.links.learn_name(platform, member_id, name, is_bot=is_bot)

    def forget(self, platform: str, member_id: str) -> None:
        """Drop a member from every channel's state: their lines, questions, name and exchanges."""
        self.links.forget(platform, member_id)
        self.tracked = {k: q for k, q in self.tracked.items()
                        if not (k[0] == platform and q.author_id == member_id)}
        for q in self.tracked.values():
            if member_id in q.answered_by:
                q.answered_by = [a for a in q.answered_by if a != member_id]

    def has_let_go(self, platform: str, channel_id: str, message_id: str) -> bool:
        """The tracker has seen this channel but holds no open question ``message_id`` in it (never
        asked, or out of the model's window): a reply to it cannot be inferred here."""
        held = self.links.holds(platform, channel_id, message_id)
        return held is False

    def _question(self, q: Question) -> TrackedQuestion:
        return self.tracked[(q.platform, q.channel_id, q.message_id)]

    def observe(self, *, platform: str, channel_id: str, message_id: str, author_id: str, at: datetime,
                text: str, mentions: Iterable[str] = (), thread_id: str | None = None,
                reply_to: str | None = None, is_bot: bool = False,
                channel_name: str | None = None) -> list[Change]:
        """Feed one message; returns the questions it asked, answered or let go of, and its reply."""
        help_channel = channel_id in self.help_channels or (channel_name or "") in self.help_channels
        root = thread_id if thread_id and thread_id != message_id else reply_to
        prose = _prose(text)
        asks = not (is_bot or root) and asks_in(prose, help_channel=help_channel)
        thanks = not is_bot and thanks_in(prose)
        out: Outcome = self.links.observe(platform=platform, channel_id=channel_id, message_id=message_id,
                                          author_id=author_id, at=at, text=text, mentions=mentions,
                                          thread_id=thread_id, reply_to=reply_to, is_bot=is_bot, question=asks,
                                          thanks=thanks)
        changes: list[Change] = []
        answered_askers = set()
        for q in out.answered:
            tq = self.tracked.pop((q.platform, q.channel_id, q.message_id), None)
            if tq is None or tq.status != "open":
                continue
            tq.status, tq.answered_by = "answered", [q.answered_by or ""]
            tq.first_response_at = _dt(q.first_response_at or out.line.at)
            tq.evidence = q.reason
            answered_askers.add(q.author_id)
            changes.append(Change("answered", tq, by=q.answered_by, at=at, evidence=q.how))
        for q in out.unanswered:
            tq = self.tracked.pop((q.platform, q.channel_id, q.message_id), None)
            if tq is not None and tq.status == "open":
                tq.evidence = q.reason
                changes.append(Change("unanswered", tq, at=at, evidence=q.reason))
        if thanks and not out.answered and works_in(prose):
            # "it works now" with nobody to thank: the asker solved it
            for tq in [x for x in self.tracked.values() if x.platform == platform and x.channel_id == channel_id
                       and x.author_id == author_id and x.status == "open"]:
                self._close(tq)
                tq.status, tq.evidence = "resolved", "the asker said it works"
                changes.append(Change("resolved", tq, by=author_id, at=at, evidence=tq.evidence))
        if out.asked is not None:
            tq = TrackedQuestion(platform, channel_id, message_id, author_id, at, text)
            self.tracked[(platform, channel_id, message_id)] = tq
            changes.append(Change("asked", tq, at=at))
        p = self.parent = out.parent
        if p is not None and not is_bot and not p.is_bot and p.author != author_id \
                and p.author not in answered_askers:
            changes.append(Change("replied", None, by=author_id, at=at, evidence=out.how, to=p.author,
                                  ref=p.message_id, platform=platform, channel_id=channel_id))
        return changes

    def reaction(self, *, platform: str, channel_id: str, message_id: str, member_id: str, emoji: str,
                 at: datetime, message_author_id: str | None = None) -> list[Change]:
        """An accept reaction on a question by someone else, or by the asker on a reply, answers it."""
        if emoji.strip(":") not in self.rules.accept_emoji or (platform, member_id) in self.links.reader.bots:
            return []
        q = self.tracked.get((platform, channel_id, message_id))
        if q is not None and q.status == "open":
            self._close(q)
            if member_id == q.author_id:
                q.status, q.evidence = "resolved", "the asker marked it resolved"
                return [Change("resolved", q, by=member_id, at=at, evidence=q.evidence)]
            q.status, q.answered_by, q.first_response_at = "answered", [member_id], at
            q.evidence = f"answered by @{member_id} (accept reaction)"
            return [Change("answered", q, by=member_id, at=at, evidence="accept reaction")]
        # the asker accepting someone's reply: their latest open question here
        target = self.links.line(platform, channel_id, message_id)
        if target is None or target.author == member_id or target.is_bot:
            return []
        mine = [x for x in self.tracked.values() if x.platform == platform and x.channel_id == channel_id
                and x.author_id == member_id and x.status == "open" and x.asked_at.timestamp() <= target.at]
        if not mine:
            return []
        q = max(mine, key=lambda x: x.asked_at)
        self._close(q)
        q.status, q.answered_by, q.first_response_at = "answered", [target.author], _dt(target.at)
        q.evidence = f"answered by @{target.author} (the asker accepted the reply)"
        return [Change("answered", q, by=target.author, at=_dt(target.at), evidence="the asker accepted a reply")]

    def settle(self, platform: str, channel_id: str, message_id: str) -> None:
        """A person decided the question outside the conversation (a manager's resolve button, the
        dashboard): let go of it, so it is never reported answered or unanswered afterwards."""
        q = self.tracked.get((platform, channel_id, message_id))
        if q is not None:
            q.status = "resolved"
            self._close(q)
        else:
            self.links.settle(platform, channel_id, message_id)

    def _close(self, q: TrackedQuestion) -> None:
        self.tracked.pop((q.platform, q.channel_id, q.message_id), None)
        self.links.settle(q.platform, q.channel_id, q.message_id)
