"""Question detection: English, Dutch, not fragments."""

from __future__ import annotations

import pytest

from bot.community.questions import is_question


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
