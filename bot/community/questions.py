"""Questions: detect them (English and Dutch), decide whether each was answered, and escalate the
ones that were not.

Detection and answer inference are pure (``is_question``, ``ConversationTracker``) so they run the
same live, in replay and in tests. In flat channels, where people answer without threading, an
answer is inferred from how people talk to each other: the asker addressed by another member soon
after (a mention or their name), a question aimed at someone that this person then takes up, a
conversation that continues between the two, the asker's thanks, an accept reaction. Bot messages
never count. "Soon" means few messages in between (the question is still on screen) as well as little
time, so the same rules fit a busy chat and a quiet help channel.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Container, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Integer, bindparam, func, insert, literal, or_, select, update

from bot.core.clock import as_utc
from bot.core.events import Event, MemberJoined, MessagePosted, ReactionAdded
from bot.core.text import without_code
from bot.engine.context import RunContext, Subject
from bot.engine.registry import action, scan
from bot.storage.models import HelpRow, MemberRow, QuestionRow
from bot.storage.repositories import Store

QT = QuestionRow.__table__
HELPS = HelpRow.__table__
MT = MemberRow.__table__

# --------------------------------------------------------------------------- detection

_MENTION = re.compile(r"<@!?([A-Za-z0-9_.:-]+)>")
#: where the first word of a line ends when it names someone ("bob: ...", "bob, ...", "bob> ...")
_FIRST_END = re.compile(r"[\s:,;>]")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.I)
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.U)

#: interrogative openers (the word that starts an English or Dutch question)
WH_EN = {"how", "what", "what's", "whats", "why", "where", "where's", "when", "which", "who", "who's", "whom",
         "whose"}
AUX_EN = {"is", "are", "am", "was", "were", "do", "does", "did", "can", "could", "would", "will", "should",
          "shall", "may", "might", "has", "have", "had", "isn't", "aren't", "doesn't", "don't", "didn't",
          "can't", "won't", "wouldn't", "shouldn't", "anyone", "anybody", "someone", "somebody", "any"}
WH_NL = {"hoe", "wat", "waarom", "waar", "wanneer", "welke", "welk", "wie", "hoeveel", "waarmee", "waarvoor"}
AUX_NL = {"is", "zijn", "kan", "kun", "kunnen", "kunt", "mag", "moet", "moeten", "heeft", "hebben", "heb",
          "weet", "weten", "wil", "zou", "werkt", "doe", "doet", "ben", "bestaat", "iemand"}
#: asking for help without a question mark
REQUESTS = re.compile(
    r"\b(?:(?:does|do|did|can|could|would|will|has|have)\s+(?:any|some)(?:one|body)"
    r"|(?:any|some)(?:one|body)\s+(?:know|knows|have|has|got|tried|familiar|able|around|here\s+(?:know|use))"
    r"|any\s+(?:idea|ideas|clue|clues|hints?|suggestions?|pointers?|tips?)"
    r"|is\s+(?:there|it\s+possible)\s+(?:a|an|any|some|to|way)"
    r"|(?:i\s+)?(?:need|want|looking\s+for)\s+(?:some\s+)?help"
    r"|(?:can|could)\s+(?:you|u)\s+(?:help|explain|tell)"
    r"|kan\s+iemand|weet\s+iemand|heeft\s+iemand|iemand\s+(?:een\s+)?(?:idee|ervaring|tips?)"
    r"|is\s+(?:er|het\s+mogelijk)|hulp\s+nodig|wie\s+kan)\b",
    re.I,
)
#: in help channels, a described problem is a request for help even without a question
TROUBLE = re.compile(
    r"\b(?:(?:i'?m|i\s+am)\s+(?:having|getting)\s+(?:trouble|problems?|issues?|an?\s+error)"
    r"|(?:doesn'?t|does\s+not|won'?t|can'?t|cannot)\s+(?:work|start|boot|connect|install|find|load|seem)"
    r"|werkt\s+niet|lukt\s+(?:me\s+)?niet|krijg\s+(?:een\s+)?(?:fout|foutmelding|error))\b",
    re.I,
)
#: exclamations and rhetorical stock phrases that end in a question mark but ask nothing
RHETORICAL = re.compile(
    r"^(?:who\s+(?:cares|knows)|why\s+not|what\s+the\s+\w+|guess\s+what|you\s+know\s+what|what\s+a\b"
    r"|how\s+(?:cool|nice|awesome|great|sweet|funny)\s+is\s+that|isn'?t\s+it|right|really|seriously"
    r"|wie\s+weet|waarom\s+niet|toch|echt|nou)\b",
    re.I,
)
#: greetings and fillers skipped before looking for the opening word
FILLERS = {"hi", "hey", "hello", "hallo", "hoi", "yo", "so", "ok", "okay", "well", "and", "but", "also", "btw",
           "um", "uh", "erm", "oh", "ah", "guys", "all", "everyone", "folks", "please", "pls", "en", "maar",
           "dus", "nou", "goedemorgen", "allemaal", "iedereen", "then", "sorry", "quick", "question"}


#: every ``REQUESTS`` phrase contains one of these words (a cheap test before the expression)
_REQUEST_WORDS = frozenset({"anyone", "anybody", "someone", "somebody", "any", "is", "help", "you", "u", "iemand",
                            "hulp", "wie"})
_APOSTROPHE = re.compile("['’]")


def _parts(words: list[str]) -> set[str]:
    """The words, with "someone's" also read as "someone" and "s" (a ``\\b`` falls inside it)."""
    out = set(words)
    for w in words:
        if "'" in w or "’" in w:
            out.update(_APOSTROPHE.split(w))
    return out


@dataclass(frozen=True)
class QuestionCheck:
    is_question: bool
    why: str


def _prose(text: str) -> str:
    """The member's own words: no mentions, links or code (a ``?`` in a URL asks nothing)."""
    t = text or ""
    t = without_code(t)
    if "://" in t or "www." in t.lower():
        t = _URL.sub(" ", t)
    if "<@" in t:
        t = _MENTION.sub(" ", t)
    if "&" in t:
        t = t.replace("&gt;", ">").replace("&lt;", "<").replace("&amp;", "&")
    return t


def check_question(text: str, *, help_channel: bool = False) -> QuestionCheck:
    """Is this message a question someone could answer? Fragments ("huh?", "really?") are not."""
    prose = _prose(text)
    # lower-casing first is the same for ASCII; elsewhere a letter can lower to two ("İ")
    words = _WORD.findall(prose.lower()) if prose.isascii() else [w.lower() for w in _WORD.findall(prose)]
    if not words:
        return QuestionCheck(False, "no words")
    i = 0
    while i < len(words) - 1 and words[i] in FILLERS:
        i += 1
    core = words[i:]
    opener = core[0]
    second = core[1] if len(core) > 1 else ""
    interrogative = (opener in WH_EN or opener in WH_NL
                     or (opener in AUX_EN and second in {"i", "you", "u", "we", "there", "it", "this", "that",
                                                         "anyone", "anybody", "someone", "somebody", "my",
                                                         "he", "she", "they", "the", "any"})
                     or (opener in AUX_NL and second in {"ik", "je", "jij", "u", "we", "wij", "er", "het",
                                                         "iemand", "dit", "dat", "mijn", "de", "jullie"}))
    stripped = prose.strip()
    if len(core) <= 4 and RHETORICAL.match(" ".join(core)):
        return QuestionCheck(False, "rhetorical")
    has_mark = "?" in prose
    if has_mark:
        # a bare word or two with a question mark is a reaction, not a question to track
        if len(core) >= 3 or (interrogative and len(core) >= 2 and opener not in {"what", "wat", "why",
                                                                                    "waarom", "who", "wie"}):
            return QuestionCheck(True, "question mark")
        return QuestionCheck(False, "fragment")
    # without a question mark, only a real interrogative clause: "how do I", "what is", "hoe kan ik"
    wh_clause = (opener in WH_EN and second in AUX_EN) or (opener in WH_NL and second in AUX_NL)
    aux_clause = interrogative and opener not in WH_EN and opener not in WH_NL
    if len(core) >= 4 and (wh_clause or aux_clause) and not stripped.endswith("!"):
        return QuestionCheck(True, "interrogative")
    if len(words) >= 4 and not _REQUEST_WORDS.isdisjoint(_parts(words)) and REQUESTS.search(" ".join(words)):
        return QuestionCheck(True, "asks for help")
    if help_channel and len(words) >= 5 and TROUBLE.search(" ".join(words)):
        return QuestionCheck(True, "describes a problem in a help channel")
    return QuestionCheck(False, "statement")


def is_question(text: str, *, help_channel: bool = False) -> bool:
    """True when ``text`` asks something (English or Dutch), not a rhetorical fragment."""
    return check_question(text, help_channel=help_channel).is_question


THANKS = re.compile(
    r"\b(?:thanks|thank\s+(?:you|u)|thx|thnx|thanx|tnx|ty|tyvm|cheers|much\s+appreciated|that\s+(?:worked|works|did\s+it"
    r"|fixed\s+it|helped)|it\s+works|solved|bedankt|dank\s+(?:je|jullie|u)|dankjewel|dankuwel|merci|"
    r"het\s+werkt|opgelost)\b",
    re.I,
)


#: thanks that look ahead ("thanks in advance") acknowledge nothing yet
THANKS_AHEAD = re.compile(r"\b(?:in\s+advance|for\s+(?:any|your)\s+(?:help|ideas|suggestions|time)|anyway|alvast|"
                          r"\bbij\s+voorbaat)\b", re.I)
#: the asker reports it works: resolved, whoever helped
WORKS = re.compile(r"\b(?:it\s+works|works\s+now|that\s+(?:worked|did\s+it|fixed\s+it)|solved|fixed\s+it|"
                   r"figured\s+it\s+out|got\s+it\s+working|het\s+werkt|opgelost|gelukt)\b", re.I)


#: the evidence of a ``helps`` row that records a reply rather than an answer to a question
REPLY = "reply: "


def is_thanks(text: str) -> bool:
    """The author says thank you or that it worked (not "thanks in advance")."""
    prose = _prose(text)
    return bool(THANKS.search(prose)) and not THANKS_AHEAD.search(prose)


def mentioned_in(text: str) -> set[str]:
    """Member IDs mentioned in the raw text (``<@U123>``)."""
    return set(_MENTION.findall(text or ""))


# --------------------------------------------------------------------------- answer inference


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


# --------------------------------------------------------------------------- settings


class QuestionSettings(AnswerRules):
    """``[features.questions]``: help channels (by config name, native ID or channel name) and the
    answer rules above."""

    help_channels: list[str] = Field(default_factory=lambda: ["help", "support", "questions", "hulp", "vragen"])
    similar_days: int = Field(90, ge=1, description="how far back to look for members who answered alike")


def question_settings(settings: Any) -> QuestionSettings:
    raw = (getattr(settings, "features", None) or {}).get("questions", {})
    return QuestionSettings.model_validate(raw)


# --------------------------------------------------------------------------- the service


def _key(platform: str, channel_id: str, message_id: str) -> tuple[str, str, str]:
    return platform, channel_id, message_id


#: a late thread reply (``QuestionService._write_late``): the question it answers, if any
_LATE_WHERE = (QT.c.platform == bindparam("l_p"), QT.c.channel_id == bindparam("l_c"),
               QT.c.message_id == bindparam("l_m"), QT.c.status == "open", QT.c.author_id != bindparam("l_by"))
_LATE_HELP = insert(HELPS).from_select(
    ["platform", "helper_id", "member_id", "channel_id", "question_id", "at", "evidence"],
    select(bindparam("l_p", type_=HELPS.c.platform.type), bindparam("l_by", type_=HELPS.c.helper_id.type),
           QT.c.author_id, bindparam("l_c", type_=HELPS.c.channel_id.type),
           bindparam("l_m", type_=HELPS.c.question_id.type), bindparam("l_at", type_=HELPS.c.at.type),
           literal("replied in the thread", HELPS.c.evidence.type)).where(*_LATE_WHERE))
_LATE_ANSWER = update(QT).where(*_LATE_WHERE).values(
    status="answered", answered_by=bindparam("l_ab", type_=QT.c.answered_by.type),
    first_response_at=bindparam("l_at", type_=QT.c.first_response_at.type))

#: a question reaching a tier (``QuestionService.set_tier``); members' last-active times (``_write``)
_SET_TIER = update(QT).where(
    QT.c.platform == bindparam("k_p", type_=QT.c.platform.type), QT.c.channel_id == bindparam("k_c"),
    QT.c.message_id == bindparam("k_m"), QT.c.tier < bindparam("k_t", type_=QT.c.tier.type),
).values(tier=bindparam("k_t", type_=QT.c.tier.type))
_ACTIVE = update(MT).where(
    MT.c.platform == bindparam("p"), MT.c.member_id == bindparam("m"),
    or_(MT.c.last_active_at.is_(None), MT.c.last_active_at < bindparam("t")),
    # a time buffered before the member was forgotten is not written back onto them
    MT.c.forgotten.is_not(True),
).values(last_active_at=bindparam("t"))


async def _forgotten(conn: Any, new: dict, updates: dict, helps: list, late: list) -> set[tuple[str, str]]:
    """The (platform, member) pairs of a write batch whose members have been forgotten."""
    pairs = {(k[0], v["author_id"]) for k, v in new.items()}
    pairs |= {(k[0], a) for k, v in updates.items() for a in v.get("answered_by") or ()}
    pairs |= {(h["platform"], h[c]) for h in helps for c in ("helper_id", "member_id")}
    pairs |= {(x[0], x[3]) for x in late}
    if not pairs:
        return set()
    ids = sorted({m for _, m in pairs})
    out: set[tuple[str, str]] = set()
    for i in range(0, len(ids), 500):
        rows = (await conn.execute(select(MT.c.platform, MT.c.member_id).where(
            MT.c.member_id.in_(ids[i:i + 500]), MT.c.forgotten.is_(True)))).all()
        out |= {(r.platform, r.member_id) for r in rows}
    return out & pairs


class QuestionService:
    """Keeps the questions table in step with the conversation: an engine observer feeds every
    message and reaction to the tracker; new questions, answers, helps and late thread replies (to a
    question the tracker has let go of) are written in batches (the message stream is the hot path):
    a full batch is written behind, in a background task, and ``flush()`` writes everything and
    waits; it comes before anything reads them."""

    def __init__(self, store: Store, settings: Any, *, batch_size: int = 500) -> None:
        self.store = store
        self.settings = settings
        self.qs = question_settings(settings)
        help_ids = set(self.qs.help_channels)
        resolve = getattr(settings, "channel_id", None)
        for name in self.qs.help_channels:
            for plat in ("slack", "discord"):
                cid = resolve(name, plat) if callable(resolve) else None
                if cid:
                    help_ids.add(cid)
        self.tracker = ConversationTracker(AnswerRules.model_validate(
            self.qs.model_dump(include=set(AnswerRules.model_fields))), help_channels=help_ids)
        self.batch_size = batch_size
        self._new: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._updates: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._helps: list[dict[str, Any]] = []
        self._active: dict[tuple[str, str], datetime] = {}
        #: late thread replies, in arrival order: (platform, channel, root message, replier, at)
        self._late: list[tuple[str, str, str, str, datetime]] = []
        self._named: set[tuple[str, str]] = set()
        self._writing: asyncio.Task | None = None
        #: newest question asked per platform, so an idle tick skips the query (replays cross years)
        self._latest: dict[str, datetime | None] = {}
        #: bumped on every change of a question's state; with ``_asked`` it lets a scan that found
        #: nothing due skip its query until something changes or a waiting question comes due
        self.version = 0
        self._asked: dict[str, list[datetime]] = {}
        self._first_seen: dict[str, datetime] = {}
        self.quiet_until: dict[tuple, tuple[int, datetime]] = {}

    # ---- observing
    async def observe(self, ev: Event, facts: dict[str, Any]) -> None:
        """Engine observer: every event passes here before the playbooks run."""
        self._first_seen.setdefault(ev.platform, ev.at)
        if isinstance(ev, MessagePosted):
            await self._message(ev)
        elif isinstance(ev, ReactionAdded):
            self._touch(ev.platform, ev.member_id, ev.at)
            for ch in self.tracker.reaction(platform=ev.platform, channel_id=ev.channel_id,
                                            message_id=ev.message_id, member_id=ev.member_id, emoji=ev.emoji,
                                            at=ev.at, message_author_id=ev.message_author_id):
                self._record(ch)
        elif isinstance(ev, MemberJoined):
            self.tracker.learn_name(ev.platform, ev.member_id, ev.display_name, is_bot=ev.is_bot)
            self._named.add((ev.platform, ev.member_id))
        else:
            return
        # members' last-active times are one row per member, rewritten as they talk: they wait for a
        # flush (a scan, a report, the live loop's periodic one) unless they pile up
        if self._pending() >= self.batch_size or self._active_piled_up():
            await self._write_behind()

    async def _message(self, ev: MessagePosted) -> None:
        key = (ev.platform, ev.author_id)
        if key not in self._named:
            self._named.add(key)
            name, bot = ev.author_name, ev.is_bot
            if not name:
                m = await self.store.get_member(ev.platform, ev.author_id)
                name, bot = (m.display_name if m else None), bot or bool(m and m.is_bot)
            self.tracker.learn_name(ev.platform, ev.author_id, name, is_bot=bot)
        if not ev.is_bot:
            self._touch(ev.platform, ev.author_id, ev.at)
        changes = self.tracker.observe(platform=ev.platform, channel_id=ev.channel_id, message_id=ev.message_id,
                                       author_id=ev.author_id, at=ev.at, text=ev.text, mentions=ev.mentions,
                                       thread_id=ev.thread_id, reply_to=ev.reply_to, is_bot=ev.is_bot,
                                       channel_name=ev.channel_name)
        for ch in changes:
            self._record(ch)
        root = ev.thread_id or ev.reply_to
        if root and not ev.is_bot and not any(c.kind == "answered" for c in changes) \
                and self.tracker.channels.get((ev.platform, ev.channel_id)) is not None \
                and root not in self.tracker.channels[(ev.platform, ev.channel_id)].by_id:
            # a late reply in the thread of a question the tracker has already let go of: it answers
            # the question if it is still open and the replier is not the asker (decided in ``_write``)
            self.version += 1
            self._late.append((ev.platform, ev.channel_id, root, ev.author_id, ev.at))

    def _touch(self, platform: str, member_id: str, at: datetime) -> None:
        k = (platform, member_id)
        prev = self._active.get(k)
        if prev is None or at > prev:
            self._active[k] = at

    def _record(self, ch: Change) -> None:
        if ch.kind == "replied":
            self._helps.append({"platform": ch.platform, "helper_id": ch.by, "member_id": ch.to,
                                "channel_id": ch.channel_id, "question_id": ch.ref, "at": ch.at,
                                "evidence": (REPLY + ch.evidence)[:64]})
            return
        q = ch.question
        k = _key(q.platform, q.channel_id, q.message_id)
        self.version += 1
        if ch.kind == "asked":
            asked = self._asked.setdefault(q.platform, [])
            asked.append(q.asked_at)
            if len(asked) > 4096:
                del asked[:2048]
            if q.platform in self._latest:
                prev = self._latest[q.platform]
                self._latest[q.platform] = q.asked_at if prev is None or q.asked_at > prev else prev
            self._new[k] = {"platform": q.platform, "channel_id": q.channel_id, "message_id": q.message_id,
                            "author_id": q.author_id, "asked_at": q.asked_at, "status": "open",
                            "answered_by": [], "first_response_at": None, "tier": 0}
            return
        values = {"status": q.status, "answered_by": list(q.answered_by),
                  "first_response_at": q.first_response_at}
        if q.status == "resolved":
            values.update(resolved_by=q.author_id, resolved_at=ch.at)
        if k in self._new:
            self._new[k].update(values)
        else:
            self._updates.setdefault(k, {}).update(values)
        if ch.by and ch.by != q.author_id and ch.kind == "answered":
            self._helps.append({"platform": q.platform, "helper_id": ch.by, "member_id": q.author_id,
                                "channel_id": q.channel_id, "question_id": q.message_id,
                                "at": ch.at or q.asked_at, "evidence": ch.evidence[:64]})

    def _pending(self) -> int:
        return len(self._new) + len(self._updates) + len(self._helps) + len(self._late)

    def forget_member(self, platform: str, member_id: str) -> None:
        """Let go of everything held in memory about a forgotten member (called after the database
        forget): their questions, name and place in conversations, and buffered rows about them."""
        self.tracker.forget(platform, member_id)
        self._active.pop((platform, member_id), None)
        self._named.discard((platform, member_id))
        self._new = {k: v for k, v in self._new.items() if (k[0], v["author_id"]) != (platform, member_id)}
        self._helps = [h for h in self._helps if h["platform"] != platform
                       or member_id not in (h["helper_id"], h["member_id"])]
        self._late = [x for x in self._late if (x[0], x[3]) != (platform, member_id)]

    def _active_piled_up(self) -> bool:
        return len(self._active) >= 8 * self.batch_size

    def _take(self, *, active: bool = True) -> tuple[dict, dict, list, list, dict]:
        new, self._new = self._new, {}
        updates, self._updates = self._updates, {}
        helps, self._helps = self._helps, []
        late, self._late = self._late, []
        if active or self._active_piled_up():
            act, self._active = self._active, {}
        else:
            act = {}
        return new, updates, helps, late, act

    async def _write_behind(self) -> None:
        task = self._writing
        if task is not None and not task.done() and self._pending() < 4 * self.batch_size:
            return  # the batch before is still being written: let this one grow meanwhile
        await self._join_writer()
        self._writing = asyncio.create_task(self._write(*self._take(active=False)))

    async def _join_writer(self) -> None:
        while (task := self._writing) is not None:
            try:
                await asyncio.shield(task)
            finally:
                if self._writing is task:
                    self._writing = None

    async def flush(self) -> None:
        """Write what the observer has buffered (and the store's buffers), and wait for it."""
        await self._join_writer()
        await self.store.flush()
        if self._new or self._updates or self._helps or self._late or self._active:
            await self._write(*self._take())

    async def _write(self, new: dict, updates: dict, helps: list, late: list, active: dict) -> None:
        try:
            async with self.store.batch_lock, self.store.engine.begin() as conn:
                gone = await _forgotten(conn, new, updates, helps, late)
                if gone:
                    # forgotten (maybe by `steward forget` in another process) while still in this
                    # buffer or in the tracker's memory: nothing about them is written back
                    new = {k: v for k, v in new.items() if (k[0], v["author_id"]) not in gone}
                    helps = [h for h in helps if (h["platform"], h["helper_id"]) not in gone
                             and (h["platform"], h["member_id"]) not in gone]
                    late = [x for x in late if (x[0], x[3]) not in gone]
                    for (plat, _c, _m), values in updates.items():
                        if "answered_by" in values:
                            values["answered_by"] = [a for a in values["answered_by"] if (plat, a) not in gone]
                if new:
                    await self.store.insert_ignore(conn, QT, list(new.values()),
                                                   ("platform", "channel_id", "message_id"))
                # updates that set the same columns go as one executemany (one round trip each)
                groups: dict[tuple[str, ...], list[dict]] = {}
                for (plat, cid, mid), values in updates.items():
                    groups.setdefault(tuple(sorted(values)), []).append(
                        {"k_p": plat, "k_c": cid, "k_m": mid, **{f"v_{c}": v for c, v in values.items()}})
                for cols, params in groups.items():
                    await conn.execute(update(QT).where(QT.c.platform == bindparam("k_p"),
                                                        QT.c.channel_id == bindparam("k_c"),
                                                        QT.c.message_id == bindparam("k_m"), QT.c.status == "open")
                                       .values({c: bindparam(f"v_{c}") for c in cols}), params)
                if helps:
                    await conn.execute(insert(HELPS), helps)
                if late:
                    await self._write_late(conn, late)
                if active:
                    await conn.execute(_ACTIVE, [{"p": p, "m": m, "t": t} for (p, m), t in active.items()])
        except BaseException:
            # rolled back: put the batch back under what has arrived since, so nothing is lost
            for k, row in new.items():
                self._new.setdefault(k, row)
            for k, values in updates.items():
                self._updates[k] = {**values, **self._updates.get(k, {})}
            self._helps[:0] = helps
            self._late[:0] = late
            for k, t in active.items():
                if k not in self._active or self._active[k] < t:
                    self._active[k] = t
            raise

    @staticmethod
    async def _write_late(conn: Any, late: list[tuple[str, str, str, str, datetime]]) -> None:
        """Late thread replies, as if applied one at a time in arrival order: a reply answers its
        question when the row exists, is still open and the replier is not the asker (the question
        is answered by them, with a helps row). Applied in rounds: round n holds each question's
        n-th reply, so within a round no question comes twice and the helps INSERT of every reply
        can go before the UPDATEs (it reads the status before its own reply changes it) as one
        executemany each. A second reply by the same member to the same question can change nothing
        the first did not, so it is left out."""
        rounds: list[list[dict[str, Any]]] = []
        count: dict[tuple[str, str, str], int] = {}
        seen: set[tuple[str, str, str, str]] = set()
        for plat, cid, root, by, at in late:
            if (plat, cid, root, by) in seen:
                continue
            seen.add((plat, cid, root, by))
            n = count.get((plat, cid, root), 0)
            count[(plat, cid, root)] = n + 1
            if n == len(rounds):
                rounds.append([])
            rounds[n].append({"l_p": plat, "l_c": cid, "l_m": root, "l_by": by, "l_at": at, "l_ab": [by]})
        for params in rounds:
            await conn.execute(_LATE_HELP, params)
            await conn.execute(_LATE_ANSWER, params)

    def quiet_hint(self, platform: str, cutoff: datetime, wait: timedelta) -> datetime | None:
        """After a scan found nothing older than ``cutoff``: when the earliest question this process saw
        asked since then comes due. None when this process cannot know (it has not watched the whole
        span, or other instances share a PostgreSQL store and see traffic this one does not)."""
        first = self._first_seen.get(platform)
        if self.store.is_postgres or first is None or cutoff < first:
            return None
        pending = [t for t in self._asked.get(platform, ()) if t > cutoff]
        return min(pending) + wait if pending else datetime.max.replace(tzinfo=cutoff.tzinfo)

    async def latest_asked(self, platform: str) -> datetime | None:
        """When the newest question on ``platform`` was asked (read once, then kept up to date)."""
        if platform not in self._latest:
            await self.flush()
            async with self.store.engine.connect() as conn:
                v = (await conn.execute(select(func.max(QT.c.asked_at)).where(QT.c.platform == platform))).scalar()
            self._latest[platform] = as_utc(v) if v is not None else None
        return self._latest[platform]

    # ---- decisions from people
    async def resolve(self, platform: str, channel_id: str, message_id: str, *, by: str, at: datetime) -> bool:
        """Mark a question resolved (button, reaction or thanks). False when there is no such question."""
        self.version += 1
        await self.flush()
        async with self.store.engine.begin() as conn:
            res = await conn.execute(update(QT).where(
                QT.c.platform == platform, QT.c.channel_id == channel_id, QT.c.message_id == message_id,
                QT.c.status == "open").values(status="resolved", resolved_by=by, resolved_at=at))
        return bool(res.rowcount)

    async def set_tier(self, platform: str, keys: Iterable[tuple[str, str]], tier: int) -> None:
        self.version += 1
        await self.flush()
        params = [{"k_p": platform, "k_c": cid, "k_m": mid, "k_t": tier} for cid, mid in keys]
        if not params:
            return
        async with self.store.engine.begin() as conn:  # one executemany: one round trip
            await conn.execute(_SET_TIER, params)


# --------------------------------------------------------------------------- the scan

_STOP = {"this", "that", "with", "have", "from", "what", "when", "where", "which", "there", "their", "about",
         "would", "could", "should", "anyone", "someone", "does", "know", "need", "want", "help", "like",
         "just", "some", "into", "your", "will", "them", "then", "than", "been", "were", "here", "they",
         "hoe", "wat", "waarom", "iemand", "weet", "voor", "een", "niet", "maar", "mijn", "deze", "heeft",
         "kunnen", "wordt", "worden", "welke", "getting", "trying", "still", "work", "works", "working"}


def keywords(text: str | None) -> set[str]:
    """Content words of a question, for "who answered something like this before"."""
    return {w for w in (x.lower() for x in _WORD.findall(_prose(text or ""))) if len(w) >= 4 and w not in _STOP}


class UnansweredParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    older_than: str = Field("30m", description="only questions waiting at least this long, e.g. 30m, 4h")
    newer_than: str = Field("7d", description="... and asked within this long (older ones are stale)")
    below_tier: int = Field(1, ge=1, le=9, description="questions not yet escalated to this tier")
    channels: list[str] = Field(default_factory=list, description="only these channels (config names or IDs)")
    digest: bool = Field(False, description="one subject listing every question (for a moderators' digest)")
    suggest_helpers: int = Field(2, ge=0, le=5, description="members who answered similar questions before")
    limit: int = Field(25, ge=1, le=200)


async def channel_names(store: Store, platform: str, settings: Any = None) -> dict[str, str]:
    """Channel ID → name, from the platform (stored channels) or else the config's [channels]."""
    names = {ids[platform]: name for name, ids in (getattr(settings, "channels", None) or {}).items()
             if platform in ids}
    names.update({c.channel_id: c.name for c in await store.channels(platform) if c.name})
    return names


def question_view(platform: str, r: Any, names: dict[str, str], members: dict[str, str], now: datetime
                  ) -> dict[str, Any]:
    from bot.messaging.templates import ago

    asked = as_utc(r.asked_at)
    return {"id": r.message_id, "key": f"{r.channel_id}/{r.message_id}",
            "channel": {"id": r.channel_id, "name": names.get(r.channel_id, r.channel_id)},
            "author": {"id": r.author_id, "name": members.get(r.author_id) or r.author_id},
            "text": r.text or "", "asked_at": asked, "age": ago(asked, now), "url": ""}


def _open_questions_query(channels: bool) -> Any:
    """The statement of ``open_questions``, built once (a scan runs it every tick)."""
    from bot.storage.models import MessageRow

    msg = MessageRow.__table__
    q = (select(QT.c.channel_id, QT.c.message_id, QT.c.author_id, QT.c.asked_at, QT.c.tier, msg.c.text,
                MT.c.display_name)
         .select_from(QT.outerjoin(msg, (msg.c.platform == QT.c.platform) & (msg.c.channel_id == QT.c.channel_id)
                                   & (msg.c.message_id == QT.c.message_id))
                      .outerjoin(MT, (MT.c.platform == QT.c.platform) & (MT.c.member_id == QT.c.author_id)))
         .where(QT.c.platform == bindparam("o_p", type_=QT.c.platform.type), QT.c.status == "open",
                QT.c.tier < bindparam("o_tier", type_=QT.c.tier.type),
                QT.c.asked_at <= bindparam("o_old", type_=QT.c.asked_at.type),
                QT.c.asked_at >= bindparam("o_new", type_=QT.c.asked_at.type))
         .order_by(QT.c.asked_at).limit(bindparam("o_limit", type_=Integer())))
    if channels:
        q = q.where(QT.c.channel_id.in_(bindparam("o_chans", expanding=True, type_=QT.c.channel_id.type)))
    return q


_OPEN_QUESTIONS = {False: _open_questions_query(False), True: _open_questions_query(True)}


async def open_questions(store: Store, platform: str, *, older_than: datetime, newer_than: datetime,
                         below_tier: int = 9, channel_ids: set[str] | None = None, limit: int = 25) -> list[Any]:
    """Open questions asked in [newer_than, older_than], oldest first (ix_questions_open)."""
    params: dict[str, Any] = {"o_p": platform, "o_tier": below_tier, "o_old": older_than, "o_new": newer_than,
                              "o_limit": limit}
    if channel_ids:
        params["o_chans"] = sorted(channel_ids)
    async with store.engine.connect() as conn:
        return list((await conn.execute(_OPEN_QUESTIONS[bool(channel_ids)], params)).all())


async def similar_helpers(store: Store, platform: str, channel_id: str, text: str, *, asker: str,
                          since: datetime, n: int) -> list[dict[str, str]]:
    """Members who answered questions sharing words with this one in the channel (most alike first);
    opted-out members and bots are left out, since a mention is a message too."""
    from bot.storage.models import MessageRow, PreferenceRow

    if n <= 0:
        return []
    msg, prefs = MessageRow.__table__, PreferenceRow.__table__
    q = (select(HELPS.c.helper_id, msg.c.text)
         .select_from(HELPS.outerjoin(msg, (msg.c.platform == HELPS.c.platform)
                                      & (msg.c.channel_id == HELPS.c.channel_id)
                                      & (msg.c.message_id == HELPS.c.question_id)))
         .where(HELPS.c.platform == platform, HELPS.c.channel_id == channel_id, HELPS.c.at >= since,
                HELPS.c.evidence.not_like(REPLY + "%"))
         .order_by(HELPS.c.at.desc()).limit(500))
    async with store.engine.connect() as conn:
        rows = (await conn.execute(q)).all()
        want = keywords(text)
        score: dict[str, float] = {}
        for r in rows:
            if r.helper_id == asker:
                continue
            overlap = len(want & keywords(r.text))
            score[r.helper_id] = score.get(r.helper_id, 0.0) + overlap + 0.01
        ranked = sorted(score, key=lambda h: -score[h])
        if not ranked:
            return []
        info = (await conn.execute(select(MT.c.member_id, MT.c.display_name, MT.c.is_bot).where(
            MT.c.platform == platform, MT.c.member_id.in_(ranked[:50])))).all()
        out_opt = {r.member_id for r in (await conn.execute(select(prefs.c.member_id).where(
            prefs.c.platform == platform, prefs.c.member_id.in_(ranked[:50]), prefs.c.opted_out.is_(True)))).all()}
    names = {r.member_id: (r.display_name or r.member_id) for r in info if not r.is_bot}
    return [{"id": h, "name": names[h]} for h in ranked if h in names and h not in out_opt][:n]


@scan("unanswered_questions", UnansweredParams)
async def unanswered_questions(ctx: RunContext, p: UnansweredParams) -> list[Subject]:
    """Open questions past a waiting time, with members who answered similar ones before."""
    from bot.engine.durations import parse_duration

    store, plat, now = ctx.engine.store, ctx.platform, ctx.now
    svc = ctx.engine.services.get("questions")
    if svc is not None:
        latest = await svc.latest_asked(plat)
        if latest is None or latest < now - parse_duration(p.newer_than):
            return []  # nothing asked recently enough: no query
        quiet_key = (plat, p.older_than, p.newer_than, p.below_tier, tuple(p.channels), p.limit, p.digest)
        hint = svc.quiet_until.get(quiet_key)
        if hint is not None and hint[0] == svc.version and now < hint[1]:
            return []  # nothing changed and nothing has come due since the last empty answer
        await svc.flush()
    resolve = getattr(ctx.engine.settings, "channel_id", None)
    ids = {(resolve(c, plat) if callable(resolve) else None) or c for c in p.channels}
    rows = await open_questions(store, plat, older_than=now - parse_duration(p.older_than),
                                newer_than=now - parse_duration(p.newer_than), below_tier=p.below_tier,
                                channel_ids=ids or None, limit=p.limit)
    if not rows:
        if svc is not None:
            wait = parse_duration(p.older_than)
            until = svc.quiet_hint(plat, now - wait, wait)
            if until is not None:
                svc.quiet_until[quiet_key] = (svc.version, until)
        return []
    names = await channel_names(store, plat, ctx.engine.settings)
    qs_settings = question_settings(ctx.engine.settings)
    views = []
    for r in rows:
        v = question_view(plat, r, names, {r.author_id: r.display_name}, now)
        v["helpers"] = await similar_helpers(store, plat, r.channel_id, r.text or "", asker=r.author_id,
                                             since=now - timedelta(days=qs_settings.similar_days),
                                             n=p.suggest_helpers)
        views.append(v)
    if p.digest:
        return [Subject(plat, "unanswered-digest", vars={"questions": views, "tier": p.below_tier},
                        reason=f"{len(views)} question(s) still unanswered")]
    return [Subject(plat, f"q:{v['key']}", member_id=v["author"]["id"], channel_id=v["channel"]["id"],
                    message_id=v["id"], vars={"question": v, "helpers": v["helpers"], "tier": p.below_tier},
                    reason=f"question unanswered for {v['age']}")
            for v in views]


class EscalateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tier: int = Field(ge=1, le=9, description="the tier these questions have now reached")


@action("escalate_question", EscalateParams)
async def escalate_question(ctx: RunContext, p: EscalateParams) -> None:
    """Record that the subject's question(s) reached this tier, so the next tier takes over later."""
    if ctx.outbox is not None:
        return  # a preview changes nothing
    svc = ctx.engine.services.get("questions")
    if svc is None:
        return
    qs = ctx.subject.vars.get("questions") or [ctx.subject.vars.get("question")]
    keys = [(q["channel"]["id"], q["id"]) for q in qs if q]
    await svc.set_tier(ctx.platform, keys, p.tier)
