"""What the reply-link model looks at: for a new message and each earlier message in a window, how
far back it is, who addressed whom, how the two authors have been taking turns, and what the two
texts say (a question, thanks, shared words).

Every feature is about the shape of a conversation, not its subject: no word of any one community
is in here, and the text cues are a handful of English and Dutch words for asking and thanking,
so the same model reads a Slack help channel, a Discord server or an IRC log.
"""

from __future__ import annotations

import re
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from bot.core.text import lower_twin, without_code

#: a Slack (``<@U123>``) or Discord (``<@123>``, ``<@!123>``) mention
MENTION = re.compile(r"<@!?([A-Za-z0-9_.:-]+)>")
_WORD = re.compile(r"[^\W_]{3,}", re.U)
_URL = re.compile(r"https?://|www\.", re.I)
#: what separates the words of a line that may name someone ("bob: ...", "bob, ...", "... | bob")
_NAME_SPLIT = re.compile(r"[\s:,;>|!?()]+")

#: the words that open a question (English and Dutch)
_ASK_OPENERS = frozenset({
    "how", "what", "what's", "whats", "why", "where", "when", "which", "who", "whom", "whose", "is", "are",
    "do", "does", "did", "can", "could", "would", "will", "should", "has", "have", "anyone", "anybody",
    "someone", "somebody", "any",
    "hoe", "wat", "waarom", "waar", "wanneer", "welke", "welk", "wie", "hoeveel", "kan", "kun", "kunnen",
    "kunt", "mag", "moet", "heeft", "hebben", "weet", "iemand", "zijn", "werkt"})
THANKS = re.compile(
    r"\b(?:thanks?|thank\s+you|thx|tnx|ty|tyvm|cheers|much\s+appreciated|appreciate\s+it|that\s+worked|"
    r"it\s+works|works\s+now|solved|fixed\s+it|got\s+it\s+working|"
    r"dank\s*je|dank\s*u|dankjewel|dankuwel|bedankt|merci|het\s+werkt|werkt\s+nu|opgelost|gelukt)\b",
    re.I)
#: the same for ASCII text lowercased (case-insensitive matching is the slower)
_THANKS_LOWER = lower_twin(THANKS)
_WORD_ASCII = re.compile(r"[a-z0-9]{3,}")
#: very common words of either language that say nothing about the subject
_STOP = frozenset({
    "the", "and", "you", "for", "that", "this", "with", "have", "not", "are", "but", "can", "what", "how", "was",
    "just", "your", "its", "it's", "there", "then", "they", "them", "from", "get", "got", "use", "any", "all",
    "yes", "out", "one", "now", "will", "would", "should", "could", "does", "did", "dont", "don't", "i'm",
    "het", "een", "van", "dat", "die", "niet", "met", "voor", "maar", "ook", "nog", "wel", "dan", "als", "wat",
    "hoe", "bij", "naar", "kan", "heb", "zijn", "deze", "moet", "jij", "wij", "hij", "zij", "ik"})


@dataclass(slots=True)
class Line:
    """One message as the model remembers it: everything a pair feature needs, computed once."""

    pos: int
    at: float
    author: str
    is_bot: bool
    addressed: frozenset[str]
    words: frozenset[str]
    question: bool
    thanks: bool
    length: int
    url: bool
    #: the addressing is at the start of the line ("bob: try this")
    leading: bool
    message_id: str = ""


def words_of(text: str) -> frozenset[str]:
    return _words_lower(text.lower())


def _words_lower(low: str) -> frozenset[str]:
    # in lowercased ASCII, ``[^\W_]`` is ``[a-z0-9]``
    return frozenset(_WORD_ASCII.findall(low) if low.isascii() else _WORD.findall(low)).difference(_STOP)


def is_question_cue(text: str) -> bool:
    """A question mark, or a line that opens with a question word (English or Dutch)."""
    if "?" in text:
        return True
    head = text.lstrip().split(None, 1)
    return bool(head) and head[0].lower().strip(",.:!") in _ASK_OPENERS and len(text) > 12


def is_thanks_cue(text: str) -> bool:
    return bool(_THANKS_LOWER.search(text.lower()) if text.isascii() else THANKS.search(text))


def norm_name(name: str) -> str:
    return name.strip().lower().strip("@<>[]|_-:,.")


@dataclass
class PairHistory:
    """Who addressed whom lately in a channel: (a, b) sorted -> (last position, how many times)."""

    last: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)

    def note(self, a: str, b: str, pos: int) -> None:
        key = (a, b) if a < b else (b, a)
        prev = self.last.get(key)
        self.last[key] = (pos, (prev[1] + 1) if prev else 1)

    def get(self, a: str, b: str) -> tuple[int, int] | None:
        return self.last.get((a, b) if a < b else (b, a))

    def trim(self, oldest: int) -> None:
        self.last = {k: v for k, v in self.last.items() if v[0] >= oldest}


#: the features, in the order of a row (the shipped model file names them, so they are checked at load)
FEATURES = (
    "gap_lines", "gap_seconds", "same_author", "child_addresses_parent", "parent_addresses_child",
    "child_addresses_other", "parent_addresses_other", "child_addresses_any", "parent_is_bot", "child_is_bot",
    "parent_author_later_lines", "child_author_between", "authors_between", "child_prev_gap",
    "pair_last_gap", "pair_exchanges", "parent_question", "child_question", "child_thanks", "parent_thanks",
    "shared_words", "child_words", "parent_words", "child_url", "parent_url", "child_length", "parent_length",
    "child_leading_address", "parent_turn", "candidate_rank", "gap_relative",
)
N_FEATURES = len(FEATURES)
#: a gap that did not happen ("never addressed each other")
NEVER = 10_000
#: candidates further back than ``near`` lines are scored only when addressed (either way) or, up to
#: ``latest`` lines back, when they are their author's latest line. Training looks wider (10, 25:
#: 98% of the gold links in 40% of the pairs) than Steward runs (6, 0: the same decisions on the dev
#: logs with 9 candidates a message instead of 16); both are in the model file
TRAIN_NEAR_LINES, TRAIN_LATEST_LINES = 10, 25
#: how many lines that left a channel's window are still known by their message ID (a thread's root)
THREAD_ROOTS = 500
#: a name counts as addressing someone who wrote within this many lines (so common words that are
#: also somebody's name are not read as addressing them)
PRESENT_LINES = 100


def pair_rows(m: Line, window: deque[Line] | list[Line], pairs: PairHistory, prev_of_author: dict[str, int],
              *, max_lines: int, max_seconds: float, pace: float = 60.0, near: int = TRAIN_NEAR_LINES,
              latest: int = TRAIN_LATEST_LINES, far: bool = True) -> tuple[list[Line], list[list[float]]]:
    """The candidates for ``m``'s parent (most recent first) and one feature row for each. ``pace``:
    the channel's usual time between lines lately (seconds), so a gap reads as long or short for
    that channel: twenty minutes is an age in a busy chat and a quick answer in a quiet one.
    ``far=False``: the caller knows that no line past ``near`` can be a candidate (none is
    addressed either way and ``latest <= near``), so the scan stops there."""
    per_pace = 1.0 / (pace + 1.0)
    cands: list[Line] = []
    rows: list[list[float]] = []
    #: author -> their lines between a candidate and ``m``; the authors of far lines passed over
    #: wait in ``passed`` until a candidate needs the counts (most messages score none that far)
    between: dict[str, int] = {}
    passed: list[str] = []
    author = m.author
    m_pos, m_at, m_addressed = m.pos, m.at, m.addressed
    child_any = 1.0 if m_addressed else 0.0
    child_prev = m_pos - prev_of_author[author] if author in prev_of_author else NEVER
    mw = m.words
    nmw = len(mw)
    m_bot, m_question, m_thanks = 1.0 if m.is_bot else 0.0, 1.0 if m.question else 0.0, 1.0 if m.thanks else 0.0
    m_url, m_length, m_leading = 1.0 if m.url else 0.0, m.length, 1.0 if m.leading else 0.0
    pair_last = pairs.last
    stop = max_lines if far else min(max_lines, near)
    for rank, c in enumerate(reversed(window)):
        gap = m_pos - c.pos
        dt = m_at - c.at
        if gap > stop or dt > max_seconds:
            break
        ca = c.author
        c_addr_m = author in c.addressed
        m_addr_c = ca in m_addressed
        if gap > near and not (c_addr_m or m_addr_c):
            # far back and not addressed either way: scored only when its author's latest line
            # within ``latest`` lines
            if gap > latest:
                passed.append(ca)
                continue
            if passed:
                for x in passed:
                    between[x] = between.get(x, 0) + 1
                passed.clear()
            later = between.get(ca, 0)
            if later:
                between[ca] = later + 1
                continue
        else:
            if passed:
                for x in passed:
                    between[x] = between.get(x, 0) + 1
                passed.clear()
            later = between.get(ca, 0)
        mine = between.get(author, 0)
        ph = pair_last.get((author, ca) if author < ca else (ca, author)) if ca != author else None
        cw = c.words
        # the author of the candidate answered the child's author last time round: its next line
        # from the child's author is likely the turn back
        rows.append([
            gap, dt, 1.0 if ca == author else 0.0, 1.0 if m_addr_c else 0.0, 1.0 if c_addr_m else 0.0,
            1.0 if (m_addressed and not m_addr_c) else 0.0, 1.0 if (c.addressed and not c_addr_m) else 0.0,
            child_any, 1.0 if c.is_bot else 0.0, m_bot,
            later, mine, len(between), child_prev,
            (m_pos - ph[0]) if ph else NEVER, ph[1] if ph else 0,
            1.0 if c.question else 0.0, m_question, m_thanks, 1.0 if c.thanks else 0.0,
            len(mw & cw) if nmw and cw else 0, nmw, len(cw),
            m_url, 1.0 if c.url else 0.0, m_length, c.length,
            m_leading, 1.0 if (c_addr_m or (later == 0 and mine == 0)) else 0.0, rank, dt * per_pace,
        ])
        cands.append(c)
        between[ca] = later + 1
    return cands, rows


class Window:
    """One channel's recent lines, the pair history and each author's last line: the state the
    features read. ``add`` a line after scoring it."""

    def __init__(self, max_lines: int, max_seconds: float, near: int = TRAIN_NEAR_LINES,
                 latest: int = TRAIN_LATEST_LINES) -> None:
        self.max_lines = max_lines
        self.max_seconds = max_seconds
        self.near = near
        self.latest = latest
        self.lines: deque[Line] = deque(maxlen=max_lines)
        #: how many of ``lines`` each member wrote, and how many address each member: whether a line
        #: past ``near`` can be a candidate at all (most messages need not look that far back)
        self.written: dict[str, int] = {}
        self.addressing: dict[str, int] = {}
        self.pairs = PairHistory()
        self.prev_of_author: dict[str, int] = {}
        #: lines that left the window lately, by message ID: a reply in a thread links to its root even
        #: when the channel has moved on (``THREAD_ROOTS`` of them)
        self.gone: OrderedDict[str, Line] = OrderedDict()
        self.pos = 0
        #: the time between lines lately, a moving average (seconds)
        self.pace = 60.0

    def rows(self, m: Line) -> tuple[list[Line], list[list[float]]]:
        far = self.latest > self.near or m.author in self.addressing or \
            any(a in self.written for a in m.addressed)
        return pair_rows(m, self.lines, self.pairs, self.prev_of_author, max_lines=self.max_lines,
                         max_seconds=self.max_seconds, pace=self.pace, near=self.near, latest=self.latest,
                         far=far)

    def _count(self, x: Line, step: int) -> None:
        written, author = self.written, x.author
        n = written.get(author, 0) + step
        if n:
            written[author] = n
        else:
            del written[author]
        if x.addressed:
            counts = self.addressing
            for k in x.addressed:
                n = counts.get(k, 0) + step
                if n:
                    counts[k] = n
                else:
                    del counts[k]

    def add(self, m: Line) -> None:
        lines = self.lines
        if lines:
            gap = min(max(m.at - lines[-1].at, 0.0), self.max_seconds)
            self.pace = 0.9 * self.pace + 0.1 * gap
            if len(lines) == lines.maxlen:
                old = lines[0]
                self._count(old, -1)
                if old.message_id:
                    gone = self.gone
                    gone[old.message_id] = old
                    if len(gone) > THREAD_ROOTS:
                        gone.popitem(last=False)
        lines.append(m)
        self._count(m, 1)
        for a in m.addressed:
            self.pairs.note(m.author, a, m.pos)
        self.prev_of_author[m.author] = m.pos
        if m.pos % 1024 == 0:
            oldest = m.pos - 1024
            self.pairs.trim(oldest)
            self.prev_of_author = {a: p for a, p in self.prev_of_author.items() if p >= oldest}

    def forget(self, member: str) -> None:
        self.lines = deque((x for x in self.lines if x.author != member), maxlen=self.lines.maxlen)
        self.gone = OrderedDict((k, x) for k, x in self.gone.items() if x.author != member)
        for x in (*self.lines, *self.gone.values()):
            if member in x.addressed:
                x.addressed = x.addressed - {member}
        self.written, self.addressing = {}, {}
        for x in self.lines:
            self._count(x, 1)
        self.pairs.last = {k: v for k, v in self.pairs.last.items() if member not in k}
        self.prev_of_author.pop(member, None)

    def root(self, message_id: str) -> Line | None:
        """A line of this channel by its message ID: in the window, or among the lines that left it lately."""
        return next((x for x in reversed(self.lines) if x.message_id == message_id), None) or \
            self.gone.get(message_id)


def make_line(pos: int, at: float, author: str, text: str, *, is_bot: bool = False,
              mentions: frozenset[str] | set[str] | tuple[str, ...] = frozenset(),
              names: dict[str, str] | None = None, last_seen: dict[str, int] | None = None,
              message_id: str = "") -> Line:
    """A message as a ``Line``: mentions from the text (``<@U…>``) and, where ``names`` maps a
    lowercased display name to a member, a name at the start or end of the line of someone who spoke
    lately (``last_seen``: member -> position of their last line, within ``PRESENT_LINES``), as in
    "bob: try this" or "see the docs, bob"."""
    text = text or ""
    prose = without_code(text)
    addressed = set(mentions)
    leading = False
    if "<@" in prose:
        found = MENTION.findall(prose)
        addressed.update(found)
        leading = prose.lstrip().startswith("<@")
    low = (MENTION.sub(" ", prose) if "<@" in prose else prose).lower()
    if names and last_seen is not None and not is_bot:
        # a name of someone who spoke lately, anywhere in the line ("bob: try this", "sorry bob, I
        # meant ...", "see the docs | bob"); names shorter than three letters are never learnt
        plain = low
        if "&" in plain:
            plain = plain.replace("&gt;", ">").replace("&lt;", "<")
        for i, token in enumerate(_NAME_SPLIT.split(plain)):
            if len(token) < 3:
                continue
            # the token is lowercased and split on whitespace already: norm_name's other step
            mid = names.get(token.strip("@<>[]|_-:,."))
            if mid and mid != author and pos - last_seen.get(mid, -NEVER) <= PRESENT_LINES:
                addressed.add(mid)
                leading = leading or i <= 1
    addressed.discard(author)
    # (a link needs "://" or "www.": most lines have neither, and the search is the slower)
    url = ("://" in prose or "www." in prose.lower()) and _URL.search(prose) is not None
    return Line(pos=pos, at=at, author=author, is_bot=is_bot, addressed=frozenset(addressed),
                words=_words_lower(low), question=is_question_cue(prose), thanks=is_thanks_cue(prose),
                length=len(text), url=url, leading=leading, message_id=message_id)


class Reader:
    """Turns a stream of messages, channel by channel, into ``Line``s and their candidate rows: the
    one path that both training and the live model go through."""

    def __init__(self, max_lines: int, max_seconds: float, near: int = TRAIN_NEAR_LINES,
                 latest: int = TRAIN_LATEST_LINES) -> None:
        self.max_lines = max_lines
        self.max_seconds = max_seconds
        self.near = near
        self.latest = latest
        self.windows: dict[tuple[str, str], Window] = {}
        #: (platform, lowercased display name) -> member
        self.names: dict[str, dict[str, str]] = {}
        self.bots: set[tuple[str, str]] = set()

    def learn_name(self, platform: str, member: str, name: str | None, *, is_bot: bool = False) -> None:
        if is_bot:
            self.bots.add((platform, member))
        key = norm_name(name or "")
        if len(key) >= 3:
            self.names.setdefault(platform, {})[key] = member

    def window(self, platform: str, channel: str) -> Window:
        w = self.windows.get((platform, channel))
        if w is None:
            w = self.windows[(platform, channel)] = Window(self.max_lines, self.max_seconds, self.near, self.latest)
        return w

    def read(self, platform: str, channel: str, author: str, at: float, text: str, *, is_bot: bool = False,
             mentions: tuple[str, ...] | frozenset[str] = (), message_id: str = ""
             ) -> tuple[Window, Line, list[Line], list[list[float]]]:
        """The line and its candidates' rows; call ``window.add(line)`` once it is scored."""
        w = self.window(platform, channel)
        w.pos += 1
        line = self._line(w, platform, author, at, text, is_bot, mentions, message_id)
        cands, rows = w.rows(line)
        return w, line, cands, rows

    def aside(self, platform: str, channel: str, author: str, at: float, text: str, *, is_bot: bool = False,
              mentions: tuple[str, ...] | frozenset[str] = (), message_id: str = "") -> tuple[Window, Line]:
        """A line that is not part of the channel's flat stream (a reply inside a thread: the channel
        does not show it): read as ``read`` reads one, but it takes no position in the window and is
        never a candidate for the lines after it."""
        w = self.window(platform, channel)
        return w, self._line(w, platform, author, at, text, is_bot, mentions, message_id)

    def _line(self, w: Window, platform: str, author: str, at: float, text: str, is_bot: bool,
              mentions: tuple[str, ...] | frozenset[str], message_id: str) -> Line:
        """The message as a line at the window's current position."""
        return make_line(w.pos, at, author, text, is_bot=is_bot or (platform, author) in self.bots,
                         mentions=frozenset(mentions), names=self.names.get(platform),
                         last_seen=w.prev_of_author, message_id=message_id)

    def forget(self, platform: str, member: str) -> None:
        for (plat, _), w in self.windows.items():
            if plat == platform:
                w.forget(member)
        self.bots.discard((platform, member))
        names = self.names.get(platform, {})
        for k in [k for k, v in names.items() if v == member]:
            del names[k]
