"""The welcome journey's first DM on the fake Discord carries "Introduce me to someone" (a button
component): a click in the DM opts the member into introductions exactly as `/steward intros on`
does, and the answer is shown to the clicker alone."""

from __future__ import annotations

from datetime import timedelta

from bot.community.intros_store import IntroStore
from tests.conftest import T0
from tests.fakes.discord_fixtures import WELCOME
from tests.fakes.discord_server import custom_ids

ROSA = "200000000000000001"


async def test_the_welcome_dm_button_opts_in_once_and_answers_privately(discord_bot, fake_discord):
    app, adapter = await discord_bot()
    await fake_discord.member_join(ROSA, "Rosa Jansen")
    await fake_discord.wait_message(WELCOME)
    await adapter.idle()
    app.clock.advance_to(T0 + timedelta(minutes=10))
    await app.delivery.drain()
    dm = await fake_discord.wait_dm(ROSA)
    assert fake_discord.seen(dm).startswith("Hi Rosa Jansen, welcome to Test Garden!")
    assert custom_ids(dm) == ["steward:intros_on:discord"]
    assert [c["label"] for row in dm["components"] for c in row["components"]] == ["Introduce me to someone"]
    store = IntroStore(app.store)
    assert (await store.status("discord", ROSA))[0] == "off"  # nobody is in before saying yes
    answers = []
    for _ in range(2):
        fi = await fake_discord.click(dm, "steward:intros_on:discord", user_id=ROSA, guild_id=None)
        await fake_discord.answer(fi)
        assert fi.ephemeral
        answers.append(fake_discord.seen(fi.text()))
    assert answers[0].startswith("You're in: now and then Steward introduces you to a member")
    assert answers[1].startswith("You're already in:")
    assert (await store.status("discord", ROSA))[0] == "on"
    audit = [a for a in await app.store.audit_log() if a["action"] == "intros:on"]
    assert [(a["actor"], a["detail"]["via"]) for a in audit] == [(ROSA, "button")]
