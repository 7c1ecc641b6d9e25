"""An introduction on the fake Slack: both members opt in with /steward intros on, a round opens a
group DM with both (conversations.open with users=a,b, checked against Slack's API description)
and posts what they have in common; a week later each is asked, and answers in the DM."""

from __future__ import annotations

from datetime import timedelta

from tests.conftest import T0
from tests.fakes.slack_requests import event_callback, message
from tests.slack.test_commands import run_command


async def test_two_members_who_said_yes_meet_in_a_group_dm(start_bot, fake):
    fake.add_user("U100", "Rosa Jansen")
    fake.add_user("U200", "Bas de Vries")
    bot = await start_bot("socket", playbooks=("intros", "intros_followup"))
    for uid in ("U100", "U200"):
        said = await run_command(bot, "socket", "intros on", uid, f"on-{uid}")
        assert said.startswith("You're in:")
        await bot.app.services.interests.choose("slack", uid, ["plugins"])
    await bot.app.engine.fire_schedule("intros", T0)
    await bot.deliver()
    [opened] = [c for c in fake.calls_to("conversations.open") if "," in str(c.params.get("users"))]
    assert opened.params["users"] == "U100,U200" and opened.response["ok"]
    [intro] = fake.posted(fake.group_dm("U100", "U200"))
    assert intro["text"].startswith("Meet each other: <@U100> and <@U200>\nYou're both into plugins")
    # a week later: "did you meet?" by DM, answered there
    bot.app.clock.advance_to(T0 + timedelta(days=7, hours=1))
    await bot.app.engine.fire_schedule("intros_followup", bot.app.clock.now())
    await bot.deliver()
    [asked] = fake.dms_to("U200")
    assert "last week I introduced you to <@U100>. Did you two get to meet?" in asked["text"]
    n = len(bot.dispatched) + 1
    await fake.send_envelope("events_api", event_callback(message(fake.dm_channel("U200"), "U200", "nope",
                                                                  channel_type="im")))
    await bot.settle(n)
    await bot.deliver()
    assert fake.dms_to("U200")[-1]["text"] == "Thanks for letting me know. Maybe another time."
