"""Question detection (English and Dutch), thanks, mentions and content words: pure functions of a
message's text, the same live, in replay and in tests."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.core.text import lower_twin, without_code

_MENTION = re.compile(r"<@!?([A-Za-z0-9_.:-]+)>")
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
#: ``_WORD`` in lowercased ASCII text
_WORD_ASCII = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)?")


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
    return check_prose(_prose(text), help_channel=help_channel)


def check_prose(prose: str, *, help_channel: bool = False) -> QuestionCheck:
    """``check_question`` of a message's ``_prose``."""
    return QuestionCheck(*_check(prose, help_channel))


def asks_in(prose: str, *, help_channel: bool = False) -> bool:
    """``is_question`` of a message's ``_prose``."""
    return _check(prose, help_channel)[0]


def _check(prose: str, help_channel: bool) -> tuple[bool, str]:
    # lower-casing first is the same for ASCII; elsewhere a letter can lower to two ("İ")
    if prose.isascii():
        words = _WORD_ASCII.findall(prose.lower())
        rhetorical, requests, trouble = _LOWER_TWINS
    else:
        words = [w.lower() for w in _WORD.findall(prose)]
        rhetorical, requests, trouble = RHETORICAL, REQUESTS, TROUBLE
    if not words:
        return (False, "no words")
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
    if len(core) <= 4 and rhetorical.match(" ".join(core)):
        return (False, "rhetorical")
    has_mark = "?" in prose
    if has_mark:
        # a bare word or two with a question mark is a reaction, not a question to track
        if len(core) >= 3 or (interrogative and len(core) >= 2 and opener not in {"what", "wat", "why",
                                                                                    "waarom", "who", "wie"}):
            return (True, "question mark")
        return (False, "fragment")
    # without a question mark, only a real interrogative clause: "how do I", "what is", "hoe kan ik"
    wh_clause = (opener in WH_EN and second in AUX_EN) or (opener in WH_NL and second in AUX_NL)
    aux_clause = interrogative and opener not in WH_EN and opener not in WH_NL
    if len(core) >= 4 and (wh_clause or aux_clause) and not stripped.endswith("!"):
        return (True, "interrogative")
    if len(words) >= 4:
        joined = " ".join(words)
        # ("someone's" holds "someone": split only when there is an apostrophe)
        if (not _REQUEST_WORDS.isdisjoint(words) or (("'" in joined or "’" in joined)
                                                     and not _REQUEST_WORDS.isdisjoint(_parts(words)))) \
                and requests.search(joined):
            return (True, "asks for help")
    if help_channel and len(words) >= 5 and trouble.search(" ".join(words)):
        return (True, "describes a problem in a help channel")
    return (False, "statement")


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


#: the expressions for ASCII words lowercased (case-insensitive matching is the slower)
_LOWER_TWINS = (lower_twin(RHETORICAL), lower_twin(REQUESTS), lower_twin(TROUBLE))
_THANKS_LOWER, _AHEAD_LOWER, _WORKS_LOWER = lower_twin(THANKS), lower_twin(THANKS_AHEAD), lower_twin(WORKS)


def is_thanks(text: str) -> bool:
    """The author says thank you or that it worked (not "thanks in advance")."""
    return thanks_in(_prose(text))


def thanks_in(prose: str) -> bool:
    """``is_thanks`` of a message's ``_prose``."""
    if prose.isascii():
        low = prose.lower()
        return _THANKS_LOWER.search(low) is not None and _AHEAD_LOWER.search(low) is None
    return bool(THANKS.search(prose)) and not THANKS_AHEAD.search(prose)


def works_in(prose: str) -> bool:
    """The asker reports it works (``WORKS``), in a message's ``_prose``."""
    return (_WORKS_LOWER.search(prose.lower()) if prose.isascii() else WORKS.search(prose)) is not None


def mentioned_in(text: str) -> set[str]:
    """Member IDs mentioned in the raw text (``<@U123>``)."""
    return set(_MENTION.findall(text or ""))


_STOP = {"this", "that", "with", "have", "from", "what", "when", "where", "which", "there", "their", "about",
         "would", "could", "should", "anyone", "someone", "does", "know", "need", "want", "help", "like",
         "just", "some", "into", "your", "will", "them", "then", "than", "been", "were", "here", "they",
         "hoe", "wat", "waarom", "iemand", "weet", "voor", "een", "niet", "maar", "mijn", "deze", "heeft",
         "kunnen", "wordt", "worden", "welke", "getting", "trying", "still", "work", "works", "working"}


def keywords(text: str | None) -> set[str]:
    """Content words of a question, for "who answered something like this before"."""
    return {w for w in (x.lower() for x in _WORD.findall(_prose(text or ""))) if len(w) >= 4 and w not in _STOP}
