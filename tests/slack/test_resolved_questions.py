"""A question a manager marked resolved with the digest's button stays resolved: the next digest of
unanswered questions leaves it out, even after the conversation in its channel has moved on."""

from __future__ import annotations

from datetime import timedelta

from tests.conftest import T0
from tests.fakes.slack_requests import block_actions, message
from tests.slack.conftest import eventually

MANAGERS = {"slack_user_ids": ["UMOD"]}


async def _say(bot, user: str, text: str, at, n: int, thread_ts: str | None = None) -> str:
    ts = f"{int(at.timestamp())}.{n:06d}"
    status, _ = await bot.http.event(message("CHELP", user, text, ts=ts, thread_ts=thread_ts))
    assert status == 200
    return ts


async def test_a_question_resolved_with_the_button_is_not_in_the_next_digest(start_bot, fake):
    for uid, name in (("UASK", "Ada Asker"), ("UHELP", "Hugo Helper"), ("UOTHER", "Omar Other"),
                      ("UMOD", "Mia Moderator")):
        fake.add_user(uid, name)
    bot = await start_bot("http", playbooks=("unanswered_digest",), managers=MANAGERS)
    q = await _say(bot, "UASK", "How do I configure the proxy for the installer?", T0, 1)
    await bot.settle(1)

    bot.app.clock.advance_to(T0 + timedelta(hours=5))
    await bot.app.engine.fire_schedule("unanswered_digest", bot.app.clock.now())
    await bot.deliver()
    [digest] = fake.posted("CMODS")
    assert "How do I configure the proxy for the installer?" in str(digest["blocks"])
    [button] = [e for b in digest["blocks"] for e in b.get("elements", ()) if e.get("type") == "button"]
    assert button["value"] == f"slack|CHELP/{q}"
    click = block_actions(user_id="UMOD", action_id=button["action_id"], value=button["value"], label="Resolved",
                          message_ts=digest.get("ts", "1772445600.000100"), response_url=fake.response_url("r"))
    status, _ = await bot.http.interaction(click)
    assert status == 200
    await bot.settle(2)
    await bot.deliver()
    assert fake.posted("CMODS")[-1]["text"] == "<@UMOD> marked a question in <#CHELP> as resolved."

    # the channel goes on: a reply to the asker, a new question, then enough talk that both leave
    # the conversation model's window
    at = T0 + timedelta(hours=5, minutes=5)
    await _say(bot, "UHELP", "<@UASK> did you get the proxy working in the end?", at, 2)
    q2 = await _say(bot, "UOTHER", "Where are the build logs kept?", at + timedelta(minutes=1), 3)
    n = 3
    for i in range(45):
        n += 1
        who = ("UHELP", "UMOD")[i % 2]
        await _say(bot, who, f"The meetup notes, part {i}: thanks to everyone who came along.",
                   at + timedelta(minutes=2 + i), n)
    await bot.settle(n + 1)

    bot.app.clock.advance_to(T0 + timedelta(hours=11))
    await bot.app.engine.fire_schedule("unanswered_digest", bot.app.clock.now())
    await bot.deliver()
    posts = await eventually(lambda: len(fake.posted("CMODS")) >= 3 and fake.posted("CMODS"))
    listed = str(posts[-1]["blocks"])
    assert "Where are the build logs kept?" in listed and q2 in listed
    assert "configure the proxy" not in listed and q not in listed
