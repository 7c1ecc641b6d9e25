"""A server that had members before Steward came: its member list is loaded after connecting,
page by page over REST, paced, resumable; those members are known (never welcomed) and the lurker
scan sees them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import func, select

from bot.community.lurkers import lurker_findings
from bot.storage.models import MemberRow
from tests.fakes.discord_fixtures import MANAGER_ROLE, WELCOME
from tests.fakes.discord_server import BOT_ID, GUILD_ID

M = MemberRow.__table__
LIST = r"/guilds/\d+/members"
ROSA = "200000000000000041"
OLLIE = "200000000000000042"
HELPER_BOT = "200000000000000043"
LONG_AGO = datetime(2025, 1, 15, tzinfo=UTC)


async def _listed(app, count: int, timeout: float = 30.0) -> dict[str, dict]:
    """The member rows once there are ``count`` of them (or whatever is there after ``timeout``)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(rows := await _rows(app)) < count and loop.time() < deadline:
        await asyncio.sleep(0.05)
    return rows


async def _rows(app) -> dict[str, dict]:
    async with app.store.database.connect() as conn:
        rows = (await conn.execute(select(M).where(M.c.platform == "discord"))).mappings().all()
    return {r["member_id"]: dict(r) for r in rows}


async def test_members_who_were_there_before_steward_are_known_and_not_welcomed(discord_bot, fake_discord, db_url):
    ids = fake_discord.add_members(GUILD_ID, 3500, joined_at=LONG_AGO)
    fake_discord.add_member(GUILD_ID, OLLIE, "Oliver", roles=[MANAGER_ROLE], announce=False)
    fake_discord.member_payload(GUILD_ID, OLLIE)["nick"] = "Ollie"
    fake_discord.add_member(GUILD_ID, HELPER_BOT, "Helper", bot=True, announce=False)
    app, adapter = await discord_bot(db_url=db_url)

    rows = await _listed(app, 3500 + 4)
    assert {str(i) for i in ids} <= set(rows)
    assert len(rows) == 3500 + 4  # and the owner, the bot and the two above
    assert rows[OLLIE]["display_name"] == "Ollie"  # the name members see in this server
    assert rows[OLLIE]["roles"] == [MANAGER_ROLE]  # so the roles module knows a manager
    assert rows[HELPER_BOT]["is_bot"] and not rows[OLLIE]["is_bot"]
    one = rows[str(ids[41])]
    assert one["display_name"] == "Member 42"
    assert one["joined_at"].replace(tzinfo=UTC) == LONG_AGO and one["first_joined_at"] is not None
    assert one["join_count"] == 0 and not one["is_bot"]
    assert rows[BOT_ID]["is_bot"]
    # the lurker scan sees the silent members who were there before
    assert {f["member"] for f in await lurker_findings(app, "discord")} == {str(i) for i in ids}
    # read in pages of 1,000 in user-ID order, each after the last ID of the one before
    pages = fake_discord.calls_to("GET", LIST)
    assert [c.query.get("limit") for c in pages] == ["1000"] * 4 and pages[0].query.get("after") is None
    # (Ollie and the helper bot have the lowest IDs: the first page is they and 998 of the rest)
    assert [c.query.get("after") for c in pages][1:] == [str(ids[997]), str(ids[1997]), str(ids[2997])]
    # nobody who was already there is welcomed, in the channel or by DM
    await adapter.idle()
    assert fake_discord.sent(WELCOME) == []
    assert fake_discord.dm_channels == {}
    # a member who joins now is a newcomer
    await fake_discord.member_join(ROSA, "Rosa")
    greet = await fake_discord.wait_message(WELCOME)
    assert fake_discord.seen(greet) == "Welcome, @Rosa! Glad you're here."


async def test_a_restart_mid_list_continues_where_it_stopped(discord_bot, fake_discord, db_url):
    ids = fake_discord.add_members(GUILD_ID, 5200, joined_at=LONG_AGO)
    fake_discord.hold_member_list(after_pages=2)
    app, adapter = await discord_bot(db_url=db_url)
    await fake_discord.wait_until(lambda: len(fake_discord.calls_to("GET", LIST)) == 3, 30, "a third page asked")
    # the first two pages are stored, the third is in flight when Steward stops
    await fake_discord.wait_until(lambda: fake_discord.member_list_pages == 2, 10, "two pages answered")
    await adapter.stop()
    async with app.store.database.connect() as conn:
        stored = (await conn.execute(select(func.count()).select_from(M))).scalar_one()
    assert stored == 2000
    before = len(fake_discord.calls)
    fake_discord.release_member_list()

    app2, adapter2 = await discord_bot(db_url=db_url)
    await adapter2.member_lists.wait(int(GUILD_ID), timeout=30)
    again = [c for c in fake_discord.calls[before:] if c.method == "GET" and c.path.startswith("/guilds/")
             and c.path.endswith("/members")]
    # the second run starts after the last member the first one stored, not from the beginning
    assert [c.query.get("after") for c in again] == [str(ids[1999]), str(ids[2999]), str(ids[3999]),
                                                     str(ids[4999])]
    rows = await _rows(app2)
    assert {str(i) for i in ids} <= set(rows) and len(rows) == 5200 + 2
    from bot.storage.models import MemberListRow

    async with app2.store.database.connect() as conn:
        done = (await conn.execute(select(MemberListRow.__table__))).mappings().one()
    assert done["completed_at"] is not None and done["cursor"] is None


async def test_the_member_list_keeps_to_the_routes_rate_limit(discord_bot, fake_discord):
    ids = fake_discord.add_members(GUILD_ID, 4100, joined_at=LONG_AGO)
    fake_discord.member_list_limit = (2, 1.0)  # two requests a second, as the fake's headers announce
    app, adapter = await discord_bot()
    assert len(await _listed(app, 4100 + 2)) == 4100 + 2
    pages = fake_discord.calls_to("GET", LIST)
    assert len(pages) == 5
    assert [c.status for c in pages] == [200] * 5, "the bucket announced in the headers was not kept"
    assert str(ids[-1]) in await _rows(app)


async def test_a_429_on_the_member_list_is_waited_out(discord_bot, fake_discord):
    ids = fake_discord.add_members(GUILD_ID, 2500, joined_at=LONG_AGO)
    fake_discord.rate_limit(LIST, method="GET", retry_after=0.5, times=2)
    app, adapter = await discord_bot()
    assert {str(i) for i in ids} <= set(await _listed(app, 2500 + 2))
    pages = fake_discord.calls_to("GET", LIST)
    assert [c.status for c in pages] == [429, 429, 200, 200, 200]
    # each repeat came after the retry_after the 429 asked for
    assert pages[1].at - pages[0].at >= 0.5 and pages[2].at - pages[1].at >= 0.5
    assert [c.query.get("after") for c in pages][:3] == [None, None, None]


async def test_a_member_who_joins_while_the_list_loads_is_still_welcomed(discord_bot, fake_discord):
    fake_discord.add_members(GUILD_ID, 2500, joined_at=LONG_AGO)
    fake_discord.hold_member_list(after_pages=1)
    app, adapter = await discord_bot()
    await fake_discord.wait_until(lambda: fake_discord.member_list_pages == 1, 10, "one page answered")
    # Rosa joins mid-list; her ID sorts into a page not yet read
    await fake_discord.member_join("500000000000009000", "Rosa")
    fake_discord.release_member_list()
    await adapter.member_lists.wait(int(GUILD_ID), timeout=30)
    greet = await fake_discord.wait_message(WELCOME)
    assert fake_discord.seen(greet) == "Welcome, @Rosa! Glad you're here."


async def test_a_member_stored_without_a_join_date_gets_it_from_the_list(discord_bot, fake_discord, make_app, db_url):
    from bot.core.records import Member

    ids = fake_discord.add_members(GUILD_ID, 1200, joined_at=LONG_AGO)
    quiet = str(ids[1100])
    # an earlier run met this member without learning when they joined (no join event was seen)
    before = await make_app(db_url=db_url)
    await before.store.upsert_member(Member("discord", quiet, ""))
    # and this one asked to be forgotten: the list must not bring their name back
    from bot.storage.personal_data import forget

    gone = str(ids[1101])
    await before.store.upsert_member(Member("discord", gone, "Gone Member"))
    await forget(before.store, "discord", gone)
    app, adapter = await discord_bot(db_url=db_url)
    await _listed(app, 1200 + 2)
    await adapter.member_lists.wait(int(GUILD_ID), timeout=30)
    rows = await _rows(app)
    assert rows[quiet]["joined_at"].replace(tzinfo=UTC) == LONG_AGO
    assert rows[quiet]["display_name"] == "Member 1101"
    assert rows[quiet]["first_joined_at"] is not None and rows[quiet]["join_count"] == 0
    assert rows[gone]["forgotten"] and rows[gone]["display_name"] is None
    # so the lurker scan sees them with everyone else who was there before
    assert quiet in {f["member"] for f in await lurker_findings(app, "discord")}
    # and a second pass over the list changes nothing
    async with app.store.database.connect() as conn:
        first = (await conn.execute(select(M).order_by(M.c.member_id))).all()
    adapter.member_lists.completed.clear()
    adapter.member_lists.start(int(GUILD_ID))
    await adapter.member_lists.wait(int(GUILD_ID), timeout=30)
    async with app.store.database.connect() as conn:
        assert (await conn.execute(select(M).order_by(M.c.member_id))).all() == first
