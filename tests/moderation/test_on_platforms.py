"""Done-when of moderation, on both fake platforms through the real adapters: a flood, a mass mention,
a term hit and a member report each make one case in the moderators' channel, and each button does
what it says (seen by the fake platform) and is audited."""

from __future__ import annotations

import re
import shutil

from bot.adapters.discord.appcommands import REPORT_MENU, THANKS
from bot.adapters.slack.listeners import THANKS_FOR_REPORT
from bot.moderation.queue import service
from tests.conftest import ROOT
from tests.fakes.discord_fixtures import GENERAL, MANAGER_ROLE, MODERATORS, discord_bot, fake_discord  # noqa: F401
from tests.fakes.discord_server import GUILD_ID, custom_ids
from tests.fakes.slack_requests import block_actions, message, message_shortcut
from tests.slack.conftest import eventually, fake, slack_env, start_bot  # noqa: F401

TS0 = 1772445600  # tests.conftest.T0


async def _audit(app) -> list[tuple[str, str, str]]:
    return [(a["actor"], a["action"], a["target"]) for a in reversed(await app.store.audit_log())
            if a["action"].startswith("case:")]


# --------------------------------------------------------------------------------------------- Slack
def _slack_text(post) -> str:
    return "\n".join(b["text"]["text"] for b in post["blocks"] if b["type"] == "section")


def _slack_buttons(post) -> dict[str, dict]:
    return {e["value"] + ":" + e["action_id"].split(":")[1]: e for b in post["blocks"] if b["type"] == "actions"
            for e in b["elements"]}


async def test_slack(start_bot, fake):  # noqa: F811
    fake.add_channel("CGEN", "general", members=["U1", "U2", "U3", "U4"])
    for uid, name in (("U1", "Spammer"), ("U2", "Shouter"), ("U3", "Rude"), ("U4", "Grumpy"), ("UREP", "Rep"),
                      ("UMOD", "Mod")):
        fake.add_user(uid, name)
    # four posts into the moderators' channel: paced as Slack wants, about one a second
    bot = await start_bot("http", pace=1.0, playbooks=("moderation",), managers={"slack_user_ids": ["UMOD"]})
    # one incident after the other (Slack's events are handled concurrently, so case numbers would race)
    for k in range(9):
        await bot.http.event(message("CGEN", "U1", "BUY NOW at my shop", ts=f"{TS0 + k}.000100"))
    await bot.settle(9)
    await bot.http.event(message("CGEN", "U2", "<!channel> come to my stream", ts=f"{TS0 + 20}.000100"))
    await bot.settle(10)
    await bot.http.event(message("CGEN", "U3", "just k1ll y0urself", ts=f"{TS0 + 30}.000100"))
    await bot.settle(11)
    await bot.http.event(message("CGEN", "U4", "you are all useless", ts=f"{TS0 + 40}.000100"))
    await bot.settle(12)
    status, _ = await bot.http.interaction(message_shortcut(
        user_id="UREP", channel_id="CGEN", message_ts=f"{TS0 + 40}.000100", author_id="U4",
        text="you are all useless", response_url=fake.response_url("report")))
    assert status == 200
    await bot.settle(13)
    [thanks] = await eventually(lambda: fake.responses)
    assert (thanks["text"], thanks["response_type"]) == (THANKS_FOR_REPORT, "ephemeral")
    await bot.deliver()

    posts = fake.posted("CMODS")
    texts = [_slack_text(p) for p in posts]
    assert len(posts) == 4, texts
    flood, mention, term, report = texts
    assert flood.startswith("*Case #1: flooding*\n<@U1> in <#CGEN>")
    # the nine arrive concurrently: the case opens with the first hit processed, the third message or later
    why = re.search(r"Why: (\d) identical messages in 10s", flood)
    assert why and 3 <= int(why.group(1)) <= 9, flood
    assert mention.startswith("*Case #2: mass mention*\n<@U2> in <#CGEN>") and "Why: used &lt;!channel&gt;" in mention
    assert term.startswith("*Case #3: blocked term*\n<@U3>") and "Why: term: kill yourself" in term
    assert report.startswith("*Case #4: reported by a member*\n<@U4>") and "Reported by <@UREP>." in report
    assert all(p["link_names"] is False for p in posts if "link_names" in p)

    clicks = [(0, "case_delete"), (0, "case_ban"), (1, "case_remove"), (2, "case_warn"), (3, "case_dismiss")]
    for n, (i, action) in enumerate(clicks, start=1):
        btn = _slack_buttons(posts[i])[f"{i + 1}:{action}"]
        status, _ = await bot.http.interaction(block_actions(
            user_id="UMOD", action_id=btn["action_id"], value=btn["value"], label=btn["text"]["text"],
            message_ts=f"{TS0 + 100 + i}.000100", response_url=fake.response_url(f"click{n}")))
        assert status == 200
        await bot.settle(13 + n)
    await bot.deliver()

    # what each button did, as Slack saw it
    # the flood's third message onwards (events arrive concurrently: which seven of the nine may vary)
    deleted = {(c.params["channel"], c.params["ts"]) for c in fake.calls_to("chat.delete")}
    assert len(deleted) == 7 and deleted <= {("CGEN", f"{TS0 + k}.000100") for k in range(9)}
    assert [c.params for c in fake.calls_to("conversations.kick")] == [{"channel": "CGEN", "user": "U2"}]
    [warning] = fake.dms_to("U3")
    assert "asks you to keep to the community guidelines" in warning["text"]
    assert fake.dms_to("U4") == [] and fake.dms_to("UREP") == []
    confirmations = [p["text"] for p in fake.posted("CMODS")[4:]]
    assert confirmations == [
        "Case #1 (flooding, <@U1>): message deleted, by <@UMOD>.",
        "Case #1 (flooding, <@U1>): ban suggested to the admins, by <@UMOD>.",
        "Case #2 (mass mention, <@U2>): removed from the channel, by <@UMOD>.",
        "Case #3 (blocked term, <@U3>): warned by DM, by <@UMOD>.",
        "Case #4 (reported by a member, <@U4>): dismissed as a false positive, by <@UMOD>.",
    ]
    cases = {c.id: c.status for c in await service(bot.app.engine).cases.all()}
    assert cases == {1: "ban_suggested", 2: "removed", 3: "warned", 4: "dismissed"}
    assert await _audit(bot.app) == [
        ("UREP", "case:report", "case:4"), ("UMOD", "case:delete", "case:1"), ("UMOD", "case:ban", "case:1"),
        ("UMOD", "case:remove", "case:2"), ("UMOD", "case:warn", "case:3"), ("UMOD", "case:dismiss", "case:4")]


# --------------------------------------------------------------------------------------------- Discord
SPAMMER, SHOUTER, RUDE, GRUMPY, REPORTER, MANAGER = (f"2000000000000001{i:02d}" for i in range(6))


async def test_discord(discord_bot, fake_discord, tmp_path):  # noqa: F811
    dc = fake_discord
    for uid, name in ((SPAMMER, "Spammer"), (SHOUTER, "Shouter"), (RUDE, "Rude"), (GRUMPY, "Grumpy"),
                      (REPORTER, "Rep")):
        dc.add_member(GUILD_ID, uid, name)
    dc.add_member(GUILD_ID, MANAGER, "Mod", roles=[MANAGER_ROLE])
    pb = tmp_path / "pb"
    pb.mkdir()
    shutil.copy(ROOT / "playbooks" / "moderation.yaml", pb)
    app, adapter = await discord_bot(playbooks_dir=pb)
    # one incident after the other (the gateway delivers events concurrently, so case numbers would race)
    flood = [await dc.post_message(GENERAL, SPAMMER, "BUY NOW at my shop") for _ in range(9)]
    await dc.wait_message(MODERATORS, 1)
    await dc.post_message(GENERAL, SHOUTER, "@everyone come to my stream")
    await dc.wait_message(MODERATORS, 2)
    await dc.post_message(GENERAL, RUDE, "just k1ll y0urself")
    await dc.wait_message(MODERATORS, 3)
    rude = await dc.post_message(GENERAL, GRUMPY, "you are all useless")
    fi = await dc.message_menu(REPORT_MENU, rude, user_id=REPORTER)
    await dc.answer(fi)
    assert dc.seen(fi.text()) == THANKS and fi.ephemeral
    await dc.wait_message(MODERATORS, 4)
    await adapter.idle()
    posts = dc.sent(MODERATORS)
    texts = [dc.seen(p) for p in posts]
    assert len(posts) == 4, texts
    assert "Case #1: flooding\n@Spammer in #general" in texts[0] and "3 identical messages in 10s" in texts[0]
    assert "Case #2: mass mention\n@Shouter in #general" in texts[1] and "Why: used @everyone" in texts[1]
    assert "Case #3: blocked term\n@Rude in #general" in texts[2] and "Why: term: kill yourself" in texts[2]
    assert "Case #4: reported by a member\n@Grumpy in #general" in texts[3] and "Reported by @Rep." in texts[3]
    assert [re.sub(r"\d+$", "N", c) for c in custom_ids(posts[0])] == [
        f"steward:{a}:N" for a in ("case_dismiss", "case_warn", "case_delete", "case_timeout", "case_ban")]

    clicks = [(0, "case_delete"), (0, "case_ban"), (1, "case_timeout"), (2, "case_warn"), (3, "case_dismiss")]
    for i, action in clicks:
        fi = await dc.click(posts[i], f"steward:{action}:{i + 1}", user_id=MANAGER)
        await dc.answer(fi)
        assert fi.ephemeral
        await adapter.idle()
    await app.delivery.drain()

    # the case's messages: the third flood message onwards (events arrive concurrently: which seven may vary)
    deleted = {c.path for c in dc.calls_to("DELETE", r"/channels/\d+/messages/\d+")}
    assert len(deleted) == 7
    assert deleted <= {f"/channels/{GENERAL}/messages/{m['id']}" for m in flood}
    assert deleted == {f"/channels/{ref.replace('/', '/messages/')}"
                       for ref in (await service(app.engine).cases.get(1)).message_refs}
    [timeout] = dc.calls_to("PATCH", rf"/guilds/{GUILD_ID}/members/{SHOUTER}")
    assert timeout.body["communication_disabled_until"]
    warning = await dc.wait_dm(RUDE)
    assert "asks you to keep to the community guidelines" in dc.seen(warning)
    assert dc.dms_to(GRUMPY) == [] and dc.dms_to(REPORTER) == []
    confirmations = [dc.seen(p) for p in dc.sent(MODERATORS)[4:]]
    assert confirmations == [
        "Case #1 (flooding, @Spammer): message deleted, by @Mod.",
        "Case #1 (flooding, @Spammer): ban suggested to the admins, by @Mod.",
        "Case #2 (mass mention, @Shouter): timed out, by @Mod.",
        "Case #3 (blocked term, @Rude): warned by DM, by @Mod.",
        "Case #4 (reported by a member, @Grumpy): dismissed as a false positive, by @Mod.",
    ]
    cases = {c.id: c.status for c in await service(app.engine).cases.all()}
    assert cases == {1: "ban_suggested", 2: "timed_out", 3: "warned", 4: "dismissed"}
    assert await _audit(app) == [
        (REPORTER, "case:report", "case:4"), (MANAGER, "case:delete", "case:1"), (MANAGER, "case:ban", "case:1"),
        (MANAGER, "case:timeout", "case:2"), (MANAGER, "case:warn", "case:3"), (MANAGER, "case:dismiss", "case:4")]
