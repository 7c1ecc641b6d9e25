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
        assert (await sign_in(http, link)).status == 303
        async with http.get(dash.url + "/moderation") as page:
            assert page.status == 200 and "Signed in as Noor" in await page.text()
    finally:
        await dash.stop()
