"""Messages out, through the real outbox and gateway into the fake: digests and their buttons, 429s,
permanent refusals, pacing, moderation calls, the report shortcut."""

from __future__ import annotations

import time

import pytest

from bot.adapters.slack.listeners import THANKS_FOR_REPORT
from bot.core.records import Button, Digest, DigestItem, OutboundMessage
from tests.fakes.slack_requests import block_actions, message_shortcut, team_join
from tests.slack.conftest import eventually

DIGEST = Digest("Moderation queue", (
    DigestItem("<@U7> posted a link to a **crypto giveaway** in <#CGEN>",
               (Button("delete", "Delete", "case-1", "danger"), Button("dismiss", "Dismiss", "case-1"))),
    DigestItem("<@U8> was reported for spam", (Button("warn", "Warn", "case-2"),)),
), footer="2 open cases")


async def submit(bot, msg: OutboundMessage, key: str):
    from dataclasses import replace

    return await bot.app.outbox.submit(replace(msg, dedupe_key=key), playbook_id="test", action="post",
                                       reason="test", deliver_now=False)


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_a_digest_is_block_kit_and_its_buttons_come_back_as_core_events(start_bot, fake, mode):
    bot = await start_bot(mode)
    await submit(bot, OutboundMessage("slack", "channel", text="Needs a look:", channel_id="CMODS", digest=DIGEST),
                 "digest-1")
    await bot.deliver()
    [post] = fake.posted("CMODS")
    blocks = post["blocks"]
    assert blocks[0]["text"]["text"] == "Moderation queue"
    # the message's text is what a notification shows; the blocks are the digest, without it again
    assert post["text"] == "Needs a look:" and "Needs a look:" not in str(blocks)
    assert blocks[1]["text"]["text"] == "<@U7> posted a link to a *crypto giveaway* in <#CGEN>"
    delete = blocks[2]["elements"][0]
    assert (delete["text"]["text"], delete["style"], delete["value"]) == ("Delete", "danger", "case-1")
    click = block_actions(user_id="UMOD", action_id=delete["action_id"], value=delete["value"], label="Delete",
                          message_ts="1772445600.000100", response_url=fake.response_url("click"))
    if mode == "http":
        status, _ = await bot.http.interaction(click)
        assert status == 200
    else:
        await fake.send_envelope("interactive", click)
    [ev] = await bot.settle()
    assert (ev.name, ev.action, ev.value, ev.member_id, ev.channel_id, ev.message_id) == \
        ("button_clicked", "delete", "case-1", "UMOD", "CMODS", "1772445600.000100")
    answers = await eventually(lambda: fake.responses)
    assert answers[0]["text"] == "You chose *Delete*." and answers[0]["response_type"] == "ephemeral"


async def test_a_burst_with_429s_midway_delivers_every_message_exactly_once(start_bot, fake):
    bot = await start_bot("http", pace=1.0)  # the fake allows about one post a second per channel
    fake.rate_limit("chat.postMessage", retry_after=1, times=2, after=5)
    channels = ["CA", "CB", "CC"]
    texts = [f"announcement {i}" for i in range(15)]
    for i, t in enumerate(texts):
        await submit(bot, OutboundMessage("slack", "channel", text=t, channel_id=channels[i % 3]), f"burst-{i}")
    for _ in range(40):
        await bot.later(seconds=1)
        if len(fake.posted()) == len(texts):
            break
        await eventually(lambda: False, timeout=0.1)  # let Retry-After pass in real time too
    assert sorted(p["text"] for p in fake.posted()) == sorted(texts)
    statuses = [c.status for c in fake.calls_to("chat.postMessage")]
    # two refusals, and no request of the client's own beyond the outbox's attempts
    assert statuses.count(429) == 2 and len(statuses) == len(texts) + 2
    rows = await bot.app.store.outbox()
    assert {r.status for r in rows} == {"sent"} and len(rows) == len(texts)


async def test_a_member_whose_dms_fail_is_recorded_and_not_retried(start_bot, fake):
    fake.add_user("U900", "Gone Member", deleted=True)
    bot = await start_bot("http")
    await bot.http.event(team_join("U900", "Gone Member"))
    await bot.settle()
    await bot.later(minutes=10)
    dm_row = next(r for r in await bot.app.store.outbox() if r.message.kind == "dm")
    assert dm_row.status == "failed" and dm_row.error == "conversations.open: user_disabled"
    opens = len(fake.calls_to("conversations.open"))
    for _ in range(5):
        await bot.later(hours=1)
    assert len(fake.calls_to("conversations.open")) == opens == 1
    # the welcome playbook's fallback: a mention in the welcome channel instead of the DM
    texts = [p["text"] for p in fake.posted("CWELCOME")]
    assert texts[-1].startswith("<@U900>, welcome! I couldn't send you a DM")


async def test_permanent_channel_errors_are_recorded(start_bot, fake):
    fake.add_channel("COLD", "old-news", is_archived=True)
    fake.fail("chat.postMessage", "not_in_channel", times=None, match={"channel": "CPRIV"})
    bot = await start_bot("http")
    await submit(bot, OutboundMessage("slack", "channel", text="hi", channel_id="COLD"), "k1")
    await submit(bot, OutboundMessage("slack", "thread", text="hi", channel_id="CPRIV", thread_id="1.2"), "k2")
    await submit(bot, OutboundMessage("slack", "dm", text="hi", member_id="UBOT"), "k3")
    await bot.deliver()
    await bot.later(hours=2)
    rows = {r.dedupe_key: (r.status, r.error) for r in await bot.app.store.outbox()}
    assert rows == {"k1": ("failed", "chat.postMessage: is_archived"),
                    "k2": ("failed", "chat.postMessage: not_in_channel"),
                    "k3": ("failed", "conversations.open: cannot_dm_bot")}
    assert len(fake.calls_to("chat.postMessage")) == 2


async def test_a_transient_error_is_retried_later(start_bot, fake):
    fake.fail("chat.postMessage", "internal_error", times=1)
    bot = await start_bot("http")
    await submit(bot, OutboundMessage("slack", "channel", text="hello", channel_id="CGEN"), "t1")
    await bot.deliver()
    assert (await bot.app.store.outbox())[0].status == "pending"
    await bot.later(minutes=5)
    assert [p["text"] for p in fake.posted("CGEN")] == ["hello"]


async def test_posts_to_one_channel_are_paced(start_bot, fake):
    bot = await start_bot("http", pace=0.2)
    sends: list[tuple[str, float]] = []
    pacer = bot.adapter.gateway.pacer
    wait = pacer.wait

    async def timed(channel):
        await wait(channel)
        sends.append((channel, time.monotonic()))

    pacer.wait = timed
    for i in range(3):
        await submit(bot, OutboundMessage("slack", "channel", text=f"m{i}", channel_id="CPACE"), f"p{i}")
    await submit(bot, OutboundMessage("slack", "channel", text="other", channel_id="COTHER"), "p-other")
    await bot.deliver()
    at = [t for c, t in sends if c == "CPACE"]
    # asyncio may wake a timer up to its clock resolution early
    assert len(at) == 3 and all(b - a >= 0.195 for a, b in zip(at, at[1:], strict=False))
    other = next(t for c, t in sends if c == "COTHER")
    assert other - at[-1] < 0.2  # another channel does not wait its turn
    assert [p["text"] for p in fake.posted("CPACE")] == ["m0", "m1", "m2"]


async def test_thread_replies_ephemeral_answers_and_reactions(start_bot, fake):
    bot = await start_bot("http")
    await submit(bot, OutboundMessage("slack", "thread", text="Answered? React with :white_check_mark:",
                                      channel_id="CHELP", thread_id="1772445600.000100"), "r1")
    await submit(bot, OutboundMessage("slack", "ephemeral", text="Only you see this", channel_id="CHELP",
                                      member_id="U1"), "r2")
    await submit(bot, OutboundMessage("slack", "reaction", channel_id="CHELP", thread_id="1772445600.000100",
                                      emoji=":eyes:"), "r3")
    await bot.deliver()
    [reply] = fake.posted("CHELP")
    assert reply["thread_ts"] == "1772445600.000100"
    assert fake.calls_to("chat.postEphemeral")[0].params["user"] == "U1"
    assert fake.calls_to("reactions.add")[0].params == {"channel": "CHELP", "timestamp": "1772445600.000100",
                                                        "name": "eyes"}
    assert {r.status for r in await bot.app.store.outbox()} == {"sent"}


async def test_moderation_calls(start_bot, fake):
    fake.add_channel("CGEN", "general", members=["U7"])
    fake.usergroups["SAMB"] = ["U1"]
    bot = await start_bot("http", slack={"ambassador_usergroup": "SAMB"})
    gw = bot.adapter.gateway
    assert (await gw.delete_message("CGEN", "1.5")).ok
    assert fake.calls_to("chat.delete")[0].params == {"channel": "CGEN", "ts": "1.5"}
    assert (await gw.remove_from_channel("CGEN", "U7")).ok
    again = await gw.remove_from_channel("CGEN", "U7")
    assert (again.ok, again.permanent, again.error) == (False, True, "conversations.kick: not_in_channel")
    assert (await gw.grant_role("U2", "ambassador")).ok
    assert fake.usergroups["SAMB"] == ["U1", "U2"]
    assert (await gw.timeout_member("U7", 600)).permanent


async def test_grant_role_without_a_group_says_what_to_configure(start_bot):
    bot = await start_bot("http")
    r = await bot.adapter.gateway.grant_role("U2", "ambassador")
    assert r.permanent and "[slack] ambassador_usergroup" in r.error


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_report_to_moderators(start_bot, fake, mode):
    bot = await start_bot(mode)
    shortcut = message_shortcut(user_id="U5", channel_id="CGEN", message_ts="1772445600.000100", author_id="U6",
                                text="buy cheap followers", response_url=fake.response_url("report"))
    if mode == "http":
        status, _ = await bot.http.interaction(shortcut)
        assert status == 200
    else:
        await fake.send_envelope("interactive", shortcut)
    [ev] = await bot.settle()
    assert (ev.name, ev.reporter_id, ev.author_id, ev.message_id, ev.text) == \
        ("message_reported", "U5", "U6", "1772445600.000100", "buy cheap followers")
    [thanks] = await eventually(lambda: fake.responses)
    assert thanks["text"] == THANKS_FOR_REPORT and thanks["response_type"] == "ephemeral"


async def test_a_message_left_mid_send_is_found_by_its_dedupe_key(start_bot, fake):
    bot = await start_bot("http")
    item = await submit(bot, OutboundMessage("slack", "dm", text="hello", member_id="U42"), "welcome:U42")
    assert await bot.adapter.gateway.already_sent(item) is None
    await bot.deliver()
    found = await bot.adapter.gateway.already_sent(item)
    assert found is not None and found.ok
    assert found.native_id == fake.calls_to("chat.postMessage")[0].response["ts"]
    other = await submit(bot, OutboundMessage("slack", "dm", text="hello", member_id="U42"), "welcome:U42:b")
    assert await bot.adapter.gateway.already_sent(other) is None


async def test_the_fake_refuses_what_slack_would(fake):
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web.async_client import AsyncWebClient

    client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url, retry_handlers=[])
    with pytest.raises(SlackApiError) as e:
        await client.chat_postMessage(channel="C1", text="x", not_a_param=1)
    assert e.value.response["response_metadata"]["messages"] == ["[ERROR] unknown parameter 'not_a_param'"]
    with pytest.raises(SlackApiError) as e:
        await client.api_call("usergroups.users.list", http_verb="GET", params={})
    assert "missing required parameter 'usergroup'" in e.value.response["response_metadata"]["messages"][0]
    with pytest.raises(SlackApiError) as e:
        await client.api_call("chat.postMessagez", json={"channel": "C1"})
    assert e.value.response["error"] == "invalid_arguments"
    bad = AsyncWebClient(token="xoxb-wrong", base_url=fake.api_url, retry_handlers=[])
    with pytest.raises(SlackApiError) as e:
        await bad.auth_test()
    assert e.value.response["error"] == "invalid_auth"

