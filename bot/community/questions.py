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

import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

# --------------------------------------------------------------------------- detection

_MENTION = re.compile(r"<@!?([A-Za-z0-9_.:-]+)>")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.I)
_CODE = re.compile(r"```.*?```|`[^`]*`", re.S)
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


@dataclass(frozen=True)
class QuestionCheck:
    is_question: bool
    why: str


def _prose(text: str) -> str:
    """The member's own words: no mentions, links or code (a ``?`` in a URL asks nothing)."""
    t = _CODE.sub(" ", text or "")
    t = _URL.sub(" ", t)
    t = _MENTION.sub(" ", t)
    return t.replace("&gt;", ">").replace("&lt;", "<").replace("&amp;", "&")


def check_question(text: str, *, help_channel: bool = False) -> QuestionCheck:
    """Is this message a question someone could answer? Fragments ("huh?", "really?") are not."""
    prose = _prose(text)
    words = [w.lower() for w in _WORD.findall(prose)]
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
    if RHETORICAL.match(" ".join(core)) and len(core) <= 4:
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
    if REQUESTS.search(" ".join(words)) and len(words) >= 4:
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

    reply_window_minutes: float = Field(120, gt=0, description="an addressed reply counts within this time")
    reply_window_messages: int = Field(40, ge=1, description="... and within this many channel messages")
    takeup_messages: int = Field(12, ge=1, description="a question aimed at someone: their next message "
                                                         "within this many messages answers it")
    thanks_messages: int = Field(30, ge=1, description="the asker's thanks within this many messages")
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
    """What one observed message changed: a new question, or a question now answered."""

    kind: str  # asked | answered
    question: TrackedQuestion
    by: str | None = None
    at: datetime | None = None
    evidence: str = ""


class _ChannelState:
    def __init__(self, keep: int) -> None:
        self.pos = 0
        self.recent: deque[Seen] = deque(maxlen=keep)
        self.open: list[TrackedQuestion] = []
        self.by_id: dict[str, TrackedQuestion] = {}


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

    # ---- names
    def learn_name(self, platform: str, member_id: str, name: str | None, *, is_bot: bool = False) -> None:
        """Remember a member's display name (and whether it is a bot)."""
        if is_bot:
            self.bots.add((platform, member_id))
        key = _norm_name(name or "")
        if len(key) >= self.rules.min_name_length:
            self.names[(platform, key)] = member_id

    def _addressed_by_name(self, platform: str, text: str, participants: set[str]) -> set[str]:
        out: set[str] = set()
        prose = _MENTION.sub(" ", text or "").replace("&gt;", ">").replace("&lt;", "<").strip()
        if not prose:
            return out
        # "name: ...", "name, ...", "name> ...", "name - ...", "name ...", "<name> ..."
        first = re.split(r"[\s:,;>]+", prose.lstrip("<@ "), maxsplit=1)[0]
        # "... | name" (an IRC factoid aimed at someone), "..., name"
        last = re.split(r"[\s|,]+", prose.rstrip(" .!?:)"))[-1] if prose else ""
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
        is_bot = is_bot or (platform, author_id) in self.bots
        participants = {s.author_id for s in st.recent}
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
        st.recent.append(seen)
        if is_bot:
            return changes
        if seen.asked:
            q = TrackedQuestion(platform, channel_id, message_id, author_id, at, text, frozenset(addressed),
                                st.pos)
            st.open.append(q)
            st.by_id[message_id] = q
            changes.append(Change("asked", q, at=at))
        self._asker_moved_on(st, seen)
        return changes

    def _expire(self, st: _ChannelState, now: datetime) -> None:
        """Forget open questions past every window: nothing can answer them by inference now."""
        r = self.rules
        horizon = max(r.reply_window_messages, r.takeup_messages, r.thanks_messages)
        limit = timedelta(minutes=r.reply_window_minutes)
        keep = []
        for q in st.open:
            if q.status == "open" and (st.pos - q.pos <= horizon and now - q.asked_at <= limit):
                keep.append(q)
            else:
                st.by_id.pop(q.message_id, None)
        st.open = keep

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
                self._asker_thanks(q, m, st, mark)
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
                    self._asker_thanks(q, m, st, mark)
        return out

    def _asker_thanks(self, q: TrackedQuestion, m: Seen, st: _ChannelState, mark) -> None:
        """Thanks to someone who spoke since the question answers it; "it works" alone resolves it."""
        since = [s for s in st.recent if q.pos < s.pos < m.pos and s.author_id != q.author_id and not s.is_bot]
        helper = next((s for s in since if s.author_id in m.addressed), None) or \
            next((s for s in since if q.author_id in s.addressed), None)
        if helper is not None:
            mark(q, helper.author_id, "the asker said thanks")
            q.first_response_at = helper.at
        elif WORKS.search(_prose(m.text)) and q.status == "open":
            q.status = "resolved"
            q.evidence = "the asker said it works"

    def reaction(self, *, platform: str, channel_id: str, message_id: str, member_id: str, emoji: str,
                 at: datetime, message_author_id: str | None = None) -> list[Change]:
        """An accept reaction on a question by someone else, or by the asker on a reply, answers it."""
        if emoji.strip(":") not in self.rules.accept_emoji or (platform, member_id) in self.bots:
            return []
        st = self.channels.get((platform, channel_id))
        if st is None:
            return []
        q = st.by_id.get(message_id)
        if q is not None and q.status == "open" and member_id != q.author_id:
            q.status, q.answered_by, q.first_response_at = "answered", [member_id], at
            q.evidence = "accept reaction"
            return [Change("answered", q, by=member_id, at=at, evidence="accept reaction")]
        # the asker accepting someone's reply
        target = next((s for s in st.recent if s.message_id == message_id), None)
        if target is not None and target.author_id != member_id:
            q2 = self._latest_open_of(st, member_id)
            if q2 is not None and target.pos > q2.pos:
                q2.status, q2.answered_by, q2.first_response_at = "answered", [target.author_id], target.at
                q2.evidence = "the asker accepted a reply"
                return [Change("answered", q2, by=target.author_id, at=target.at, evidence=q2.evidence)]
        return []


def _norm_name(name: str) -> str:
    return name.strip().lower().strip("@<>[]|_-:,.")
