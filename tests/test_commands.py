"""/steward subcommands, platform-neutral: what a member or manager reads back."""

from __future__ import annotations

import shutil

from bot.commands import commands_for
from bot.core.events import CommandInvoked
from bot.messaging.markdown import to_plain
from tests.conftest import ROOT, T0


def cmd(sub, *args, member="U1", platform="slack", **kw):
    return CommandInvoked(platform, T0, member_id=member, channel_id="C1", command=sub, args=tuple(args), **kw)


async def test_member_can_opt_out_and_back_in(make_app):
    app = await make_app()
    c = commands_for(app)
    r = await c.handle(cmd("optout"))
    assert "won't send you any more messages" in to_plain(r.text) and r.ephemeral
    assert (await app.store.preferences("slack", "U1")).opted_out
    r = await c.handle(cmd("optin"))
    assert not (await app.store.preferences("slack", "U1")).opted_out


async def test_language(make_app):
    app = await make_app()
    c = commands_for(app)
    assert "`nl`" in (await c.handle(cmd("language", "nl"))).text
    assert (await app.store.preferences("slack", "U1")).locale == "nl"
    assert "can't write in" in (await c.handle(cmd("language", "xx"))).text


async def test_member_is_politely_refused_manager_commands_and_nothing_is_audited(make_app):
    app = await make_app(managers={"slack_user_ids": ["UBOSS"]})
    r = await commands_for(app).handle(cmd("playbooks", "disable", "welcome"))
    assert to_plain(r.text).startswith("Sorry, that command is for community managers.")
    assert app.engine.active(app.engine.playbooks["welcome"])
    assert await app.store.audit_log() == []


async def test_manager_commands_are_audited_and_work(make_app, tmp_path):
    pdir = tmp_path / "playbooks"
    shutil.copytree(ROOT / "playbooks", pdir)
    app = await make_app(playbooks_dir=pdir, managers={"discord_role_ids": ["777"]})
    c = commands_for(app)
    boss = dict(member="42", platform="discord", roles=("777",))
    r = await c.handle(cmd("playbooks", "list", **boss))
    assert "- welcome (on, member_joined): Greet newcomers" in to_plain(r.text)
    r = await c.handle(cmd("playbooks", "disable", "welcome", **boss))
    assert "now off" in r.text and not app.engine.active(app.engine.playbooks["welcome"])
    await c.handle(cmd("playbooks", "enable", "welcome", **boss))
    assert app.engine.active(app.engine.playbooks["welcome"])
    # reload picks up a new playbook without a restart, and reports a broken one
    (pdir / "extra.yaml").write_text("id: extra\ntrigger:\n  event: message_posted\nactions:\n"
                                     "  - add_reaction: {emoji: wave}\n")
    (pdir / "broken.yaml").write_text("id: broken\ntrigger:\n  event: member_joined\nactions: []\n")
    r = await c.handle(cmd("playbooks", "reload", **boss))
    assert "extra" in app.engine.playbooks and "broken" not in app.engine.playbooks
    assert f"{pdir / 'broken.yaml'}:4: broken:" in to_plain(r.text)
    log = await app.store.audit_log()
    assert [e["action"] for e in reversed(log)] == ["command:playbooks"] * 4
    assert log[0]["actor"] == "42" and log[0]["target"] == "reload"


async def test_platform_admin_counts_as_manager(make_app):
    app = await make_app()
    r = await commands_for(app).handle(cmd("playbooks", "list", platform="discord", member="5", platform_admin=True))
    assert "Playbooks" in r.text


async def test_help_lists_only_what_the_member_may_use(make_app):
    app = await make_app(managers={"slack_user_ids": ["UBOSS"]})
    c = commands_for(app)
    member_help = to_plain((await c.handle(cmd("help"))).text)
    boss_help = to_plain((await c.handle(cmd("help", member="UBOSS"))).text)
    assert "/steward optout" in member_help and "/steward stats" not in member_help
    assert "/steward stats" in boss_help and "/steward playbooks" in boss_help


async def test_unknown_subcommand(make_app):
    app = await make_app()
    r = await commands_for(app).handle(cmd("dance"))
    assert "I don't know" in r.text and "/steward help" in r.text


def test_only_a_reply_that_is_the_word_opts_out():
    from bot.outreach.consent import reply_keyword

    assert [reply_keyword(t) for t in ("stop", "STOP!", " Stop. ", "/steward optout", "opt-out", "afmelden")] \
        == ["optout"] * 6
    assert [reply_keyword(t) for t in ("start", "Start!", "/steward optin")] == ["optin"] * 3
    assert [reply_keyword(t) for t in ("thanks!", "don't stop", "stop it, the build broke", "")] == [None] * 4
