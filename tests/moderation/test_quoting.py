"""What reaches the moderators when a member's words are quoted, through the real adapters into the
fake platforms: no markup of the member's is active anywhere in what is sent (Slack's top-level text
included), bidi overrides and zero-width characters are gone, the case shows its text once, and
people and channels by their names."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta

from bot.adapters.discord.appcommands import REPORT_MENU
from tests.conftest import ROOT, T0
from tests.fakes.discord_fixtures import (  # noqa: F401
    GENERAL,
    HELP,
    MANAGER_ROLE,
    MODERATORS,
    discord_bot,
    fake_discord,
)
from tests.fakes.discord_server import GUILD_ID
from tests.fakes.slack_requests import message, message_shortcut
from tests.slack.conftest import eventually, fake, slack_env, start_bot  # noqa: F401

TS0 = int(T0.timestamp())
#: characters that reorder or hide text (a zero-width space is tested apart: Slack's own escaping uses it)
HIDDEN = ("\u202e", "\u202d", "\u2066", "\u2069", "\u200e", "\u200f", "\u200c", "\u200d", "\u2060", "\ufeff")
SLACK_WORDS = "<!channel> <@U123> <https://evil.example/x|click> \u202eevil\u2066 t\u200bi\u2060ny\ufeff"
ACTIVE = ("<!channel>", "<!here>", "<!everyone>", "<@U123>", "<https://evil", "|click>")


def _slack_strings(post) -> list[str]:
    """Every string Slack was sent for a post: its top-level text and each text in its blocks."""
    out = [post["text"]]

    def walk(x):
        if isinstance(x, dict):
            for k, v in x.items():
                if k == "text" and isinstance(v, str):
                    out.append(v)
                else:
                    walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(post.get("blocks") or [])
    return out


def _assert_inert_on_slack(post):
    for s in _slack_strings(post):
        for bad in ACTIVE:
            assert bad not in s, (bad, s)
        for ch in HIDDEN:
            assert ch not in s, (hex(ord(ch)), s)
        assert "t\u200bi" not in s


async def test_slack_case_post_quotes_inertly_once_and_by_name(start_bot, fake):  # noqa: F811
    fake.add_channel("CGEN", "general", members=["U1", "U123", "UREP"])
    fake.add_user("U1", "Mallory")
    fake.add_user("U123", "Alice\u202e\u200d")
    fake.add_user("UREP", "Rep")
    bot = await start_bot("http", playbooks=())
    status, _ = await bot.http.interaction(message_shortcut(
        user_id="UREP", channel_id="CGEN", message_ts=f"{TS0}.000100", author_id="U1", text=SLACK_WORDS,
        response_url=fake.response_url("report")))
    assert status == 200
    await bot.settle()
    await bot.deliver()
    [post] = fake.posted("CMODS")
    _assert_inert_on_slack(post)
    seen = fake.seen(post)
    assert seen.count("Case #1: reported by a member") == 1 and seen.count("Why: ") == 1, seen
    assert "@Mallory in #general" in seen
    assert 'Message: "@channel @Alice click (https://evil.example/x) evil tiny"' in seen, seen
    assert "Reported by @Rep." in seen
    # the notification (top-level text) reads as well, by name
    note = fake.seen(post["text"])
    assert note.startswith("Case #1: reported by a member\n@Mallory in #general") and "U1" not in note, note


async def test_slack_digest_quotes_inertly_and_by_name(start_bot, fake):  # noqa: F811
    fake.add_channel("CHELP", "help", members=["U1", "U123"])
    fake.add_user("U1", "Asker")
    fake.add_user("U123", "Alice")
    bot = await start_bot("http", playbooks=("unanswered_digest",))
    await bot.http.event(message("CHELP", "U1", f"Does anyone know how to fix the build? {SLACK_WORDS}",
                                 ts=f"{TS0}.000100"))
    await bot.settle()
    bot.app.clock.advance_to(T0 + timedelta(hours=5))
    await bot.app.engine.fire_schedule("unanswered_digest", T0 + timedelta(hours=5))
    await bot.deliver()
    [post] = fake.posted("CMODS")
    _assert_inert_on_slack(post)
    seen = fake.seen(post)
    assert "@Asker in #help (topic: building and testing), waiting " in seen, seen
    assert "@channel @Alice click (https://evil.example/x)" in seen, seen


# --------------------------------------------------------------------------------------------- Discord
MALLORY, ALICE, REPORTER = "200000000000000201", "200000000000000202", "200000000000000203"
DISCORD_WORDS = (f"@everyone <@{ALICE}> <@&{MANAGER_ROLE}> [click](https://evil.example/x) "
                 "\u202eevil\u2066 t\u200bi\u2060ny\ufeff")


def _discord_strings(m) -> list[str]:
    out = [m.get("content") or ""]
    for e in m.get("embeds") or []:
        out += [e.get("title") or "", e.get("description") or "", (e.get("footer") or {}).get("text") or ""]
    return out


def _assert_inert_on_discord(m):
    for s in _discord_strings(m):
        assert "@everyone" not in s and f"<@{ALICE}>" not in s and f"<@&{MANAGER_ROLE}>" not in s, s
        assert "](https://evil" not in s and "https://evil" not in s, s  # no link, no auto-link
        for ch in HIDDEN:
            assert ch not in s, (hex(ord(ch)), s)
        assert "t\u200bi" not in s


async def _discord_app(discord_bot, fake_discord, tmp_path, *playbooks):  # noqa: F811
    fake_discord.add_member(GUILD_ID, MALLORY, "Mallory")
    fake_discord.add_member(GUILD_ID, ALICE, "Alice\u202e\u200d")
    fake_discord.add_member(GUILD_ID, REPORTER, "Rep")
    pb = tmp_path / "pb"
    pb.mkdir()
    for name in playbooks:
        shutil.copy(ROOT / "playbooks" / f"{name}.yaml", pb)
    # Discord dates messages by their snowflakes, in real time: the app's clock starts now too
    return await discord_bot(playbooks_dir=pb, start=datetime.now(UTC))


async def test_discord_case_post_quotes_inertly_once_and_by_name(discord_bot, fake_discord, tmp_path):  # noqa: F811
    dc = fake_discord
    app, adapter = await _discord_app(discord_bot, dc, tmp_path)
    said = await dc.post_message(GENERAL, MALLORY, DISCORD_WORDS)
    fi = await dc.message_menu(REPORT_MENU, said, user_id=REPORTER)
    await dc.answer(fi)
    post = await dc.wait_message(MODERATORS, 1)
    await adapter.idle()
    _assert_inert_on_discord(post)
    seen = dc.seen(post)
    assert seen.count("Case #1: reported by a member") == 1 and seen.count("Why: ") == 1, seen
    assert "@Mallory in #general" in seen
    assert 'Message: "@everyone @Alice @community-team [click](https://evil.example/x) evil tiny"' in seen, seen
    assert "Reported by @Rep." in seen
    assert ALICE not in json.dumps(_discord_strings(post))  # neither as a mention nor as a bare ID


async def _noted(seen: list, ev) -> None:
    if ev.name == "message_posted":
        seen.append(ev)


async def test_discord_digest_quotes_inertly_and_by_name(discord_bot, fake_discord, tmp_path):  # noqa: F811
    dc = fake_discord
    app, adapter = await _discord_app(discord_bot, dc, tmp_path, "unanswered_digest")
    seen_by_bot = []
    app.engine.observers.append(lambda ev, facts: _noted(seen_by_bot, ev))
    await dc.post_message(HELP, MALLORY, f"Does anyone know how to fix the build? {DISCORD_WORDS}")
    assert await eventually(lambda: seen_by_bot)
    await adapter.idle()
    await app.store.flush()
    later = app.clock.now() + timedelta(hours=5)
    app.clock.advance_to(later)
    await app.engine.fire_schedule("unanswered_digest", later)
    await app.delivery.drain()
    post = await dc.wait_message(MODERATORS, 1)
    _assert_inert_on_discord(post)
    seen = dc.seen(post)
    assert "@Mallory in #help" in seen, seen
    assert "@everyone @Alice @community-team [click](https://evil.example/x) evil tiny" in seen, seen
    assert await eventually(lambda: len(dc.sent(MODERATORS)) == 1)
