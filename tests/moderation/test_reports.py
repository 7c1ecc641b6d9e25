"""Reports: limited per reporter, merged per reported message, and a reporter who floods the
moderators with reports is itself visible to them. On the engine (SQLite and PostgreSQL) and through
the real Slack and Discord adapters."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.adapters.discord.appcommands import REPORT_MENU, THANKS
from bot.adapters.slack.listeners import THANKS_FOR_REPORT
from bot.commands import commands_for
from bot.core.events import CommandInvoked, MessageReported
from bot.messaging.markdown import to_plain
from bot.moderation.queue import service
from tests.conftest import T0
from tests.fakes.discord_fixtures import GENERAL, MODERATORS, discord_bot, fake_discord  # noqa: F401
from tests.fakes.discord_server import GUILD_ID
from tests.fakes.slack_requests import message_shortcut
from tests.moderation.conftest import digests, message, mod_posts, plain
from tests.slack.conftest import eventually, fake, slack_env, start_bot  # noqa: F401

LIMIT_LINE = "has filed more than 5 reports within 10 min"


def _report(reporter: str, n: int, at=T0) -> MessageReported:
    return MessageReported("slack", at, reporter_id=reporter, channel_id="CGEN", message_id=f"{1772445600 + n}.000100",
                           author_id=f"U{n}", text=f"message number {n}", reason="spam")


async def test_forty_reports_in_a_minute_open_at_most_the_limit(mod_app, db_url):
    app = await mod_app(db_url)
    svc = service(app.engine)
    # 40 reports within a minute: 20 messages, each reported twice in a row
    for k in range(40):
        app.clock.advance_to(T0 + timedelta(seconds=k))
        await app.engine.dispatch(_report("UREP", k // 2, at=T0 + timedelta(seconds=k)))
    await app.delivery.drain()
    cases = await svc.cases.all("slack")
    # five reports count: messages 0, 0, 1, 1, 2 -> three cases, the second report of each merged
    assert [(c.member_id, c.hits) for c in cases] == [("U0", 2), ("U1", 2), ("U2", 1)]
    assert len(digests(app)) == 3  # one post per reported message
    notes = [plain(m) for m in mod_posts(app) if m.digest is None]
    assert len(notes) == 1 and LIMIT_LINE in notes[0] and "UREP" in notes[0]
    actions = [a["action"] for a in await app.store.audit_log(limit=100)]
    assert actions.count("case:report") == 5 and actions.count("case:report_limited") == 35

    # someone else reporting an already reported message adds to its case: no new case, no new post
    app.clock.advance_to(T0 + timedelta(minutes=1))
    await app.engine.dispatch(_report("UOTHER", 1, at=T0 + timedelta(minutes=1)))
    await app.delivery.drain()
    assert [(c.member_id, c.hits) for c in await svc.cases.all("slack")] == [("U0", 2), ("U1", 3), ("U2", 1)]
    assert len(digests(app)) == 3

    # once the window has passed, the reporter is heard again; the command says why when it is not
    app.clock.advance_to(T0 + timedelta(minutes=11))
    await app.engine.dispatch(_report("UREP", 30, at=T0 + timedelta(minutes=11)))
    assert len(await svc.cases.all("slack")) == 4
    for k in range(4):
        await app.engine.dispatch(_report("UREP", 31 + k, at=T0 + timedelta(minutes=11)))
    posted = message("have a look at this", author="U77", at=T0 + timedelta(minutes=11))
    await app.engine.dispatch(posted)
    reply = await commands_for(app).handle(CommandInvoked("slack", app.clock.now(), member_id="UREP",
                                                          command="report", args=(posted.message_id, "spam")))
    assert to_plain(reply.text).startswith("You have sent 5 reports in the last 10 min")
    assert "opens no new case" in to_plain(reply.text)
    assert len(await svc.cases.all("slack")) == 8


async def test_the_limit_is_configurable(mod_app):
    app = await mod_app(features={"moderation": {"reports_per_reporter": 2, "report_window": "1h"}})
    for k in range(4):
        await app.engine.dispatch(_report("UREP", k))
    await app.delivery.drain()
    assert len(await service(app.engine).cases.all("slack")) == 2
    assert any("has filed more than 2 reports within 1 h" in plain(m) for m in mod_posts(app))


async def test_forty_reports_on_slack(start_bot, fake):  # noqa: F811
    fake.add_user("UREP", "Rep")
    # six posts into the moderators' channel: paced as Slack wants, about one a second
    bot = await start_bot("socket", pace=1.0, playbooks=("moderation",), managers={"slack_user_ids": ["UMOD"]})
    for k in range(40):
        await fake.send_envelope("interactive", message_shortcut(
            user_id="UREP", channel_id="CGEN", message_ts=f"{1772445600 + k}.000100", author_id=f"U{k}",
            text=f"message number {k}", response_url=fake.response_url(f"r{k}")))
    await bot.settle(40, timeout=20)
    thanks = await eventually(lambda: len(fake.responses) >= 40 and fake.responses, timeout=10)
    assert {r["text"] for r in thanks} == {THANKS_FOR_REPORT}  # the reporter is thanked, never told more
    # Slack takes about one post a second in a channel: the six wait their turns (the clock moves on)
    for _ in range(100):
        if len(fake.posted("CMODS")) >= 6:
            break
        await bot.later(seconds=2)
        await asyncio.sleep(0.2)
    posts = fake.posted("CMODS")
    cases = [p for p in posts if p.get("blocks")]
    notes = [p["text"] for p in posts if not p.get("blocks")]
    assert len(cases) == 5 and len(await service(bot.app.engine).cases.all("slack")) == 5
    # the reporter is in the workspace's member list, so the note names them as on Discord
    assert len(notes) == 1 and notes[0].startswith(f"*Rep* (UREP) {LIMIT_LINE}")


async def test_forty_reports_on_discord(discord_bot, fake_discord, tmp_path):  # noqa: F811
    reporter = "200000000000000199"
    fake_discord.add_member(GUILD_ID, reporter, "Rep")
    fake_discord.add_member(GUILD_ID, "200000000000000198", "Poster")
    (tmp_path / "pb").mkdir()  # no playbooks: forty messages in a row are no flood case here
    app, adapter = await discord_bot(playbooks_dir=tmp_path / "pb")
    msgs = [await fake_discord.post_message(GENERAL, "200000000000000198", f"message number {k}") for k in range(40)]
    menus = []
    for m in msgs:
        fi = await fake_discord.message_menu(REPORT_MENU, m, user_id=reporter)
        await fake_discord.answer(fi)
        menus.append(fi)
    await adapter.idle()
    assert {fake_discord.seen(fi.text()) for fi in menus} == {THANKS}
    await app.delivery.drain()
    posts = fake_discord.sent(MODERATORS)
    cases = [p for p in posts if p["embeds"]]
    notes = [fake_discord.seen(p) for p in posts if not p["embeds"]]
    assert len(cases) == 5 and len(await service(app.engine).cases.all("discord")) == 5
    assert len(notes) == 1 and LIMIT_LINE in notes[0] and "Rep" in notes[0]
