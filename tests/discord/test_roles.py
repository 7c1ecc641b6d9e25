"""Who may click on Discord: the moderators channel is no proof of role; the clicker's roles and
Manage Server come with the click and bot/core/roles.py decides."""

from __future__ import annotations

from sqlalchemy import select

from bot.community.ambassadors import AMB
from bot.core.records import Button, Digest, DigestItem, OutboundMessage
from tests.fakes.discord_fixtures import AMBASSADOR_ROLE, MANAGER_ROLE, MODERATORS
from tests.fakes.discord_server import GUILD_ID, PERM_MANAGE_GUILD, PERM_MEMBER

ROSA = "200000000000000031"  # the candidate, a manager by role
NOOR = "200000000000000032"  # a member who can read the moderators channel
MIA = "200000000000000033"  # a manager by role
OWEN = "200000000000000034"  # Manage Server, no manager role


async def _digest(app, fake, key: str):
    item = DigestItem(f"<@{ROSA}> answered 14 questions",
                      (Button("approve", "Approve", f"discord|{ROSA}", "primary"),
                       Button("not_now", "Not now", f"discord|{ROSA}")))
    msg = OutboundMessage(platform="discord", kind="channel", text="", channel_id=MODERATORS, dedupe_key=key,
                          digest=Digest("Ambassador candidates", (item,)))
    await app.outbox.submit(msg, playbook_id="ambassadors", action="post_digest", reason="test")
    return fake.sent(MODERATORS)[-1]


async def _decisions(app) -> list[tuple]:
    async with app.store.database.connect() as conn:
        rows = (await conn.execute(select(AMB.c.member_id, AMB.c.decision, AMB.c.decided_by))).all()
    return [tuple(r) for r in rows if r.decision]


def _role_grants(fake) -> list:
    return fake.calls_to("PUT", rf"/guilds/{GUILD_ID}/members/\d+/roles/{AMBASSADOR_ROLE}")


async def _click(fake, adapter, msg, custom_id: str, user: str, permissions: int = PERM_MEMBER) -> str:
    fi = await fake.click(msg, custom_id, user_id=user, permissions=permissions)
    await fake.answer(fi)
    await adapter.idle()
    assert fi.ephemeral
    return fake.seen(fi.text())


async def test_only_managers_approve_ambassadors_and_never_themselves(discord_bot, fake_discord):
    app, adapter = await discord_bot()
    fake_discord.add_member(GUILD_ID, ROSA, "Rosa", roles=[MANAGER_ROLE])
    fake_discord.add_member(GUILD_ID, NOOR, "Noor")
    fake_discord.add_member(GUILD_ID, MIA, "Mia", roles=[MANAGER_ROLE])
    msg = await _digest(app, fake_discord, "digest:1")
    approve = f"steward:approve:discord|{ROSA}"

    said = await _click(fake_discord, adapter, msg, approve, NOOR)
    assert said == "Sorry, only community managers can use these buttons. Nothing was changed."
    said = await _click(fake_discord, adapter, msg, approve, ROSA)
    assert said.startswith("You can't decide this one: it is about you.")
    await app.delivery.drain()
    assert await _decisions(app) == []
    assert _role_grants(fake_discord) == [] and fake_discord.dms_to(ROSA) == []
    assert len(fake_discord.sent(MODERATORS)) == 1  # the digest only: no "approved" line

    said = await _click(fake_discord, adapter, msg, approve, MIA)
    assert said == "Done: Approve."
    await app.delivery.drain()
    assert await _decisions(app) == [(ROSA, "approved", MIA)]
    assert len(_role_grants(fake_discord)) == 1 and len(fake_discord.dms_to(ROSA)) == 1


async def test_manage_server_makes_an_admin_who_may_decide(discord_bot, fake_discord):
    app, adapter = await discord_bot()
    fake_discord.add_member(GUILD_ID, ROSA, "Rosa")
    fake_discord.add_member(GUILD_ID, OWEN, "Owen")
    msg = await _digest(app, fake_discord, "digest:2")
    said = await _click(fake_discord, adapter, msg, f"steward:not_now:discord|{ROSA}", OWEN,
                        permissions=PERM_MEMBER | PERM_MANAGE_GUILD)
    assert said == "Done: Not now."
    assert await _decisions(app) == [(ROSA, "not_now", OWEN)]
