"""An introduction on the fake Discord: bots cannot open group DMs there, so the pair gets a private
thread in the intros channel with both added (every request checked against Discord's API
description by the fake)."""

from __future__ import annotations

import shutil

from tests.conftest import ROOT, T0
from tests.fakes.discord_server import GUILD_ID

INTROS = "100000000000000009"
ROSA = "200000000000000001"
BAS = "200000000000000002"


async def test_a_pair_meets_in_a_private_thread(discord_bot, fake_discord, tmp_path):
    fake_discord.add_channel(INTROS, "intros")
    fake_discord.add_member(GUILD_ID, ROSA, "Rosa Jansen")
    fake_discord.add_member(GUILD_ID, BAS, "Bas")
    d = tmp_path / "pb"
    d.mkdir()
    shutil.copy(ROOT / "playbooks" / "intros.yaml", d)
    app, adapter = await discord_bot(playbooks_dir=d)
    app.settings.channels["intros"] = {"discord": INTROS}
    from bot.community.intros_store import IntroStore

    for uid in (ROSA, BAS):
        await IntroStore(app.store).set_status("discord", uid, "on", now=T0)
        await app.services.interests.choose("discord", uid, ["build"])
    await app.engine.fire_schedule("intros", T0)
    await app.delivery.drain()
    [thread] = [c for c in fake_discord.channels.values() if c.get("type") == 12]
    assert thread["parent_id"] == INTROS and thread["name"] == "Rosa Jansen & Bas"
    assert sorted(fake_discord.thread_members[thread["id"]]) == [ROSA, BAS]
    [msg] = fake_discord.sent(thread["id"])
    seen = fake_discord.seen(msg)
    assert seen.startswith("Meet each other: @Rosa Jansen and @Bas\nYou're both into building and testing")
    [row] = await app.store.outbox(status="sent")
    assert row.message.kind == "group" and row.native_id == msg["id"]


async def test_a_thread_whose_answer_was_lost_is_found_and_finished_not_made_again(discord_bot, fake_discord,
                                                                                    tmp_path):
    from datetime import timedelta

    fake_discord.add_channel(INTROS, "intros")
    fake_discord.add_member(GUILD_ID, ROSA, "Rosa Jansen")
    fake_discord.add_member(GUILD_ID, BAS, "Bas")
    d = tmp_path / "pb"
    d.mkdir()
    shutil.copy(ROOT / "playbooks" / "intros.yaml", d)
    app, adapter = await discord_bot(playbooks_dir=d)
    app.settings.channels["intros"] = {"discord": INTROS}
    from bot.community.intros_store import IntroStore

    for uid in (ROSA, BAS):
        await IntroStore(app.store).set_status("discord", uid, "on", now=T0)
        await app.services.interests.choose("discord", uid, ["build"])
    # Discord makes the thread, then the answer is a 500: nobody knows whether it exists
    fake_discord.accept_then(r"/channels/\d+/threads", status=500)
    await app.engine.fire_schedule("intros", T0)
    await app.delivery.drain()
    [row] = await app.store.outbox()
    assert row.status == "pending" and row.unsure
    threads = [c for c in fake_discord.channels.values() if c.get("type") == 12]
    assert len(threads) == 1 and fake_discord.thread_members[threads[0]["id"]] == []
    app.clock.advance_to(T0 + timedelta(minutes=5))
    await app.delivery.drain()
    # looked up before the retry: the same thread, finished; no second one
    [thread] = [c for c in fake_discord.channels.values() if c.get("type") == 12]
    assert thread["name"] == "Rosa Jansen & Bas"
    assert sorted(fake_discord.thread_members[thread["id"]]) == [ROSA, BAS]
    [msg] = fake_discord.sent(thread["id"])
    assert fake_discord.seen(msg).startswith("Meet each other: @Rosa Jansen and @Bas")
    [row] = await app.store.outbox()
    assert row.status == "sent" and row.native_id == msg["id"]
    assert len(fake_discord.calls_to("POST", r"/channels/\d+/threads")) == 1
