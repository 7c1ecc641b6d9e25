"""People, not accounts, on the engine (SQLite and PostgreSQL): a CRM row naming both accounts
links them; an opt-out on one holds on the other; a Discord account keeps quiet hours in the
person's Slack time zone; a second platform's join is not a newcomer's."""

from __future__ import annotations

from datetime import timedelta

from bot.core.events import CommandInvoked, MemberJoined
from bot.core.records import OutboundMessage
from bot.crm.importer import import_file
from tests.conftest import T0

DISCORD_ID = "200000000000000001"


async def _dm(app, platform, member_id, key, *, automated=True):
    msg = OutboundMessage(platform=platform, kind="dm", text="hello", member_id=member_id, dedupe_key=key)
    return await app.outbox.submit(msg, playbook_id="test", action="send_dm", reason="test", automated=automated)


async def test_a_person_across_platforms(make_app, db_url, tmp_path):
    app = await make_app(db_url, playbooks_dir=tmp_path / "none", outreach={"quiet_hours": "21:00-09:00"})
    await app.engine.dispatch(MemberJoined("slack", T0, member_id="U100", display_name="Rosa",
                                           timezone="Pacific/Auckland"))
    await app.engine.dispatch(MemberJoined("discord", T0, member_id=DISCORD_ID, display_name="Rosa"))
    f = tmp_path / "crm.csv"
    f.write_text(f"slack_id,discord_id,membership\nU100,{DISCORD_ID},student\n")
    report = await import_file(app.store, f, now=T0)
    assert report.lines()[0] == f"{f}:2: matched slack:U100, discord:{DISCORD_ID}"
    assert await app.store.people.accounts("discord", DISCORD_ID) == (("discord", DISCORD_ID), ("slack", "U100"))
    assert await app.store.member_attributes("discord", DISCORD_ID) == {"membership": "student"}

    # 10:00 UTC is 23:00 in Auckland: the Discord account (no time zone of its own) waits for her morning
    item = await _dm(app, "discord", DISCORD_ID, "k1")
    assert item.status == "pending" and item.error == "quiet hours in the member's time zone"
    assert item.not_before == T0 + timedelta(hours=10)  # 09:00 in Auckland

    # she opts out on Slack: nothing reaches her on Discord either
    await app.services.commands.handle(CommandInvoked("slack", T0, member_id="U100", command="optout"))
    item = await _dm(app, "discord", DISCORD_ID, "k2", automated=False)
    assert item.status == "skipped" and item.error == "member opted out (on their linked account)"


async def test_a_second_platform_is_not_a_newcomer(make_app, tmp_path):
    app = await make_app(features={"webhooks": {"endpoints": {}}})
    await app.engine.dispatch(MemberJoined("slack", T0, member_id="U100", display_name="Rosa"))
    await app.store.people.link(("slack", "U100"), ("discord", DISCORD_ID), now=T0, by="test")
    facts = await app.engine.dispatch(MemberJoined("discord", T0 + timedelta(days=1), member_id=DISCORD_ID,
                                                   display_name="Rosa"))
    assert facts["first_join"] is False and facts["person_known"] == "slack:U100"
    sent = app.outbox.gateways["discord"].sent
    app.clock.advance_to(T0 + timedelta(days=1, minutes=15))
    await app.delivery.drain()
    assert sent == []  # no welcome: the person was welcomed on Slack


async def test_health_counts_people(make_app, db_url, tmp_path):
    from bot.community.health import compute_health
    from bot.core.events import MessagePosted

    app = await make_app(db_url, playbooks_dir=tmp_path / "none")
    for platform, mid in (("slack", "U100"), ("discord", DISCORD_ID), ("slack", "U200")):
        await app.engine.dispatch(MemberJoined(platform, T0, member_id=mid, display_name=mid))
    await app.engine.dispatch(MessagePosted("slack", T0 + timedelta(minutes=1), channel_id="CGENERAL",
                                            message_id="1.1", author_id="U100", text="Hello all, meetup on Friday"))
    before = await compute_health(app.store)
    assert (before["members"], before["participation"]["readers"]) == (3, 2)
    await app.store.people.link(("slack", "U100"), ("discord", DISCORD_ID), now=T0, by="test")
    after = await compute_health(app.store)
    assert after["members"] == 2 and after["active_members"] == 1
    assert (after["participation"]["creators"], after["participation"]["readers"]) == (1, 1)
    slack_only = await compute_health(app.store, platform="slack")
    assert slack_only["members"] == 2  # within one platform, accounts are people


async def test_a_row_naming_an_account_not_known_yet_says_to_import_again(make_app, db_url, tmp_path):
    app = await make_app(db_url, playbooks_dir=tmp_path / "none")
    await app.engine.dispatch(MemberJoined("slack", T0, member_id="U100", display_name="Rosa"))
    f = tmp_path / "crm.csv"
    f.write_text(f"slack_id,discord_id,membership\nU100,{DISCORD_ID},student\nU300,,regular\n")
    lines = (await import_file(app.store, f, now=T0)).lines()
    assert lines == [
        f"{f}:2: matched slack:U100: no member with discord_id {DISCORD_ID} yet; run the import again after "
        "they join to link the two accounts",
        f"{f}:3: unmatched: no member with slack_id U300 yet; run the import again after they join",
        f"{f}: 1 matched, 1 unmatched, 0 ambiguous; attributes written for 1 member account(s)"], lines
    await app.engine.dispatch(MemberJoined("discord", T0, member_id=DISCORD_ID, display_name="Rosa"))
    lines = (await import_file(app.store, f, now=T0)).lines()
    assert lines[0] == f"{f}:2: matched slack:U100, discord:{DISCORD_ID}", lines
    assert await app.store.member_attributes("discord", DISCORD_ID) == {"membership": "student"}
    assert set(await app.store.people.accounts("slack", "U100")) == {("discord", DISCORD_ID), ("slack", "U100")}


async def test_weekly_figures_and_cohorts_count_people(make_app, db_url, tmp_path):
    """Two linked accounts that write in the same week are one active member that week; the person
    is new once (the week of their first join) and counts once in their first join's cohort."""
    from bot.community.health import compute_health
    from bot.core.events import MessagePosted

    app = await make_app(db_url, playbooks_dir=tmp_path / "none")
    joins = (("slack", "U100", T0), ("slack", "U200", T0), ("discord", DISCORD_ID, T0 + timedelta(days=10)))
    for platform, mid, at in joins:
        await app.engine.dispatch(MemberJoined(platform, at, member_id=mid, display_name=mid))
    for i, (platform, mid, day) in enumerate((("slack", "U100", 35), ("discord", DISCORD_ID, 36))):
        await app.engine.dispatch(MessagePosted(platform, T0 + timedelta(days=day), channel_id="C1",
                                                message_id=f"{i}.1", author_id=mid, text="Anyone at the meetup?"))
    end = T0 + timedelta(days=100)
    before = await compute_health(app.store, end=end)
    assert before["weekly"] == [
        {"week": "2026-03-02", "messages": 0, "active_members": 0, "new_members": 2},
        {"week": "2026-03-09", "messages": 0, "active_members": 0, "new_members": 1},
        {"week": "2026-04-06", "messages": 2, "active_members": 2, "new_members": 0}]
    assert before["retention"] == [{"cohort": "2026-03", "joined": 3, "eligible_30d": 3, "retained_30d": 1,
                                    "rate_30d": 0.333, "eligible_90d": 3, "retained_90d": 0, "rate_90d": 0.0}]

    await app.store.people.link(("slack", "U100"), ("discord", DISCORD_ID), now=T0, by="test")
    after = await compute_health(app.store, end=end)
    assert after["weekly"] == [
        {"week": "2026-03-02", "messages": 0, "active_members": 0, "new_members": 2},
        {"week": "2026-04-06", "messages": 2, "active_members": 1, "new_members": 0}]
    assert after["retention"] == [{"cohort": "2026-03", "joined": 2, "eligible_30d": 2, "retained_30d": 1,
                                   "rate_30d": 0.5, "eligible_90d": 2, "retained_90d": 0, "rate_90d": 0.0}]
    assert after["members"] == 2 and after["active_members"] == 1
    # a window from the Discord account's join: the person joined before it, so nobody is new in it
    late = await compute_health(app.store, start=T0 + timedelta(days=7), end=end)
    assert [w["new_members"] for w in late["weekly"]] == [0] and late["retention"] == []
    # one platform alone: accounts are people, as before
    slack = await compute_health(app.store, platform="slack", end=end)
    assert slack["weekly"][-1]["active_members"] == 1 and slack["retention"][0]["joined"] == 2


async def test_ambassador_evidence_counts_the_person(make_app, db_url, tmp_path):
    from bot.community.ambassadors import ambassador_settings, rank_candidates
    from bot.storage.models import HelpRow

    app = await make_app(db_url, playbooks_dir=tmp_path / "none")
    for platform, mid in (("slack", "UHELP"), ("discord", DISCORD_ID), ("slack", "UA"), ("discord", "300"),
                          ("discord", "301")):
        await app.engine.dispatch(MemberJoined(platform, T0 - timedelta(days=200), member_id=mid, display_name=mid))
    rows = [("slack", "UHELP", "UA"), ("discord", DISCORD_ID, "300"), ("discord", DISCORD_ID, "301")]
    async with app.store.database.begin() as conn:
        for i, (platform, helper, asker) in enumerate(rows):
            await conn.execute(HelpRow.__table__.insert().values(
                platform=platform, helper_id=helper, member_id=asker, channel_id="CHELP", question_id=f"q{i}",
                at=T0 - timedelta(days=1), evidence="answered"))
    cfg = ambassador_settings(app.settings)
    [alone] = await rank_candidates(app.store, "slack", now=T0, cfg=cfg)
    assert alone.helped == 1
    await app.store.people.link(("slack", "UHELP"), ("discord", DISCORD_ID), now=T0, by="test")
    [person] = await rank_candidates(app.store, "slack", now=T0, cfg=cfg)
    assert (person.member_id, person.helped, person.answers) == ("UHELP", 3, 3)
    assert person.evidence["linked_accounts"] == [f"discord:{DISCORD_ID}"] and person.score > alone.score
