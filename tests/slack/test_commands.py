"""/steward on the wire: form-encoded slash commands (HTTP) and slash_commands envelopes (Socket
Mode), answered ephemerally through response_url after the ack."""

from __future__ import annotations

import asyncio

import pytest

from bot.adapters.slack.listeners import COMMAND_FAILED
from bot.commands import ALL_COMMANDS, Reply, commands_for, not_configured
from bot.core.records import Member
from tests.fakes.slack_requests import slash_command
from tests.slack.conftest import eventually

MANAGER = "UMGR"

#: one invocation of every subcommand, as a manager would type it
INVOCATIONS = [
    "help", "stats", "unanswered", "lurkers", "ambassadors", "nudge <@U100|rosa>", "flags", "report",
    "playbooks list", "playbooks preview welcome", "playbooks disable welcome", "playbooks enable welcome",
    "playbooks reload", "language nl", "optout", "optin", "forget <@U999|gone>",
    "dashboard", "link", "unlink", "failures", "interests", "intros",
]
REFUSAL = "Sorry, that command is for community managers. `/steward help` lists what you can do."


async def run_command(bot, mode: str, text: str, user: str, key: str) -> str:
    """Invoke ``/steward text`` and return the ephemeral answer the member sees."""
    form = slash_command(text, user_id=user, response_url=bot.fake.response_url(key))
    if mode == "http":
        status, body = await bot.http.command(form)
        assert status == 200 and body == ""  # the ack, nothing else
    else:
        ack = await bot.fake.send_envelope("slash_commands", form)
        assert "envelope_id" in ack
    answers = await eventually(lambda: [r for r in bot.fake.responses if r["key"] == key])
    assert len(answers) == 1, f"/steward {text}: {len(answers)} answers"
    assert answers[0]["response_type"] == "ephemeral"
    return answers[0]["text"]


def test_every_subcommand_is_invoked_here():
    assert {t.split()[0] for t in INVOCATIONS} == set(ALL_COMMANDS)


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_every_subcommand_answers(start_bot, mode):
    bot = await start_bot(mode, managers={"slack_user_ids": [MANAGER]})
    await bot.app.store.upsert_member(Member("slack", "U100", display_name="Rosa"))
    handlers = commands_for(bot.app).handlers
    for i, text in enumerate(INVOCATIONS):
        answer = await run_command(bot, mode, text, MANAGER, f"{mode}-{i}")
        sub = text.split()[0]
        assert answer.strip(), f"/steward {text}: empty answer"
        assert not answer.startswith("I don't know `") and answer != REFUSAL and answer != COMMAND_FAILED, (text, answer)
        if sub not in handlers:
            # features that are not installed say so honestly
            assert answer == not_configured(sub).text, (text, answer)
    answers = {r["key"]: r["text"] for r in bot.fake.responses}
    assert "`/steward optout`: stop all messages from Steward" in answers[f"{mode}-0"]
    # a literal underscore is kept from starting italics with an invisible zero-width space
    assert "`welcome` (on, member\u200b_joined): Greet newcomers" in answers[f"{mode}-8"]
    assert answers[f"{mode}-10"] == "Playbook `welcome` is now off."
    assert answers[f"{mode}-13"] == "From now on I'll write to you in `nl`."
    assert answers[f"{mode}-14"].startswith("Done: Steward won't send you any more messages.")
    assert (await bot.app.store.preferences("slack", MANAGER)).locale == "nl"


async def test_a_member_is_refused_manager_commands_politely(start_bot):
    bot = await start_bot("http", managers={"slack_user_ids": [MANAGER]})
    assert await run_command(bot, "http", "stats", "U123", "m1") == REFUSAL
    assert await run_command(bot, "http", "playbooks disable welcome", "U123", "m2") == REFUSAL
    assert bot.app.engine.active(bot.app.engine.playbooks["welcome"])
    assert [a["action"] for a in await bot.app.store.audit_log()] == []
    help_text = await run_command(bot, "http", "help", "U123", "m3")
    assert "optout" in help_text and "/steward stats" not in help_text


async def test_managers_by_user_group_and_the_audit_log(start_bot, fake):
    fake.usergroups["SMGRS"] = ["UGRP"]
    bot = await start_bot("http", managers={"slack_usergroup": "SMGRS"})
    answer = await run_command(bot, "http", "playbooks disable welcome", "UGRP", "g1")
    assert answer == "Playbook `welcome` is now off."
    log = await bot.app.store.audit_log()
    assert [(a["actor"], a["action"]) for a in log] == [("UGRP", "command:playbooks")]
    assert fake.calls_to("usergroups.users.list")[0].params == {"usergroup": "SMGRS"}
    assert await run_command(bot, "http", "stats", "UOTHER", "g2") == REFUSAL


async def test_the_ack_comes_first_and_the_answer_after(start_bot, fake):
    bot = await start_bot("http", managers={"slack_user_ids": [MANAGER]})
    release = asyncio.Event()

    async def slow_stats(app, ev):
        await release.wait()
        return Reply("**42** members")

    commands_for(bot.app).register("stats", slow_stats)
    status, body = await asyncio.wait_for(
        bot.http.command(slash_command("stats", user_id=MANAGER, response_url=fake.response_url("slow"))), 3)
    assert (status, body) == (200, "")
    await asyncio.sleep(0.1)
    assert fake.responses == []  # still working, after the ack
    release.set()
    answers = await eventually(lambda: fake.responses)
    assert answers[0]["text"] == "*42* members"


async def test_a_failing_command_says_so(start_bot, fake):
    bot = await start_bot("http", managers={"slack_user_ids": [MANAGER]})

    async def broken(app, ev):
        raise RuntimeError("database on fire")

    commands_for(bot.app).register("stats", broken)
    assert await run_command(bot, "http", "stats", MANAGER, "f1") == COMMAND_FAILED
