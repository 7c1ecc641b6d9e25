"""One person on Slack and Discord, through both fakes: the member links their accounts with a
code, gets one welcome DM (not one per account), and the outreach caps count the person."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from tests.conftest import T0
from tests.fakes.discord_fixtures import GENERAL, GUILD_ID, HELP, TOKEN_ENV, start_adapter
from tests.fakes.slack_requests import event_callback, message, team_join
from tests.slack.test_commands import run_command

ROSA_D = "200000000000000001"
MGR_D = "200000000000000009"
ASKER_D = "200000000000000008"


async def test_one_welcome_per_person_and_shared_caps(start_bot, fake, fake_discord, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, fake_discord.token)
    fake.add_user("UASK", "Ada Asker")
    fake_discord.add_member(GUILD_ID, MGR_D, "Mia")
    fake_discord.add_member(GUILD_ID, ASKER_D, "Ada")
    discord = {"enabled": True, "token_env": TOKEN_ENV, "guild_ids": [GUILD_ID],
               "api_base_url": fake_discord.api_base, "gateway_url": fake_discord.gateway_url}
    bot = await start_bot("socket", discord=discord,
                          managers={"slack_user_ids": ["UMGR"], "discord_user_ids": [MGR_D]})
    app = bot.app
    adapter = await start_adapter(app, fake_discord)
    try:
        # Rosa joins the Slack workspace, then the Discord server: greeted in each welcome channel
        await fake.send_envelope("events_api", event_callback(team_join("U100", "Rosa Jansen")))
        await bot.settle()
        await fake_discord.member_join(ROSA_D, "Rosa Jansen")
        await fake_discord.wait_message("100000000000000001")
        await adapter.idle()

        # she links her accounts: a code on Slack, entered on Discord
        answer = await run_command(bot, "socket", "link", "U100", "link-1")
        code = re.search(r"/steward link ([A-Z0-9]{8})", answer).group(1)
        fi = await fake_discord.invoke(["steward", "link"], {"code": code}, user_id=ROSA_D, channel_id=GENERAL)
        await fake_discord.answer(fi)
        assert fake_discord.seen(fi.text()).startswith("Linked: your Discord and Slack accounts are one person")
        assert await app.store.people.accounts("discord", ROSA_D) == (("discord", ROSA_D), ("slack", "U100"))
        assert [a["action"] for a in await app.store.audit_log()][:1] == ["link"]

        # ten minutes later: one welcome DM for the person (the first queued), none on Discord
        app.clock.advance_to(T0 + timedelta(minutes=10))
        await app.delivery.drain()
        assert len(fake.dms_to("U100")) == 1
        assert fake_discord.dms_to(ROSA_D) == []
        skipped = [i for i in await app.store.outbox(status="skipped") if i.message.platform == "discord"]
        assert [i.error for i in skipped] == ["welcome: once per person, and their linked account had it"]

        # caps count the person: nudged on Slack, not again on Discord
        n = len(bot.dispatched)
        await fake.send_envelope("events_api", event_callback(message("CHELP", "UASK",
                                                                      "How do I set up the proxy for the installer?")))
        await fake_discord.post_message(HELP, ASKER_D, "Does anyone know how to configure the proxy?")
        await bot.settle(n + 2)
        await adapter.idle()
        app.clock.advance_to(datetime.now(UTC) + timedelta(seconds=5))  # the fakes stamp messages with real time
        answer = await run_command(bot, "socket", "nudge <@U100|rosa>", "UMGR", "nudge-1")
        # sent, or waiting for the morning in her time zone
        assert answer.startswith(("Nudged", "Queued; it waits: quiet hours")), answer
        fi = await fake_discord.invoke(["steward", "nudge"], {"member": {"type": 6, "value": ROSA_D}},
                                       user_id=MGR_D, channel_id=GENERAL,
                                       resolved=fake_discord.resolved_user(ROSA_D))
        await fake_discord.answer(fi)
        assert fake_discord.seen(fi.text()) == ("No nudge: already nudged in the last 30 days (on a linked "
                                                "account).")

        # unlinking: audited, and the accounts are apart again
        fi = await fake_discord.invoke(["steward", "unlink"], None, user_id=ROSA_D, channel_id=GENERAL)
        await fake_discord.answer(fi)
        assert fake_discord.seen(fi.text()) == "Unlinked: Steward treats this account on its own again."
        assert await app.store.people.accounts("slack", "U100") == (("slack", "U100"),)
        assert [a["action"] for a in await app.store.audit_log()][:1] == ["unlink"]
    finally:
        await adapter.stop()
