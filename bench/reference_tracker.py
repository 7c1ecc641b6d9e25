"""The rule-based conversation tracker Steward used before the reply-link model, kept here unchanged
as a reference for ``bench/questions_eval.py`` (and its test): nothing in ``bot/`` uses it.

The conversation tracker: reads a channel's messages in order and infers which questions were
answered, and by whom.

In flat channels, where people answer without threading, an answer is inferred from how people talk
to each other: the asker addressed by another member soon after (a mention or their name), a question
aimed at someone that this person then takes up, a conversation that continues between the two, the
asker's thanks, an accept reaction. Bot messages never count. "Soon" means few messages in between
(the question is still on screen) as well as little time, so the same rules fit a busy chat and a
quiet help channel.

What the rest of the package uses: ``observe`` and ``reaction`` (each returns ``Change``s),
``learn_name``, ``forget`` and ``has_let_go``. The tracker is pure: no storage, no clock of its own.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Container, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from bot.community.questions.detect import _MENTION, WORKS, _prose, is_question, is_thanks, mentioned_in

#: where the first word of a line ends when it names someone ("bob: ...", "bob, ...", "bob> ...")
_FIRST_END = re.compile(r"[\s:,;>]")

class AnswerRules(BaseModel):
    """How answers are inferred in flat channels ([features.questions] in the config)."""

    model_config = ConfigDict(extra="forbid")

    reply_window_minutes: float = Field(1440, gt=0, description="an addressed reply counts within this time")
    reply_window_messages: int = Field(40, ge=1, description="... and within this many channel messages")
    takeup_messages: int = Field(12, ge=1, description="a question aimed at someone: their next message "
                                                         "within this many messages answers it")
    thanks_messages: int = Field(30, ge=1, description="the asker's thanks within this many messages")
    exchange_messages: int = Field(8, ge=1, description="a line to nobody in particular continues its author's "
                                                       "last exchange within this many messages ...")
    exchange_minutes: float = Field(5, gt=0, description="... and this many minutes")
    pickup_messages: int = Field(6, ge=1, description="a line to nobody in particular answers a question asked "
                                                     "this few messages before that nobody has taken up")
    accept_emoji: list[str] = Field(default_factory=lambda: [
        "white_check_mark", "heavy_check_mark", "ballot_box_with_check", "✅", "✔️", "☑️", "+1", "thumbsup",
        "👍", "pray", "🙏", "raised_hands", "tada"])
    #: names must be at least this long to count as addressing someone without a mention
    min_name_length: int = Field(3, ge=1)


@dataclass
class Seen:
    """A message as the tracker remembers it."""

    platform: str
    channel_id: str
    message_id: str
    author_id: str
    at: datetime
    text: str
    addressed: frozenset[str]
    thread_id: str | None = None
    reply_to: str | None = None
    is_bot: bool = False
    pos: int = 0
    #: the message asked a question of its own (then it is not a reply to someone else's)
    asked: bool = False


@dataclass
class TrackedQuestion:
    platform: str
    channel_id: str
    message_id: str
    author_id: str
    asked_at: datetime
    text: str
    addressed: frozenset[str]
    pos: int
    status: str = "open"  # open | answered | resolved
    answered_by: list[str] = field(default_factory=list)
    first_response_at: datetime | None = None
    evidence: str = ""
    #: the asker has asked something newer: a reply to the asker now answers that instead
    superseded: bool = False
    #: members the asker has since said something newer to
    superseded_for: set[str] = field(default_factory=set)


@dataclass
class Change:
    """What one observed message changed: a new question, a question now answered, or (``replied``,
    without a question) one member replying to another."""

    kind: str  # asked | answered | resolved | replied
    question: TrackedQuestion | None
    by: str | None = None
    at: datetime | None = None
    evidence: str = ""
    #: for ``replied``: whom, the message replied to, and where
    to: str | None = None
    ref: str | None = None
    platform: str = ""
    channel_id: str = ""


#: a channel's state is trimmed every this many lines (the cost is one pass over its partners)
TRIM_EVERY = 512


class _ChannelState:
    def __init__(self, keep: int) -> None:
        self.pos = 0
        self.recent: deque[Seen] = deque(maxlen=keep)
        #: how many of ``recent`` each member wrote (who is in the conversation on screen)
        self.authors: dict[str, int] = {}
        self.open: list[TrackedQuestion] = []
        self.by_id: dict[str, TrackedQuestion] = {}
        #: member -> (the member they last exchanged lines with, position, time)
        self.partner: dict[str, tuple[str, int, datetime]] = {}
        #: members someone is talking with since their last question
        self.engaged: set[str] = set()
        #: bumped whenever a question here stops being open; with ``oldest`` (the earliest time an
        #: open question was asked) it lets ``_expire`` skip its pass when nothing can go
        self.closed = 0
        self.closed_seen = 0
        self.oldest: datetime | None = None

    def trim(self, now: datetime, rules: AnswerRules) -> None:
        """Let go of what no later line can use, so a channel's state follows its recent
        conversation and not its history: a partner further back than the exchange window, and
        engagement of members with no line on screen (a question they ask later clears it anyway)."""
        oldest_pos = self.pos - rules.exchange_messages
        oldest_at = now - timedelta(minutes=rules.exchange_minutes)
        self.partner = {m: p for m, p in self.partner.items() if p[1] >= oldest_pos and p[2] >= oldest_at}
        self.engaged &= self.authors.keys()


class ConversationTracker:
    """Reads a channel's messages in order and infers which questions were answered, and by whom.

    ``names`` maps a lowercased display name to a member ID, so "bob2 try this" addresses bob2 the
    way ``<@U…>`` does; only members who spoke recently in the channel are considered, which keeps
    ordinary words from being read as names.
    """

    def __init__(self, rules: AnswerRules | None = None, *, help_channels: Iterable[str] = ()) -> None:
        self.rules = rules or AnswerRules()
        self.help_channels = set(help_channels)
        self.channels: dict[tuple[str, str], _ChannelState] = {}
        self.names: dict[tuple[str, str], str] = {}
        self.bots: set[tuple[str, str]] = set()

    def forget(self, platform: str, member_id: str) -> None:
        """Drop a member from every channel's state: their lines, questions, name and partners."""
        self.names = {k: v for k, v in self.names.items() if not (k[0] == platform and v == member_id)}
        self.names.pop((platform, member_id), None)
        self.bots.discard((platform, member_id))
        for (plat, _), st in self.channels.items():
            if plat != platform:
                continue
            st.recent = deque((s for s in st.recent if s.author_id != member_id), maxlen=st.recent.maxlen)
            for s in st.recent:
                if member_id in s.addressed:
                    s.addressed = s.addressed - {member_id}
            st.authors.pop(member_id, None)
            st.open = [q for q in st.open if q.author_id != member_id]
            st.by_id = {k: q for k, q in st.by_id.items() if q.author_id != member_id}
            for q in st.by_id.values():
                if member_id in q.answered_by:
                    q.answered_by = [a for a in q.answered_by if a != member_id]
                q.superseded_for.discard(member_id)
                if member_id in q.addressed:
                    q.addressed = q.addressed - {member_id}
            st.partner = {m: p for m, p in st.partner.items() if m != member_id and p[0] != member_id}
            st.engaged.discard(member_id)

    def has_let_go(self, platform: str, channel_id: str, message_id: str) -> bool:
        """The tracker has seen this channel but holds no question ``message_id`` in it (never asked,
        or past every answer window): a reply to it cannot be inferred here."""
        st = self.channels.get((platform, channel_id))
        return st is not None and message_id not in st.by_id

    # ---- names
    def learn_name(self, platform: str, member_id: str, name: str | None, *, is_bot: bool = False) -> None:
        """Remember a member's display name (and whether it is a bot)."""
        if is_bot:
            self.bots.add((platform, member_id))
        key = _norm_name(name or "")
        if len(key) >= self.rules.min_name_length:
            self.names[(platform, key)] = member_id

    def _addressed_by_name(self, platform: str, text: str, participants: Container[str]) -> set[str]:
        out: set[str] = set()
        prose = text or ""
        if "<@" in prose:
            prose = _MENTION.sub(" ", prose)
        if "&" in prose:
            prose = prose.replace("&gt;", ">").replace("&lt;", "<")
        prose = prose.strip()
        if not prose:
            return out
        # "name: ...", "name, ...", "name> ...", "name - ...", "name ...", "<name> ..."
        head = prose.lstrip("<@ ")
        cut = _FIRST_END.search(head)
        first = head[:cut.start()] if cut else head
        # "... | name" (an IRC factoid aimed at someone), "..., name"
        tail = prose.rstrip(" .!?:)")
        if not tail or tail[-1].isspace():
            last = ""
        else:
            last = tail.rsplit(None, 1)[-1]
            last = last[max(last.rfind("|"), last.rfind(",")) + 1:]
        for token in (first, last):
            mid = self.names.get((platform, _norm_name(token)))
            if mid and mid in participants:
                out.add(mid)
        return out

    # ---- observing
    def _state(self, platform: str, channel_id: str) -> _ChannelState:
        key = (platform, channel_id)
        st = self.channels.get(key)
        if st is None:
            st = _ChannelState(keep=max(self.rules.reply_window_messages, 60))
            self.channels[key] = st
        return st

    def observe(self, *, platform: str, channel_id: str, message_id: str, author_id: str, at: datetime,
                text: str, mentions: Iterable[str] = (), thread_id: str | None = None,
                reply_to: str | None = None, is_bot: bool = False,
                channel_name: str | None = None) -> list[Change]:
        """Feed one message; returns the questions it asked or answered."""
        st = self._state(platform, channel_id)
        st.pos += 1
        if st.pos % TRIM_EVERY == 0:
            st.trim(at, self.rules)
        is_bot = is_bot or (platform, author_id) in self.bots
        participants = st.authors
        addressed = set(mentions) | mentioned_in(text)
        if not is_bot:
            addressed |= self._addressed_by_name(platform, text, participants)
        addressed.discard(author_id)
        seen = Seen(platform, channel_id, message_id, author_id, at, text, frozenset(addressed),
                    thread_id if thread_id != message_id else None, reply_to, is_bot, st.pos)
        changes: list[Change] = []
        help_channel = channel_id in self.help_channels or (channel_name or "") in self.help_channels
        # a reply inside a thread is part of that conversation, not a new question
        seen.asked = not (is_bot or seen.thread_id or seen.reply_to) and is_question(text, help_channel=help_channel)
        self._expire(st, at)
        if not is_bot:
            changes.extend(self._answers(st, seen))
        if len(st.recent) == st.recent.maxlen:
            gone = st.recent[0].author_id
            left = st.authors[gone] - 1
            if left:
                st.authors[gone] = left
            else:
                del st.authors[gone]
        st.recent.append(seen)
        st.authors[author_id] = st.authors.get(author_id, 0) + 1
        if is_bot:
            return changes
        if seen.asked:
            q = TrackedQuestion(platform, channel_id, message_id, author_id, at, text, frozenset(addressed),
                                st.pos)
            st.open.append(q)
            st.by_id[message_id] = q
            if st.oldest is None or at < st.oldest:
                st.oldest = at
            changes.append(Change("asked", q, at=at))
        self._asker_moved_on(st, seen)
        changes.extend(self._replies(st, seen, changes))
        return changes

    def _replies(self, st: _ChannelState, m: Seen, changes: list[Change]) -> list[Change]:
        """Whom this line replies to: the members it addresses (or the thread it is in); else the
        author's current conversation partner; else a fresh question nobody has taken up yet."""
        r = self.rules
        targets = {a for a in m.addressed if (m.platform, a) not in self.bots} if m.addressed else set()
        how = "addressed them"
        root = m.thread_id or m.reply_to
        if not targets and root:
            s = next((s for s in reversed(st.recent) if s.message_id == root), None)
            if s is not None and not s.is_bot and s.author_id != m.author_id:
                targets, how = {s.author_id}, "replied in the thread"
        if not targets and not root:
            p = st.partner.get(m.author_id)
            if p and m.pos - p[1] <= r.exchange_messages and m.at - p[2] <= timedelta(minutes=r.exchange_minutes):
                targets, how = {p[0]}, "continued a conversation"
        if not targets and not root and not m.asked:
            for s in reversed(st.recent):
                if m.pos - s.pos > r.pickup_messages:
                    break
                if s.asked and not s.is_bot and s.author_id != m.author_id and s.author_id not in st.engaged:
                    targets, how = {s.author_id}, "took up a question"
                    break
        if m.asked:
            st.engaged.discard(m.author_id)
        if not targets:
            return []
        answered = {c.question.author_id for c in changes if c.kind == "answered" and c.question is not None}
        out = []
        for t in sorted(targets):
            st.partner[m.author_id] = (t, m.pos, m.at)
            st.partner[t] = (m.author_id, m.pos, m.at)
            st.engaged.update((t, m.author_id))
            if t in answered:
                continue  # already recorded as an answer
            ref = next((s.message_id for s in reversed(st.recent) if s.author_id == t and s.pos < m.pos), None)
            out.append(Change("replied", None, by=m.author_id, at=m.at, evidence=how, to=t, ref=ref or m.message_id,
                              platform=m.platform, channel_id=m.channel_id))
        return out

    def _expire(self, st: _ChannelState, now: datetime) -> None:
        """Forget open questions past every window: nothing can answer them by inference now."""
        if not st.open:
            return
        r = self.rules
        horizon = max(r.reply_window_messages, r.takeup_messages, r.thanks_messages)
        limit = timedelta(minutes=r.reply_window_minutes)
        # the list is in the order asked, so its first entry is the furthest back
        if (st.closed == st.closed_seen and st.pos - st.open[0].pos <= horizon
                and st.oldest is not None and now - st.oldest <= limit):
            return
        keep = []
        for q in st.open:
            if q.status == "open" and (st.pos - q.pos <= horizon and now - q.asked_at <= limit):
                keep.append(q)
            else:
                st.by_id.pop(q.message_id, None)
        st.open = keep
        st.closed_seen = st.closed
        st.oldest = min((q.asked_at for q in keep), default=None)

    @staticmethod
    def _current(q: TrackedQuestion, responder: str) -> bool:
        """A reply goes to the addressee's latest line meant for the responder: is that still ``q``?"""
        return q.status == "open" and not q.superseded and responder not in q.superseded_for

    def _latest_open_of(self, st: _ChannelState, author: str) -> TrackedQuestion | None:
        for q in reversed(st.open):
            if q.author_id == author and q.status == "open" and not q.superseded:
                return q
        return None

    def _asker_moved_on(self, st: _ChannelState, m: Seen) -> None:
        for q in st.open:
            if q.author_id != m.author_id or q.status != "open" or q.message_id == m.message_id:
                continue
            # until someone takes it up, the asker's other lines to everyone elaborate the question;
            # a line to someone in particular is what that person will answer next
            if m.addressed:
                q.superseded_for |= m.addressed
            elif m.asked:
                q.superseded = True

    def _answers(self, st: _ChannelState, m: Seen) -> list[Change]:
        r = self.rules
        out: list[Change] = []

        def mark(q: TrackedQuestion, by: str, evidence: str) -> None:
            if q.status != "open":
                return
            q.status = "answered"
            st.closed += 1
            q.answered_by.append(by)
            q.first_response_at = m.at
            q.evidence = evidence
            out.append(Change("answered", q, by=by, at=m.at, evidence=evidence))

        # explicit: a threaded reply or a platform reply to the question
        root = m.thread_id or m.reply_to
        if root:
            q = st.by_id.get(root)
            if q is not None and q.author_id != m.author_id:
                mark(q, m.author_id, "replied in the thread")
            elif q is not None and q.author_id == m.author_id and is_thanks(m.text):
                self._asker_thanks(q, m, st, mark, out)
            return out
        for q in list(st.open):
            if q.status != "open":
                continue
            gap = st.pos - q.pos
            if m.author_id != q.author_id:
                # the asker addressed by someone else, while this is what the asker last said to them
                if q.author_id in m.addressed and gap <= r.reply_window_messages:
                    if self._current(q, m.author_id):
                        mark(q, m.author_id, "addressed the asker")
                        continue
                # the question was aimed at this member, who now speaks up (to the asker or to all)
                if (m.author_id in q.addressed and gap <= r.takeup_messages and not m.asked
                        and (not m.addressed or q.author_id in m.addressed)
                        and self._current(q, m.author_id)):
                    mark(q, m.author_id, "took up a question aimed at them")
                    continue
            else:
                if gap <= r.thanks_messages and is_thanks(m.text) and not q.superseded:
                    self._asker_thanks(q, m, st, mark, out)
        return out

    def _asker_thanks(self, q: TrackedQuestion, m: Seen, st: _ChannelState, mark, out: list[Change]) -> None:
        """Thanks to someone who spoke since the question answers it; "it works" alone resolves it."""
        since = [s for s in st.recent if q.pos < s.pos < m.pos and s.author_id != q.author_id and not s.is_bot]
        named = {self.names.get((m.platform, _norm_name(w))) for w in re.split(r"[\s,;:!.]+", m.text or "")}
        helper = next((s for s in since if s.author_id in m.addressed or s.author_id in named), None) or \
            next((s for s in since if q.author_id in s.addressed), None)
        if helper is not None:
            mark(q, helper.author_id, "the asker said thanks")
            q.first_response_at = helper.at
        elif WORKS.search(_prose(m.text)) and q.status == "open":
            q.status = "resolved"
            st.closed += 1
            q.evidence = "the asker said it works"
            out.append(Change("resolved", q, by=q.author_id, at=m.at, evidence=q.evidence))

    def reaction(self, *, platform: str, channel_id: str, message_id: str, member_id: str, emoji: str,
                 at: datetime, message_author_id: str | None = None) -> list[Change]:
        """An accept reaction on a question by someone else, or by the asker on a reply, answers it."""
        if emoji.strip(":") not in self.rules.accept_emoji or (platform, member_id) in self.bots:
            return []
        st = self.channels.get((platform, channel_id))
        if st is None:
            return []
        q = st.by_id.get(message_id)
        if q is not None and q.status == "open" and member_id == q.author_id:
            # the asker ticking their own question: resolved
            q.status, q.evidence = "resolved", "the asker marked it resolved"
            st.closed += 1
            return [Change("resolved", q, by=member_id, at=at, evidence=q.evidence)]
        if q is not None and q.status == "open" and member_id != q.author_id:
            q.status, q.answered_by, q.first_response_at = "answered", [member_id], at
            st.closed += 1
            q.evidence = "accept reaction"
            return [Change("answered", q, by=member_id, at=at, evidence="accept reaction")]
        # the asker accepting someone's reply
        target = next((s for s in st.recent if s.message_id == message_id), None)
        if target is not None and target.author_id != member_id:
            q2 = self._latest_open_of(st, member_id)
            if q2 is not None and target.pos > q2.pos:
                q2.status, q2.answered_by, q2.first_response_at = "answered", [target.author_id], target.at
                st.closed += 1
                q2.evidence = "the asker accepted a reply"
                return [Change("answered", q2, by=target.author_id, at=target.at, evidence=q2.evidence)]
        return []


def _norm_name(name: str) -> str:
    return name.strip().lower().strip("@<>[]|_-:,.")
