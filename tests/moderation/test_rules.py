"""Rules on ordinary and hostile text: right findings, no crash, no hang."""

from __future__ import annotations

import asyncio

import pytest

from bot.moderation.queue import service
from bot.moderation.terms import TermMatcher, parse_terms, skeleton
from tests.moderation.conftest import digests, message, plain, seconds


def _matcher(*terms: str, allow: tuple[str, ...] = ()) -> TermMatcher:
    return TermMatcher(parse_terms(terms, "test"), allow)


@pytest.mark.parametrize("text", [
    "kys", "KYS!", "k.y.s" and "k\u200by\u200cs", "ｋｙｓ", "𝐤𝐲𝐬", "kÿś", "**k**y**s**", "||kys||", "kkkyyysss",
    "\u043a\u0443s",  # Cyrillic к and у
])
def test_spellings_of_a_term_are_found(text):
    assert _matcher("kys").find(text) == ["kys"]


@pytest.mark.parametrize("text", ["Scunthorpe", "Penistone", "cocktail", "assassin", "skysail", "Kyser", "ky s"])
def test_words_that_merely_contain_a_term_are_not(text):
    assert _matcher("cunt", "penis", "cock", "ass", "kys").find(text) == []


def test_prefix_terms_phrases_and_allow_list():
    m = _matcher("retard*", "kill yourself", "idiot", allow=("idiot",))
    assert m.find("you RETARDED k1ll   y0urs3lf") == ["retard", "kill yourself"]
    assert m.find("what an idiot") == []


def test_skeleton_skips_no_pass_it_needs():
    """The skeleton's shortcuts (no markup or punctuation pass over text without those characters,
    a plain search for a run before shortening it, an ASCII table with every character) give what
    every pass run in full gives."""
    import re

    from bot.moderation import terms

    def full(text: str) -> str:
        s = text[:terms.MAX_CHARS]
        if not s.isascii():
            s = s.encode("utf-8", "replace").decode("utf-8")
            s = terms._INVISIBLE.sub("", s)
            s = terms.unicodedata.normalize("NFKD", s)
            s = terms._MARKS.sub("", s)
            s = s.translate(terms._confusables())
        s = terms._MARKUP.sub("", s).lower()
        s = re.sub(r"([a-z!|@$])\1{2,}", r"\1", s)
        s = terms._PUNCT_LEET.sub(terms._punct, s)
        s = s.translate(str.maketrans({"0": "o", "1": "i", "l": "i", "3": "e", "4": "a", "5": "s", "7": "t",
                                       "8": "b", "9": "g"}))
        return " ".join(s.split())

    for text in ("plain words here", "fuuuuck yooou", "sh!t $hit kys!", "**b**old _it_ ||spoiler|| a\\b",
                 "l33t 5p34k 0k", "aa bb ccc", "!!! @@@ $$$ |||", "Ⓗ€ｌｌ0 Wörld\u200b!!", "a+b c+", "MiXeD CaSe",
                 "tab\tand\nnewline", "€uro", "", "   "):
        assert terms.skeleton(text) == full(text), text


def test_skeleton_reads_leetspeak_and_look_alikes():
    assert skeleton("Ⓗ€ｌｌ0 Wörld\u200b!!") == "heiio worid!!"
    assert skeleton("\u0440\u0430\u0443\u0440\u0430l") == "paypai"  # Cyrillic р а у р а + Latin l


HOSTILE = {
    "zero_width": " ".join(["\u200b".join("kill yourself")] * 50),
    "bidi_and_tags": "\u202e\U000e0041\U000e0042 fr\u200dee n\u2060itro \u202c" * 100,
    "mixed_scripts": "ραуρаl ѕсаm 詐欺 مرحبا कुछ भी " * 500,
    "zalgo": "k̸̡̢̛̗̪̙̰̝ỵ̷̢̧̛̗̪̙s̴̢̧̛̗̪ " * 2000,
    "forty_thousand": ("a" * 39_990) + " kys",
    "forty_thousand_words": "word " * 8000,
    "mentions": " ".join(f"<@U{i:06d}>" for i in range(4000)),
    "nested_markdown": "**_~~`" * 5000 + "kys" + "`~~_**" * 5000,
    "brackets": "[" * 20000 + "(" * 20000,
    "links": " ".join(f"https://x{i}.example/" for i in range(3000)),
    "everyone": "@everyone " * 4000,
    "invites": "discord.gg/" * 10000,
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
async def test_hostile_text_neither_crashes_nor_hangs(mod_app, name):
    app = await mod_app()
    text = HOSTILE[name]
    mentions = tuple(f"U{i:06d}" for i in range(4000)) if name == "mentions" else ()
    # a guard against a hang, not a timing assertion: a linear scan finishes in milliseconds
    await asyncio.wait_for(app.engine.dispatch(message(text, author="UX", mentions=mentions)), timeout=30)
    cases = await service(app.engine).cases.all()
    assert all(c.member_id == "UX" for c in cases)
    if name in ("zero_width", "forty_thousand", "nested_markdown", "zalgo"):
        assert [c.rule for c in cases] == ["terms"], name
    if name == "mentions":
        assert "4000 mentions in 10s" in cases[0].reason
    if name == "everyone":
        assert cases[0].rule.startswith("mass_mention")
    for d in digests(app):
        assert len(d.text) < 3000  # the excerpt is cut, the digest stays readable


async def test_flood_counts_messages_duplicates_mentions_and_links_per_member(mod_app):
    app = await mod_app()
    for k in range(6):  # six different messages: under the default of seven
        await app.engine.dispatch(message(f"message number {k}", author="U1", at=seconds(k)))
    for k in range(6):  # another member at the same time does not add to U1's window
        await app.engine.dispatch(message(f"hello {k}", author="U2", at=seconds(k)))
    assert digests(app) == []
    await app.engine.dispatch(message("seventh", author="U1", at=seconds(6)))
    (d,) = digests(app)
    assert "Why: 7 messages in 10s" in plain(d)
    # the window slides: U2 posting slowly never floods
    for k in range(20):
        await app.engine.dispatch(message(f"slow {k}", author="U2", at=seconds(20 + 3 * k)))
    assert len(digests(app)) == 1
    await app.engine.dispatch(message("<@A> <@B> <@C>", author="U3", at=seconds(200), mentions=("A", "B", "C")))
    await app.engine.dispatch(message("<@D> <@E>", author="U3", at=seconds(201), mentions=("D", "E")))
    assert "Why: 5 mentions in 10s" in plain(digests(app)[-1])


async def test_answering_the_people_in_a_fast_conversation_is_not_a_mention_flood(mod_app):
    app = await mod_app()
    askers = ("A1", "A2", "A3", "A4", "A5", "A6")
    for k, a in enumerate(askers):
        await app.engine.dispatch(message(f"how do I fix thing {k}?", author=a, at=seconds(k)))
    # a helper answers six members who just asked, one line each, within seconds
    for k, a in enumerate(askers):
        await app.engine.dispatch(message(f"<@{a}>: try this {k}", author="HELPER", at=seconds(10 + k / 2),
                                          mentions=(a,)))
    assert digests(app) == []
    # the same burst aimed at members who have not been talking is still a flood of pings
    for k in range(5):
        await app.engine.dispatch(message(f"<@Q{k}> look", author="PINGER", at=seconds(20 + k / 2),
                                          mentions=(f"Q{k}",)))
    (d,) = digests(app)
    assert "Why: 5 mentions in 10s" in plain(d)


async def test_bots_are_not_moderated(mod_app):
    from bot.core.events import MessagePosted
    from tests.conftest import T0

    app = await mod_app()
    await app.engine.dispatch(MessagePosted("slack", T0, channel_id="C1", message_id="1.1", author_id="B1",
                                            text="<!channel> deploy done", is_bot=True))
    assert digests(app) == []


def test_lone_surrogates_do_not_break_the_rules():
    """JSON can carry lone surrogates (\\ud800); RE2 needs valid UTF-8, so the rules repair the text."""
    from bot.moderation.patterns import search_patterns
    from bot.moderation.rules import Patterns

    text = "\udcff\ud800 free nitro kys \U0010ffff" * 100
    assert _matcher("kys").find(text) == ["kys"]
    assert search_patterns(Patterns(patterns=["free\\s+nitro"]), text) == (0, "free nitro")


XML_HELP = """my build fails on this pom, can anyone help?
```
<project xmlns="http://maven.apache.org/POM/4.0.0"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
""" + "\n".join(f'  xmlns:n{i}="http://example.org/ns/{i}"' for i in range(14)) + """>
```"""


async def test_urls_in_code_are_not_links(mod_app):
    """A member pasting XML with 16 namespace URIs asks for help; 16 links in prose are a flood."""
    app = await mod_app()
    assert XML_HELP.count("http://") == 16
    await app.engine.dispatch(message(XML_HELP, author="HELPME", at=seconds(0)))
    await app.engine.dispatch(message("and inline: `http://a.example/x` `http://b.example/y`", author="HELPME",
                                      at=seconds(1)))
    assert digests(app) == []
    assert await service(app.engine).cases.all() == []
    links = " ".join(f"https://spam{i}.example/" for i in range(16))
    await app.engine.dispatch(message(f"look {links}", author="SPAMMER", at=seconds(2)))
    (d,) = digests(app)
    assert "Why: 16 links in 10s" in plain(d)


async def test_windows_keep_only_what_the_rules_need(mod_app):
    """Memory follows the members active in a window, not the traffic: an hour and a half of one
    message a second from 6,000 members (each answering the one before) leaves the flood windows
    and the conversation state holding only the recent members, and a flood still counts."""
    from bot.moderation.windows import state

    app = await mod_app()
    n = 6000
    prev = None
    for k in range(n):
        author = f"M{k:05d}"
        mentions = (prev,) if prev else ()
        text = f"<@{prev}> thanks, that worked" if prev else "hello all"
        await app.engine.dispatch(message(text, author=author, at=seconds(k), mentions=mentions))
        prev = author
    st = state(app.engine)
    entries = sum(len(d) for d in st.windows.values())
    speakers = sum(len(d) for d in st.spoke.values())
    tracker = app.services.questions.tracker
    windows = tracker.links.reader.windows.values()
    pairs = sum(len(w.pairs.last) for w in windows)
    authors = sum(len(w.prev_of_author) for w in windows)
    lines = sum(len(w.lines) for w in windows)
    # the flood window is 10 s and the reply window 10 min: a thousand messages of slack at most
    assert entries <= 1000, entries
    assert speakers <= 600 + 1000, speakers
    # the reply model's state: pairs and authors of the last 1,024 to 2,048 lines, a 40-line window
    assert pairs <= 2 * 1024 + 16, pairs
    assert authors <= 2 * 1024 + 16, authors
    assert lines <= 40, lines
    assert digests(app) == []
    # the windows still see a burst
    for k in range(7):
        await app.engine.dispatch(message(f"burst {k}", author="M00001", at=seconds(n + k)))
    (d,) = digests(app)
    assert "Why: 7 messages in 10s" in plain(d)
