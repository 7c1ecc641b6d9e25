"""/steward on Discord: every subcommand answers, deferred and ephemeral, through the real
discord.py command tree; managers by role or Manage Server, polite refusals for everyone else."""

from __future__ import annotations

from bot.adapters.discord.appcommands import REPORT_MENU, THANKS
from bot.commands import ALL_COMMANDS, MANAGER_COMMANDS
from tests.fakes.discord_fixtures import GENERAL, MANAGER_ROLE
from tests.fakes.discord_server import GUILD_ID, PERM_MANAGE_GUILD, PERM_MEMBER

MEMBER = "200000000000000011"
MANAGER = "200000000000000012"
ADMIN = "200000000000000013"
REFUSAL = "Sorry, that command is for community managers. /steward help lists what you can do."
DEFERRED_EPHEMERAL = {"type": 5, "data": {"flags": 64}}


def _user(fake, uid):
    return {"type": 6, "value": uid}


async def _setup(discord_bot, fake):
    fake.add_member(GUILD_ID, MEMBER, "Mira")
    fake.add_member(GUILD_ID, MANAGER, "Noor", roles=[MANAGER_ROLE])
    fake.add_member(GUILD_ID, ADMIN, "Ada")
    return await discord_bot()


async def _run(fake, path, options=None, *, user=MEMBER, roles=None, permissions=PERM_MEMBER, resolved=None):
    fi = await fake.invoke(path, options, user_id=user, channel_id=GENERAL, roles=roles,
                           permissions=permissions, resolved=resolved)
    await fake.answer(fi)
    return fi


async def test_steward_is_synced_to_the_guild_with_every_subcommand(discord_bot, fake_discord):
    await _setup(discord_bot, fake_discord)
    cmds = {c["name"]: c for c in fake_discord.commands[GUILD_ID]}
    assert set(cmds) == {"steward", REPORT_MENU}
    subs = {o["name"] for o in cmds["steward"]["options"]}
    assert subs == set(ALL_COMMANDS)
    pb = next(o for o in cmds["steward"]["options"] if o["name"] == "playbooks")
    assert {o["name"] for o in pb["options"]} == {"list", "reload", "enable", "disable", "preview"}
    assert cmds[REPORT_MENU]["type"] == 3


async def test_every_subcommand_answers_a_manager(discord_bot, fake_discord):
    app, adapter = await _setup(discord_bot, fake_discord)
    calls = [
        (["steward", "help"], None), (["steward", "stats"], None), (["steward", "unanswered"], None),
        (["steward", "lurkers"], None), (["steward", "ambassadors"], None), (["steward", "flags"], None),
        (["steward", "dashboard"], None), (["steward", "link"], None), (["steward", "unlink"], None),
        (["steward", "failures"], None),
        (["steward", "interests"], None), (["steward", "intros"], None),
        (["steward", "nudge"], {"member": _user(fake_discord, MEMBER)}),
        (["steward", "forget"], {"member": _user(fake_discord, ADMIN)}),
        (["steward", "optout"], None), (["steward", "optin"], None), (["steward", "language"], {"code": "nl"}),
        (["steward", "report"], {"message_link": "https://discord.com/channels/1/2/3", "reason": "spam"}),
        (["steward", "playbooks", "list"], None), (["steward", "playbooks", "reload"], None),
        (["steward", "playbooks", "disable"], {"playbook": "welcome"}),
        (["steward", "playbooks", "enable"], {"playbook": "welcome"}),
        (["steward", "playbooks", "preview"], {"playbook": "welcome"}),
    ]
    assert {p[1] for p, _ in calls} == set(ALL_COMMANDS)
    problems = []
    for path, options in calls:
        resolved = fake_discord.resolved_user(options["member"]["value"]) if options and "member" in options else None
        fi = await _run(fake_discord, path, options, user=MANAGER, roles=[MANAGER_ROLE], resolved=resolved)
        text = fake_discord.seen(fi.text())
        where = "/" + " ".join(path)
        if fi.callbacks[:1] != [DEFERRED_EPHEMERAL]:
            problems.append(f"{where}: not deferred ephemeral first: {fi.callbacks[:1]}")
        if not text.strip() or "went wrong" in text or text == REFUSAL:
            problems.append(f"{where}: answered {text!r}")
    assert problems == []
    # manager commands went to the audit log, with the acting member
    audit = await app.store.audit_log(limit=100)
    audited = {a["action"] for a in audit if a["actor"] == MANAGER}
    assert {f"command:{c}" for c in MANAGER_COMMANDS} <= audited


async def test_answers_a_person_reads(discord_bot, fake_discord):
    app, _ = await _setup(discord_bot, fake_discord)
    fi = await _run(fake_discord, ["steward", "help"])
    text = fake_discord.seen(fi.text())
    assert text.startswith("Steward helps this community welcome newcomers")
    assert "/steward optout: stop all messages from Steward" in text
    assert "/steward stats" not in text  # members see only their own commands

    fi = await _run(fake_discord, ["steward", "optout"])
    assert fake_discord.seen(fi.text()) == ("Done: Steward won't send you any more messages. "
                                            "/steward optin undoes this.")
    assert (await app.store.preferences("discord", MEMBER)).opted_out

    fi = await _run(fake_discord, ["steward", "language"], {"code": "nl"})
    assert fake_discord.seen(fi.text()) == "From now on I'll write to you in nl."
    assert (await app.store.preferences("discord", MEMBER)).locale == "nl"

    fi = await _run(fake_discord, ["steward", "playbooks", "disable"], {"playbook": "welcome"},
                    user=MANAGER, roles=[MANAGER_ROLE])
    assert fake_discord.seen(fi.text()) == "Playbook welcome is now off."
    assert not app.engine.active(app.engine.playbooks["welcome"])


async def test_members_are_refused_manager_commands_politely(discord_bot, fake_discord):
    app, _ = await _setup(discord_bot, fake_discord)
    for sub in ("stats", "unanswered", "lurkers", "ambassadors", "flags"):
        fi = await _run(fake_discord, ["steward", sub])
        assert fake_discord.seen(fi.text()) == REFUSAL, sub
        assert fi.ephemeral
    fi = await _run(fake_discord, ["steward", "playbooks", "disable"], {"playbook": "welcome"})
    assert fake_discord.seen(fi.text()) == REFUSAL
    assert app.engine.active(app.engine.playbooks["welcome"])


async def test_manage_server_permission_makes_a_manager(discord_bot, fake_discord):
    app, _ = await _setup(discord_bot, fake_discord)
    fi = await _run(fake_discord, ["steward", "playbooks", "disable"], {"playbook": "welcome"},
                    user=ADMIN, permissions=PERM_MEMBER | PERM_MANAGE_GUILD)
    assert fake_discord.seen(fi.text()) == "Playbook welcome is now off."


async def test_report_message_menu_dispatches_and_thanks(discord_bot, fake_discord):
    from bot.core.events import MessageReported

    app, adapter = await _setup(discord_bot, fake_discord)
    seen: list = []

    async def observe(ev, facts):
        if isinstance(ev, MessageReported):
            seen.append(ev)

    app.engine.observers.append(observe)
    msg = await fake_discord.post_message(GENERAL, ADMIN, "buy cheap followers at spam.example")
    fi = await fake_discord.message_menu(REPORT_MENU, msg, user_id=MEMBER)
    await fake_discord.answer(fi)
    assert fake_discord.seen(fi.text()) == THANKS
    assert fi.ephemeral
    await adapter.idle()
    assert [(e.reporter_id, e.channel_id, e.message_id, e.author_id, e.text) for e in seen] == [
        (MEMBER, GENERAL, msg["id"], ADMIN, "buy cheap followers at spam.example")]
