"""Member-supplied values never ping, link or format, on either platform."""

from __future__ import annotations

import re

import pytest

from bot.adapters.discord.format import to_discord
from bot.adapters.slack.format import to_mrkdwn
from bot.messaging.templates import Templates
from tests.conftest import ROOT

HOSTILE = "@everyone <!channel> <https://x.example|click> **bold**"


@pytest.fixture
def rendered():
    t = Templates(ROOT / "messages")
    ctx = {"member": {"id": "U42", "name": HOSTILE}, "community": {"name": "Test Garden"},
           "channels": [{"id": "CHELP", "name": "help"}], "first_step": {"channel": None}}
    return t.render("welcome_dm", ctx)


def test_slack_rendering_is_inert(rendered):
    out = to_mrkdwn(rendered)
    # the name is there, readable
    assert "@everyone" in out and "bold" in out
    # no Slack control sequences survive: no <!channel>, no <url|text> link, no *bold*
    assert "<!channel>" not in out and "<!" not in out
    assert "&lt;https:\u200b//x.example|click&gt;" in out
    assert not re.search(r"<https?://", out)
    assert "**bold**" not in out and "*bold*" not in out
    # the template's own formatting still works
    assert "*Test Garden*" in out
    assert "<#CHELP>" in out


def test_discord_rendering_is_inert(rendered):
    out = to_discord(rendered)
    assert "@everyone" not in out  # a zero-width space breaks the ping
    assert "@\u200beveryone" in out
    assert "**bold**" not in out and "\\*\\*bold\\*\\*" in out
    assert "https://x.example" not in out  # no auto-link
    assert "<https://" not in out
    assert "**Test Garden**" in out
    assert "<#CHELP>" in out


def test_mentions_made_by_templates_still_ping():
    t = Templates(ROOT / "messages")
    out = t.render("welcome_channel", {"member": {"id": "U42", "name": HOSTILE}})
    assert to_mrkdwn(out).startswith("Welcome, <@U42>!")
    assert to_discord(out).startswith("Welcome, <@U42>!")


def test_unknown_variable_fails_the_check(tmp_path):
    (tmp_path / "en").mkdir()
    (tmp_path / "nl").mkdir()
    (tmp_path / "en" / "hello.j2").write_text("Hello {{ member.name }}\n{{ membr.name }}\n")
    (tmp_path / "nl" / "hello.j2").write_text("Hallo {{ member.name }}\n")
    (tmp_path / "en" / "only_en.j2").write_text("Only English\n")
    problems = Templates(tmp_path).check_all()
    lines = [f"{f}:{ln}: {m}" for f, ln, m in problems]
    assert any(ln.startswith(f"{tmp_path / 'en' / 'hello.j2'}:2: ") and "membr" in ln for ln in lines), lines
    assert any(str(tmp_path / "nl" / "only_en.j2") in ln and "missing translation" in ln for ln in lines), lines


def test_syntax_error_has_its_line(tmp_path):
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "oops.j2").write_text("line one\n{% if member %}\nno end\n")
    problems = Templates(tmp_path).check_all()
    assert problems and problems[0][0].endswith("oops.j2") and problems[0][1] >= 2


def test_locale_chain_falls_back_to_default_then_en(tmp_path):
    for loc, text in (("en", "hello"), ("nl", "hallo")):
        (tmp_path / loc).mkdir()
        (tmp_path / loc / "greet.j2").write_text(text)
    t = Templates(tmp_path, default_locale="nl")
    assert t.render("greet", {}, "de") == "hallo"
    assert t.render("greet", {}, "en-GB") == "hello"
    assert Templates(tmp_path).render("greet", {}, "fr") == "hello"


def test_sandbox_refuses_unsafe_access(tmp_path):
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "evil.j2").write_text("{{ member.__class__.__mro__ }}")
    problems = Templates(tmp_path).check_all()
    assert problems, "the sandbox must refuse attribute access to internals"


BYPASSES = ("{{ member.name|safe }}\n{{ member.name|e }}\n{% filter safe %}{{ member.name }}{% endfilter %}\n"
            "{{ member.name|forceescape }}\n")


def test_safe_and_escape_filters_cannot_bypass_the_platform_escaping(tmp_path):
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "bypass.j2").write_text(BYPASSES)
    out = Templates(tmp_path).render("bypass", {"member": {"id": "U42", "name": HOSTILE}})
    slack, discord = to_mrkdwn(out), to_discord(out)
    assert slack.count("@everyone") == 4 and discord.count("@\u200beveryone") == 4  # readable, every line
    assert "<!channel>" not in slack and "<https://x.example" not in slack and "*bold*" not in slack
    assert "&lt;!channel&gt;" in slack and "&amp;lt;" not in slack  # escaped once, not HTML-escaped first
    assert "@everyone" not in discord and "**bold**" not in discord


def test_check_says_safe_and_markup_have_no_effect(tmp_path):
    from typer.testing import CliRunner

    from bot.cli import cli

    for loc in ("en", "nl"):
        (tmp_path / "messages" / loc).mkdir(parents=True)
        (tmp_path / "messages" / loc / "bypass.j2").write_text(BYPASSES + "{{ Markup(member.name) }}\n")
    (tmp_path / "playbooks").mkdir()
    res = CliRunner().invoke(cli, ["check", str(tmp_path / "playbooks"), "--messages", str(tmp_path / "messages")])
    assert res.exit_code == 1
    f = str(tmp_path / "messages" / "en" / "bypass.j2")
    lines = [ln for ln in res.output.splitlines() if ln.startswith(f + ":")]
    assert f"{f}:1: -: |safe has no effect: values are always escaped for the platform " \
           "(use mention(), channel_link() or link() for markup)" in lines, res.output
    assert any(ln.startswith(f"{f}:2: -: |e has no effect") for ln in lines), lines
    assert any(ln.startswith(f"{f}:3: -: |safe has no effect") for ln in lines), lines
    assert any(ln.startswith(f"{f}:4: -: |forceescape has no effect") for ln in lines), lines
    assert any(ln.startswith(f"{f}:5: -: Markup is refused") for ln in lines), lines


def test_bidi_overrides_and_zero_width_characters_are_removed_from_names_on_both_platforms():
    t = Templates(ROOT / "messages")
    name = "\u202eevil\u2066 z\u200bero\u200c\u200d\u2060\ufeff \u200e\u200fok \U0001F469\u200d\U0001F4BB"
    out = t.render("welcome_dm", {"member": {"id": "U42", "name": name}, "community": {"name": "Test Garden"},
                                  "channels": [], "first_step": {"channel": None}})
    assert "evil" in out
    for rendered in (to_mrkdwn(out), to_discord(out)):
        for ch in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u200c\u2060\ufeff":
            assert ch not in rendered
        assert "zero" in rendered.replace("\u200b", "") and "z\u200bero" not in rendered
        assert "\U0001F469\u200d\U0001F4BB" in rendered  # a joiner inside an emoji sequence joins pictures
