"""The welcome journey's first DM on the fake Slack carries "Introduce me to someone": a click opts
the member into introductions exactly as `/steward intros on` does, and is answered privately."""

from __future__ import annotations

from datetime import timedelta

from bot.community.intros_store import IntroStore
from tests.conftest import T0
from tests.fakes.slack_requests import block_actions, event_callback, team_join
from tests.slack.conftest import eventually
from tests.slack.test_commands import run_command


async def _day0(bot, fake, uid: str, name: str) -> dict:
    await fake.send_envelope("events_api", event_callback(team_join(uid, name)))
    await bot.settle(1)
    bot.app.clock.advance_to(T0 + timedelta(minutes=10))
    await bot.deliver()
    [dm] = fake.dms_to(uid)
    return dm


async def test_the_welcome_dm_button_opts_in_once_and_answers_privately(start_bot, fake):
    bot = await start_bot("socket", playbooks=("welcome", "intros"))
    dm = await _day0(bot, fake, "U100", "Rosa Jansen")
    assert dm["text"].startswith("Hi Rosa Jansen, welcome to *Test Garden*!")
    blocks = dm["blocks"]
    assert blocks[0]["type"] == "section" and blocks[0]["text"]["text"].startswith("Hi Rosa Jansen, welcome")
    [button] = blocks[-1]["elements"]
    assert (button["text"]["text"], button["style"], button["value"]) == ("Introduce me to someone", "primary",
                                                                          "slack")
    store = IntroStore(bot.app.store)
    assert (await store.status("slack", "U100"))[0] == "off"  # nobody is in before saying yes
    for n in (1, 2):
        click = block_actions(user_id="U100", action_id=button["action_id"], value=button["value"],
                              label=button["text"]["text"], channel_id=fake.dm_channel("U100"),
                              message_ts="1772445600.000200", response_url=fake.response_url(f"intro-{n}"))
        await fake.send_envelope("interactive", click)
        await bot.settle()
        answers = await eventually(lambda n=n: len(fake.responses) >= n and fake.responses)
    assert [a["response_type"] for a in answers] == ["ephemeral", "ephemeral"]
    assert answers[0]["text"].startswith("You're in: now and then Steward introduces you to a member")
    assert answers[1]["text"].startswith("You're already in:")
    assert (await store.status("slack", "U100"))[0] == "on"
    # the same path as the command: audited once, and the command now says so too
    audit = [a for a in await bot.app.store.audit_log() if a["action"] == "intros:on"]
    assert [(a["actor"], a["detail"]["via"]) for a in audit] == [("U100", "button")]
    said = await run_command(bot, "socket", "intros on", "U100", "on-again")
    assert said.startswith("You're already in:")


async def test_no_button_where_there_are_no_introductions(start_bot, fake):
    bot = await start_bot("socket", playbooks=("welcome",))
    dm = await _day0(bot, fake, "U200", "Bas")
    assert dm["text"].startswith("Hi Bas, welcome") and not dm.get("blocks")
    said = await run_command(bot, "socket", "intros on", "U200", "on-cmd")
    assert said.startswith("You're in:")
    audit = [a for a in await bot.app.store.audit_log() if a["action"] == "intros:on"]
    assert [(a["actor"], a["detail"]["via"]) for a in audit] == [("U200", "command")]
