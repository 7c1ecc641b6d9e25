"""Messages out through the outbox and the real discord.py HTTP client: bursts through 429s,
lost responses, digests with buttons (also after a restart), thread replies, reactions and the
moderators' decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.core.events import ButtonClicked
from bot.core.records import Button, Digest, DigestItem, OutboundMessage
from tests.fakes.discord_fixtures import AMBASSADOR_ROLE, GENERAL, MODERATORS, start_adapter
from tests.fakes.discord_server import GUILD_ID, custom_ids, may_ping

ROSA = "200000000000000031"
NOOR = "200000000000000032"


async def _post(app, text, *, key, channel=GENERAL, kind="channel", **kw):
    msg = OutboundMessage(platform="discord", kind=kind, text=text, channel_id=channel, dedupe_key=key, **kw)
    return await app.outbox.submit(msg, playbook_id="test", action="post_message", reason="test")


async def test_a_burst_through_429s_posts_every_message_exactly_once(discord_bot, fake_discord):
    app, _ = await discord_bot()
    fake_discord.rate_limit(retry_after=0.05, times=3)
    for i in range(8):
        await _post(app, f"message {i}", key=f"burst:{i}")
    sent = [m["content"] for m in fake_discord.sent(GENERAL)]
    assert sorted(sent) == sorted(f"message {i}" for i in range(8))
    assert len(fake_discord.calls_to("POST", rf"/channels/{GENERAL}/messages")) == 8 + 3
    assert [i.status for i in await app.store.outbox()] == ["sent"] * 8


async def test_a_long_rate_limit_goes_back_to_the_outbox_and_is_sent_once_later(discord_bot, fake_discord):
    app, _ = await discord_bot()
    fake_discord.rate_limit(retry_after=45.0)  # longer than the bot waits inside discord.py
    item = await _post(app, "hello after the wait", key="long:1")
    assert item.status == "pending" and fake_discord.sent(GENERAL) == []
    assert item.not_before >= app.clock.now() + timedelta(seconds=45)
    app.clock.advance_to(app.clock.now() + timedelta(seconds=46))
    await app.delivery.drain()
    assert [m["content"] for m in fake_discord.sent(GENERAL)] == ["hello after the wait"]


async def test_a_lost_response_does_not_post_twice(discord_bot, fake_discord):
    app, _ = await discord_bot()
    # Discord makes the message, then the connection drops before the answer arrives: the outcome
    # is unknown, so the next attempt first reads the channel and finds the message (a resend
    # would also be safe inside Discord's nonce window)
    fake_discord.inject("POST", rf"/channels/{GENERAL}/messages", 0, after=True)
    item = await _post(app, "only once, please", key="lost:1")
    assert item.status == "pending" and "ServerDisconnected" in (item.error or "")
    app.clock.advance_to(app.clock.now() + timedelta(minutes=1))
    await app.delivery.drain()
    [msg] = fake_discord.sent(GENERAL)
    assert msg["content"] == "only once, please"
    assert len(fake_discord.calls_to("POST", rf"/channels/{GENERAL}/messages")) == 1
    assert len(fake_discord.calls_to("GET", rf"/channels/{GENERAL}/messages")) == 1
    item = await app.store.outbox_item(item.id)
    assert item.status == "sent" and item.native_id == msg["id"]


async def test_mentions_are_limited_to_the_members_meant(discord_bot, fake_discord):
    app, _ = await discord_bot()
    await _post(app, "Hi <@" + ROSA + ">, see you at @everyone's party", key="m:1", mention_ids=(ROSA,))
    [msg] = fake_discord.sent(GENERAL)
    assert may_ping(msg) == {ROSA}
    assert fake_discord.seen(msg) == f"Hi <@{ROSA}>, see you at @everyone's party"


def _digest(n):
    items = tuple(DigestItem(f"Candidate <@2000000000000001{i:02d}> answered {i} questions",
                             (Button("approve", "Approve", f"amb:{i}", "primary"),
                              Button("not_now", "Not now", f"amb:{i}")))
                  for i in range(n))
    return Digest("Ambassador candidates", items, footer="Approve gives the ambassador role.")


async def test_digest_is_an_embed_with_buttons_and_a_click_comes_back(discord_bot, fake_discord):
    app, adapter = await discord_bot()
    fake_discord.add_member(GUILD_ID, NOOR, "Noor")
    clicks: list = []

    async def observe(ev, facts):
        if isinstance(ev, ButtonClicked):
            clicks.append(ev)

    app.engine.observers.append(observe)
    await _post(app, "", key="digest:1", channel=MODERATORS, digest=_digest(2))
    [msg] = fake_discord.sent(MODERATORS)
    [embed] = msg["embeds"]
    assert embed["title"] == "Ambassador candidates"
    assert fake_discord.seen(embed["description"]).startswith("1. Candidate <@200000000000000100> answered 0")
    assert embed["footer"]["text"] == "Approve gives the ambassador role."
    assert custom_ids(msg) == ["steward:approve:amb:0", "steward:not_now:amb:0",
                               "steward:approve:amb:1", "steward:not_now:amb:1"]
    labels = [c["label"] for row in msg["components"] for c in row["components"]]
    assert labels == ["1 · Approve", "1 · Not now", "2 · Approve", "2 · Not now"]
    fi = await fake_discord.click(msg, "steward:approve:amb:1", user_id=NOOR)
    await fake_discord.answer(fi)
    assert fi.callbacks[0]["type"] == 5 and fi.ephemeral  # acknowledged at once, privately
    assert fake_discord.seen(fi.text()) == "Done: Approve."
    await adapter.idle()
    assert [(c.member_id, c.action, c.value, c.channel_id, c.message_id) for c in clicks] == [
        (NOOR, "approve", "amb:1", MODERATORS, msg["id"])]


async def test_buttons_still_work_after_a_restart(discord_bot, fake_discord):
    app, adapter = await discord_bot()
    fake_discord.add_member(GUILD_ID, NOOR, "Noor")
    await _post(app, "", key="digest:2", channel=MODERATORS, digest=_digest(1))
    [msg] = fake_discord.sent(MODERATORS)
    await adapter.stop()
    app.adapters.remove(adapter)
    clicks: list = []

    async def observe(ev, facts):
        if isinstance(ev, ButtonClicked):
            clicks.append(ev)

    app.engine.observers.append(observe)
    fresh = await start_adapter(app, fake_discord)  # a new process would build a new bot like this
    try:
        fi = await fake_discord.click(msg, "steward:not_now:amb:0", user_id=NOOR)
        await fake_discord.answer(fi)
        await fresh.idle()
        assert [(c.action, c.value) for c in clicks] == [("not_now", "amb:0")]
        assert fake_discord.seen(fi.text()) == "Done: Not now."
    finally:
        await fresh.stop()


async def test_a_digest_with_many_items_spans_messages(discord_bot, fake_discord):
    app, _ = await discord_bot()
    await _post(app, "This week:", key="digest:3", channel=MODERATORS, digest=_digest(7))
    first, second = fake_discord.sent(MODERATORS)
    # the text is the notification of a digest (Slack's fallback); on Discord the embeds are the message
    assert not first.get("content") and "This week:" not in fake_discord.seen(first)
    assert len(first["components"]) == 5 and len(second["components"]) == 2  # five rows at most
    assert second["embeds"][0]["title"] == "Ambassador candidates (continued)"
    assert custom_ids(second)[0] == "steward:approve:amb:5"


async def test_thread_replies_go_into_the_thread_or_reply_to_the_message(discord_bot, fake_discord):
    app, adapter = await discord_bot()
    fake_discord.add_member(GUILD_ID, ROSA, "Rosa")
    q = await fake_discord.post_message(GENERAL, ROSA, "Where are the docs?")
    await _post(app, "Here: the docs", key="t:1", kind="thread", thread_id=q["id"])
    [reply] = fake_discord.sent(GENERAL)
    assert str(reply["message_reference"]["message_id"]) == q["id"]  # no thread yet: a reply
    thread = await fake_discord.start_thread(GENERAL, q["id"], "docs")
    await fake_discord.wait_until(lambda: adapter.bot.get_channel(int(thread)), what="thread in cache")
    await _post(app, "And in the thread", key="t:2", kind="thread", thread_id=thread)
    assert [m["content"] for m in fake_discord.sent(thread)] == ["And in the thread"]


async def test_reactions_use_the_emoji_people_see(discord_bot, fake_discord):
    app, _ = await discord_bot()
    fake_discord.add_member(GUILD_ID, ROSA, "Rosa")
    q = await fake_discord.post_message(GENERAL, ROSA, "Hello!")
    await _post(app, "", key="r:1", kind="reaction", thread_id=q["id"], emoji="wave")
    assert fake_discord.reactions == [(GENERAL, q["id"], "👋")]


async def test_moderators_decisions(discord_bot, fake_discord):
    app, adapter = await discord_bot()
    fake_discord.add_member(GUILD_ID, ROSA, "Rosa")
    q = await fake_discord.post_message(GENERAL, ROSA, "spam spam")
    gw = adapter.gateway
    assert (await gw.delete_message(GENERAL, q["id"])).ok
    assert fake_discord.sent(GENERAL) == [] and not fake_discord.messages[GENERAL]
    assert (await gw.delete_message(GENERAL, q["id"])).ok  # already gone is done
    before = datetime.now(UTC)
    assert (await gw.timeout_member(ROSA, 3600, reason="cool down")).ok
    until = datetime.fromisoformat(fake_discord.member_payload(GUILD_ID, ROSA)["communication_disabled_until"])
    assert timedelta(minutes=59) < until - before < timedelta(minutes=61)
    assert (await gw.grant_role(ROSA, "ambassador")).ok
    assert AMBASSADOR_ROLE in fake_discord.member_payload(GUILD_ID, ROSA)["roles"]
