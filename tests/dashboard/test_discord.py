"""/steward dashboard on Discord (the fake, through discord.py's command tree): a manager by role gets
a private link and a session that knows their role; a member gets the polite refusal."""

from __future__ import annotations

import re

from bot.dashboard import start
from tests.dashboard.conftest import sign_in
from tests.fakes.discord_fixtures import GENERAL, MANAGER_ROLE, discord_bot, fake_discord  # noqa: F401
from tests.fakes.discord_server import GUILD_ID, PERM_MEMBER

MEMBER, MANAGER = "200000000000000011", "200000000000000012"


async def _dashboard_command(fake, user, roles=None) -> str:
    fi = await fake.invoke(["steward", "dashboard"], None, user_id=user, channel_id=GENERAL, roles=roles,
                           permissions=PERM_MEMBER)
    await fake.answer(fi)
    assert fi.callbacks[:1] == [{"type": 5, "data": {"flags": 64}}]  # deferred, ephemeral
    return fake.seen(fi.text())


async def test_a_discord_manager_signs_in_with_their_role(discord_bot, fake_discord, browser_like):  # noqa: F811
    fake_discord.add_member(GUILD_ID, MEMBER, "Mira")
    fake_discord.add_member(GUILD_ID, MANAGER, "Noor", roles=[MANAGER_ROLE])
    app, _ = await discord_bot(dashboard={"port": 0})
    dash = await start(app)
    try:
        refused = await _dashboard_command(fake_discord, MEMBER)
        assert refused.startswith("Sorry, that command is for community managers") and "/login/" not in refused
        answer = await _dashboard_command(fake_discord, MANAGER, roles=[MANAGER_ROLE])
        link = re.search(r"(http://\S+/login/[\w-]+)", answer).group(1)
        http = browser_like()
        signed = await sign_in(http, link)
        assert signed.status == 303, await signed.text()
        async with http.get(dash.url + "/moderation") as page:
            assert page.status == 200 and "Signed in as Noor" in await page.text()
    finally:
        await dash.stop()


async def test_a_sign_in_link_arrives_whole_however_chat_reads_markup(served):
    """The link is pasted into chat: as the Discord client shows the message (markup markers gone),
    every one of 300 links still reads in full, so none arrives cut (an underscore in the token
    could be taken for emphasis)."""
    from bot.adapters.discord.format import to_discord
    from bot.dashboard.auth import link_for
    from tests.fakes.discord_server import FakeDiscord

    _, dash = await served()
    client = FakeDiscord()
    for _ in range(300):
        link = await link_for(dash, "discord", MANAGER)
        shown = client.seen(to_discord(f"Your dashboard link: {link}"))
        assert re.search(r"(http://\S+/login/[\w-]+)", shown).group(1) == link
