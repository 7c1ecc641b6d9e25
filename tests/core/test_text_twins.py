"""The lowercase twins of the case-insensitive cue expressions (``bot.core.text.lower_twin``) find
what the originals find, on ASCII text lowercased; other text still goes through the originals."""

import re

import pytest

from bot.community.questions import detect
from bot.conversation import features
from bot.core.text import lower_twin

SAMPLES = [
    "Thanks a LOT, that WORKED", "thank   you!", "THX", "ty", "Typing is fun", "it Works now", "Dank je wel",
    "bedankt", "opgelost!", "Thanks in advance", "thanks anyway", "Does anyone know how to build it?",
    "Can you HELP me", "I need some help", "is there a way to do this", "Kan iemand helpen", "who cares?",
    "What the heck?", "I'm having trouble with the install", "it doesn't work", "werkt niet", "Really?",
    # letters that fold to ASCII under IGNORECASE: the Kelvin sign, the long s, dotted and dotless i
    "than\u212as", "\u017folved", "it work\u017f", "\u0130t works", "\u0131t works", "thank\u017f",
    "caf\u00e9 thanks", "Anyone got\u00a0ideas", "ｔｈａｎｋｓ", "",
]


def test_lower_twin_checks_the_pattern():
    assert lower_twin(re.compile(r"\bfoo\s+\S+", re.I)).search("foo bar")
    for bad in (re.compile("Foo", re.I), re.compile("foo"), re.compile("(?i)foo", re.I)):
        with pytest.raises(ValueError):
            lower_twin(bad)


@pytest.mark.parametrize("text", SAMPLES)
def test_cues_are_those_of_the_original_expressions(text):
    assert features.is_thanks_cue(text) == bool(features.THANKS.search(text))
    assert features.words_of(text) == frozenset(w for w in features._WORD.findall(text.lower())
                                                if w not in features._STOP)
    prose = detect._prose(text)
    assert detect.is_thanks(text) == (bool(detect.THANKS.search(prose)) and not detect.THANKS_AHEAD.search(prose))
    assert detect.works_in(prose) == bool(detect.WORKS.search(prose))
    words = " ".join(w.lower() for w in detect._WORD.findall(prose))
    if words.isascii():
        for original, twin in zip((detect.RHETORICAL, detect.REQUESTS, detect.TROUBLE), detect._LOWER_TWINS,
                                  strict=True):
            assert bool(original.search(words)) == bool(twin.search(words))
        assert detect._WORD_ASCII.findall(prose.lower()) == [w.lower() for w in detect._WORD.findall(prose)]


def test_url_cue():
    for text in ("see https://x.org", "HTTP://X", "WWW.example.org", "ww w.", "no link", "ftp://x"):
        line = features.make_line(1, 0.0, "U1", text)
        assert line.url == bool(features._URL.search(text))
