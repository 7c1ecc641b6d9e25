"""Gateway events in: what the engine receives for messages, replies, threads, forum posts, edits,
deletes, reactions and departures, from the real discord.py client reading the fake's gateway."""

from __future__ import annotations

from bot.core.events import (
    MemberLeft,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    ReactionAdded,
    ReactionRemoved,
)
from tests.fakes.discord_fixtures import GENERAL, QUESTIONS_FORUM
from tests.fakes.discord_server import GUILD_ID

ROSA = "200000000000000021"
BAS = "200000000000000022"
HOOKBOT = "200000000000000023"


async def _bot_with_observer(discord_bot, fake):
    fake.add_member(GUILD_ID, ROSA, "Rosa")
    fake.add_member(GUILD_ID, BAS, "Bas")
    fake.add_member(GUILD_ID, HOOKBOT, "Hook Bot", bot=True)
    app, adapter = await discord_bot()
    events: list = []

    async def observe(ev, facts):
        events.append(ev)

    app.engine.observers.append(observe)
    return app, adapter, events


async def _settle(fake, adapter, events, n):
    await fake.wait_until(lambda: len(events) >= n, what=f"{n} event(s) at the engine")
    await adapter.idle()


async def test_messages_replies_threads_and_forum_posts(discord_bot, fake_discord):
    app, adapter, events = await _bot_with_observer(discord_bot, fake_discord)
    q = await fake_discord.post_message(GENERAL, ROSA, f"How do I start? <@{BAS}>")
    await fake_discord.post_message(GENERAL, BAS, "Like this!", reply_to=q["id"])
    thread = await fake_discord.start_thread(GENERAL, q["id"], "How do I start?")
    in_thread = await fake_discord.post_message(thread, BAS, "More detail here")
    post = await fake_discord.create_forum_post(QUESTIONS_FORUM, ROSA, "Install fails", "pip says no")
    await fake_discord.post_message(GENERAL, HOOKBOT, "beep")
    await _settle(fake_discord, adapter, events, 5)
    # the engine sees the events in the order the gateway sent them
    posted = [e for e in events if isinstance(e, MessagePosted)]
    got = [(e.channel_id, e.message_id, e.author_id, e.text, e.thread_id, e.reply_to, e.kind, e.is_bot)
           for e in posted]
    assert got == [
        (GENERAL, q["id"], ROSA, f"How do I start? <@{BAS}>", None, None, None, False),
        (GENERAL, got[1][1], BAS, "Like this!", None, q["id"], None, False),
        # a thread reply sits under the parent channel, its root is the message the thread grew from
        (GENERAL, in_thread["id"], BAS, "More detail here", q["id"], None, None, False),
        # a forum post's opening message: the thread is the post, the message has the thread's ID
        (QUESTIONS_FORUM, post["id"], ROSA, "pip says no", post["id"], None, "forum", False),
        (GENERAL, got[4][1], HOOKBOT, "beep", None, None, None, True),
    ]
    assert posted[0].mentions == (BAS,)
    assert posted[0].author_name == "Rosa" and posted[0].channel_name == "general"


async def test_edits_deletes_reactions_and_leaving(discord_bot, fake_discord):
    app, adapter, events = await _bot_with_observer(discord_bot, fake_discord)
    q = await fake_discord.post_message(GENERAL, ROSA, "Is there a meetup?")
    thread = await fake_discord.start_thread(GENERAL, q["id"], "meetup")
    r = await fake_discord.post_message(thread, BAS, "Yes, Friday")
    await _settle(fake_discord, adapter, events, 2)
    await fake_discord.edit_message(thread, r["id"], "Yes, Friday at 8")
    await fake_discord.react(GENERAL, q["id"], BAS, "✅")
    await fake_discord.react(GENERAL, q["id"], HOOKBOT, "🤖")  # bots' reactions do not count
    await fake_discord.react(GENERAL, q["id"], BAS, "✅", remove=True)
    await fake_discord.delete_message_event(GENERAL, q["id"])
    await fake_discord.member_leave(ROSA)
    await _settle(fake_discord, adapter, events, 7)
    rest = [e for e in events if not isinstance(e, MessagePosted)]
    assert [type(e) for e in rest] == [MessageEdited, ReactionAdded, ReactionRemoved, MessageDeleted, MemberLeft]
    edit, added, removed, deleted, left = rest
    assert (edit.channel_id, edit.message_id, edit.author_id, edit.text) == (GENERAL, r["id"], BAS, "Yes, Friday at 8")
    assert (added.channel_id, added.message_id, added.member_id, added.emoji, added.message_author_id) == (
        GENERAL, q["id"], BAS, "white_check_mark", ROSA)
    assert (removed.member_id, removed.emoji) == (BAS, "white_check_mark")
    assert (deleted.channel_id, deleted.message_id) == (GENERAL, q["id"])
    assert left.member_id == ROSA
