"""bot/core/roles.py: one answer to "who is a manager / moderator / staff", whoever asks."""

from __future__ import annotations

from bot.commands import commands_for
from bot.core.events import CommandInvoked
from bot.core.records import Member
from tests.conftest import T0

MANAGERS = {"slack_user_ids": ["UMOD"], "slack_usergroup": "S0MGRS", "discord_role_ids": ["700"],
            "discord_user_ids": ["800"]}


async def test_every_source_of_a_role_gives_the_same_answer_everywhere(make_app):
    app = await make_app(managers=MANAGERS)
    roles = app.engine.roles

    async def groups(member_id):
        return ("S0MGRS",) if member_id == "UGROUP" else ()

    roles.group_lookup["slack"] = groups
    await app.store.upsert_member(Member("slack", "UADMIN", "Ada", is_staff=True))  # a workspace admin
    await app.store.upsert_member(Member("discord", "801", "Rin", roles=("700",)))
    cases = [("slack", "UMOD", {}, True), ("slack", "UGROUP", {}, True), ("slack", "UADMIN", {}, True),
             ("slack", "UMEMBER", {}, False), ("discord", "800", {}, True), ("discord", "801", {}, True),
             ("discord", "802", {"roles": ("700",)}, True), ("discord", "803", {"platform_admin": True}, True),
             ("discord", "804", {"roles": ("999",)}, False), ("slack", "", {}, False)]
    for platform, member, kw, expected in cases:
        s = await roles.standing(platform, member, **kw)
        assert (s.manager, s.moderator, s.staff) == (expected,) * 3, (platform, member, kw)
    # the command gate asks the same place: the user-group manager may, the member may not
    cmds = commands_for(app)
    ok = await cmds.handle(CommandInvoked("slack", T0, member_id="UGROUP", command="flags"))
    no = await cmds.handle(CommandInvoked("slack", T0, member_id="UMEMBER", command="flags"))
    assert "for community managers" not in ok.text and "for community managers" in no.text
    # scans read stored records through it too
    assert roles.record_is_staff("discord", await app.store.get_member("discord", "801"))
    assert not roles.record_is_staff("slack", Member("slack", "UMEMBER"))


async def test_a_platform_that_does_not_answer_grants_no_role(make_app):
    app = await make_app(managers=MANAGERS)

    async def down(member_id):
        raise TimeoutError

    app.engine.roles.group_lookup["slack"] = down
    assert not await app.engine.roles.is_manager("slack", "UGROUP")
