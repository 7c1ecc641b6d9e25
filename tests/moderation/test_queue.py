"""Cases end to end on the engine: what moderators see, what each button does, what is audited."""

from __future__ import annotations

from datetime import timedelta

from bot.commands import commands_for
from bot.core.events import ButtonClicked, CommandInvoked, MemberJoined, MessageReported
from bot.core.roles import CLICK_ANSWER, NOT_A_MANAGER
from bot.messaging.markdown import to_plain
from bot.moderation.queue import service
from tests.conftest import T0
from tests.moderation.conftest import MOD, MODS, digests, message, mod_posts, plain, seconds


async def _flood(app, platform="slack", author="U9"):
    for k in range(9):
        app.clock.advance_to(seconds(k))
        await app.engine.dispatch(message("BUY NOW at my shop", author=author, platform=platform, at=seconds(k)))


async def _click(app, action, case_id, platform="slack", who=None, at=None):
    when = at or app.clock.now() + timedelta(minutes=1)
    app.clock.advance_to(when)
    return await app.engine.dispatch(ButtonClicked(platform, when, member_id=who or MOD[platform], action=action,
                                                   value=str(case_id), channel_id=MODS[platform]))


async def test_flood_is_one_case_with_one_digest_item(mod_app, db_url):
    app = await mod_app(db_url)
    await _flood(app)
    items = digests(app)
    assert len(items) == 1
    d = items[0]
    assert d.digest.title == "Moderation case #1"
    text = to_plain(d.digest.items[0].text)
    assert text.splitlines()[0] == "Case #1: flooding"
    assert "@U9 in #CGENERAL" in text
    assert "Why: 3 identical messages in 10s" in text
    assert 'Message: "BUY NOW at my shop"' in text
    assert [b.action for b in d.digest.items[0].buttons] == [
        "case_dismiss", "case_warn", "case_delete", "case_remove", "case_ban"]
    # the digest never pings the member it is about
    assert d.mention_ids == ()
    cases = await service(app.engine).cases.all()
    assert len(cases) == 1
    c = cases[0]
    assert (c.member_id, c.rule, c.status, c.hits) == ("U9", "flood", "open", 7)
    assert len(c.message_refs) == 7


async def test_discord_case_offers_timeout_instead_of_remove(mod_app):
    app = await mod_app()
    await _flood(app, "discord", author="800000000000000001")
    (d,) = digests(app, "discord")
    assert [b.label for b in d.digest.items[0].buttons] == [
        "Dismiss", "Warn", "Delete message", "Timeout", "Suggest ban"]


async def test_mass_mention_from_member_but_not_from_a_manager(mod_app):
    app = await mod_app()
    await app.engine.dispatch(message("<!channel> come see my stream", author="U8"))
    await app.engine.dispatch(message("<!here> the release is out", author="UMOD"))
    await app.engine.dispatch(message("@everyone look", author="900000000000000001", platform="discord"))
    (d,) = digests(app)
    assert "Case #1: mass mention" in plain(d)
    assert "Why: used <!channel>" in plain(d)
    (dd,) = digests(app, "discord")
    assert "Why: used @everyone" in plain(dd)


async def test_term_hit_however_spelled_and_no_scunthorpe(mod_app):
    app = await mod_app()
    await app.engine.dispatch(message("We played in Scunthorpe and Penistone, classic assassin plot", author="U1"))
    assert digests(app) == []
    # Cyrillic о and у, a zero-width space and leetspeak
    await app.engine.dispatch(message("just k\u200b1ll \u0443\u043eurs3lf", author="U2", at=seconds(5)))
    (d,) = digests(app)
    assert "Case #1: blocked term" in plain(d)
    assert "Why: term: kill yourself" in plain(d)


async def test_new_member_links_and_invites(mod_app):
    app = await mod_app()
    await app.engine.dispatch(MemberJoined("slack", T0, member_id="UNEW", display_name="New"))
    await app.engine.dispatch(MemberJoined("slack", T0 - timedelta(days=30), member_id="UOLD", display_name="Old"))
    links = "see https://a.example/1 https://b.example/2 https://c.example/3"
    await app.engine.dispatch(message(links, author="UOLD", at=seconds(60)))
    assert digests(app) == []
    await app.engine.dispatch(message(links, author="UNEW", at=seconds(120)))
    await app.engine.dispatch(message("join us at https://discord.gg/abcd", author="UOLD", at=seconds(180)))
    texts = [plain(d) for d in digests(app)]
    assert len(texts) == 2
    assert "links from a brand-new member" in texts[0] and "Why: 3 links from a member who joined 2 min ago" in texts[0]
    assert "invite link to another community" in texts[1] and "discord.gg/abcd" in texts[1]


async def test_hits_of_one_member_merge_and_redelivery_counts_once(mod_app):
    app = await mod_app()
    ev = message("<!channel> hi", author="U3")
    await app.engine.dispatch(ev)
    await app.engine.dispatch(ev)  # the platform delivered it twice
    await app.engine.dispatch(message("kys", author="U3", at=seconds(600)))
    cases = await service(app.engine).cases.all()
    assert len(cases) == 1
    assert (cases[0].rule, cases[0].hits) == ("mass_mention,terms", 2)
    assert len(digests(app)) == 1
    # after the merge window a new incident is a new case
    await app.engine.dispatch(message("kys", author="U3", at=seconds(600 + 31 * 60)))
    assert len(await service(app.engine).cases.all()) == 2


async def test_member_report_makes_one_case_per_message(mod_app, db_url):
    app = await mod_app(db_url)
    gw = app.outbox.gateways["slack"]
    await app.engine.dispatch(MessageReported("slack", T0, reporter_id="UREP", channel_id="CGENERAL",
                                              message_id="1772445000.000100", author_id="UBAD",
                                              text="you people are useless", reason="insulting newcomers"))
    (d,) = digests(app)
    text = plain(d)
    assert "Case #1: reported by a member" in text
    assert "Why: reported: insulting newcomers" in text
    assert "Reported by @UREP." in text
    # the adapter that took the report thanks the reporter; Steward tells the reported member nothing
    assert [m for m in gw.sent if m.kind == "dm"] == []
    # a second report of the same message adds to the same case
    await app.engine.dispatch(MessageReported("slack", seconds(30), reporter_id="UREP2", channel_id="CGENERAL",
                                              message_id="1772445000.000100", author_id="UBAD", text="x",
                                              reason="rude"))
    (case,) = await service(app.engine).cases.all()
    assert case.hits == 2 and case.reporter_id == "UREP"
    assert len(digests(app)) == 1
    # the warning the reported member gets never says who reported
    await _click(app, "case_warn", case.id)
    warn = [m for m in gw.sent if m.kind == "dm" and m.member_id == "UBAD"]
    assert len(warn) == 1
    assert "UREP" not in warn[0].text and "insulting" not in warn[0].text
    assert "asks you to keep to the community guidelines" in to_plain(warn[0].text)


async def test_each_button_does_what_it_says_and_is_audited(mod_app, db_url):
    app = await mod_app(db_url)
    gw = app.outbox.gateways["slack"]
    svc = service(app.engine)
    for i, who in enumerate(("UA", "UB", "UC", "UD", "UE")):
        await app.engine.dispatch(message("kys", author=who, at=seconds(i)))
    ids = {c.member_id: c.id for c in await svc.cases.all()}
    await _click(app, "case_dismiss", ids["UA"])
    await _click(app, "case_warn", ids["UB"])
    await _click(app, "case_delete", ids["UC"])
    await _click(app, "case_remove", ids["UD"])
    await _click(app, "case_ban", ids["UE"])
    status = {c.member_id: (c.status, c.decided_by) for c in await svc.cases.all()}
    assert status == {"UA": ("dismissed", "UMOD"), "UB": ("warned", "UMOD"), "UC": ("deleted", "UMOD"),
                      "UD": ("removed", "UMOD"), "UE": ("ban_suggested", "UMOD")}
    c = (await svc.cases.get(ids["UC"])).messages()[0]
    assert gw.calls == [("delete_message", *c), ("remove_from_channel", "CGENERAL", "UD")]
    assert [m.member_id for m in gw.sent if m.kind == "dm"] == ["UB"]
    confirmations = [plain(m) for m in mod_posts(app) if m.digest is None]
    assert confirmations == [
        f"Case #{ids['UA']} (blocked term, @UA): dismissed as a false positive, by @UMOD.",
        f"Case #{ids['UB']} (blocked term, @UB): warned by DM, by @UMOD.",
        f"Case #{ids['UC']} (blocked term, @UC): message deleted, by @UMOD.",
        f"Case #{ids['UD']} (blocked term, @UD): removed from the channel, by @UMOD.",
        f"Case #{ids['UE']} (blocked term, @UE): ban suggested to the admins, by @UMOD.",
    ]
    audit = [(a["actor"], a["action"], a["target"], a["at"]) for a in reversed(await app.store.audit_log())
             if a["action"].startswith("case:")]
    assert [a[:3] for a in audit] == [("UMOD", "case:dismiss", f"case:{ids['UA']}"),
                                      ("UMOD", "case:warn", f"case:{ids['UB']}"),
                                      ("UMOD", "case:delete", f"case:{ids['UC']}"),
                                      ("UMOD", "case:remove", f"case:{ids['UD']}"),
                                      ("UMOD", "case:ban", f"case:{ids['UE']}")]
    assert [a[3] for a in audit] == [T0 + timedelta(minutes=k) for k in range(1, 6)]


async def test_discord_timeout(mod_app):
    app = await mod_app()
    await _flood(app, "discord", author="800000000000000001")
    await _click(app, "case_timeout", 1, platform="discord")
    assert app.outbox.gateways["discord"].calls == [("timeout_member", "800000000000000001", 3600)]
    assert (await service(app.engine).cases.get(1)).status == "timed_out"


async def test_only_moderators_decide_and_double_clicks_do_nothing_twice(mod_app):
    app = await mod_app()
    gw = app.outbox.gateways["slack"]
    await app.engine.dispatch(message("kys", author="U4"))
    facts = await _click(app, "case_warn", 1, who="U4")
    case = await service(app.engine).cases.get(1)
    assert case.status == "open"
    # the clicker is told why, privately, in the click's own answer (the adapter shows it)
    assert facts[CLICK_ANSWER] == NOT_A_MANAGER
    log = await app.store.audit_log()
    assert (log[0]["actor"], log[0]["action"]) == ("U4", "case:refused")
    await _click(app, "case_warn", 1)
    await _click(app, "case_warn", 1)
    assert len([m for m in gw.sent if m.kind == "dm" and m.member_id == "U4"]) == 1
    assert [a["action"] for a in await app.store.audit_log()].count("case:warn") == 1


async def test_staff_role_member_may_decide(mod_app):
    from bot.core.records import Member

    app = await mod_app()
    await app.store.upsert_member(Member("slack", "USTAFF", "Staffer", is_staff=True))
    await app.engine.dispatch(message("kys", author="U4"))
    await _click(app, "case_dismiss", 1, who="USTAFF")
    assert (await service(app.engine).cases.get(1)).status == "dismissed"


async def test_escalation_suggests_a_timeout_after_three_warnings(mod_app):
    app = await mod_app()
    for k in range(3):
        at = T0 + timedelta(days=k)
        app.clock.advance_to(at)
        await app.engine.dispatch(message("kys", author="U6", at=at))
        await _click(app, "case_warn", k + 1)
    app.clock.advance_to(T0 + timedelta(days=5))
    await app.engine.dispatch(message("kys", author="U6", at=T0 + timedelta(days=5)))
    last = plain(digests(app)[-1])
    assert "Suggestion: 3 warnings in 30 days: consider a timeout." in last
    assert "Earlier cases: #3 terms (warned), #2 terms (warned), #1 terms (warned)." in last


async def test_auto_delete_where_the_admin_enabled_it(mod_app, tmp_path):
    pb = tmp_path / "playbooks"
    pb.mkdir()
    from tests.conftest import ROOT

    text = (ROOT / "playbooks" / "moderation.yaml").read_text()
    (pb / "moderation.yaml").write_text(text.replace("auto_delete: false", "auto_delete: true"))
    app = await mod_app(playbooks_dir=pb)
    gw = app.outbox.gateways["slack"]
    ev = message("free stuff https://discord.gg/spam", author="U5")
    await app.engine.dispatch(ev)
    assert gw.calls == [("delete_message", ev.channel_id, ev.message_id)]
    case = await service(app.engine).cases.get(1)
    assert case.auto_action == "deleted the message"
    assert "Done automatically: deleted the message." in plain(digests(app)[0])
    log = await app.store.audit_log()
    assert (log[0]["actor"], log[0]["action"], log[0]["target"]) == ("steward", "case:auto_delete", "case:1")


async def test_flags_lists_open_cases_and_false_positives(mod_app):
    app = await mod_app()
    cmds = commands_for(app)
    await app.engine.dispatch(message("kys", author="U1"))
    await app.engine.dispatch(message("<!channel> hi", author="U2", at=seconds(1)))
    await _click(app, "case_dismiss", 1)
    reply = await cmds.handle(CommandInvoked("slack", app.clock.now(), member_id="UMOD", command="flags"))
    lines = to_plain(reply.text).splitlines()
    assert lines[0] == "Open moderation cases (1)"
    assert lines[1].startswith("- #2 mass mention: @U2 in #CGENERAL, 1 min ago: used <!channel>")
    assert lines[-1] == "Dismissed as false positives in the last 30 days: terms 1"
    refused = await cmds.handle(CommandInvoked("slack", app.clock.now(), member_id="U1", command="flags"))
    assert "for community managers" in refused.text


async def test_report_command_by_link(mod_app):
    app = await mod_app()
    cmds = commands_for(app)
    ev = message("you are all idiots", author="UBAD", message_id="1772445999.000200")
    await app.engine.dispatch(ev)
    link = "https://test.slack.com/archives/CGENERAL/p1772445999000200"

    async def report(*args):
        return await cmds.handle(CommandInvoked("slack", seconds(60), member_id="UREP", command="report",
                                                args=tuple(args)))

    assert "add a reason" in (await report(link)).text
    assert "can't read" in (await report("not-a-link", "spam")).text
    assert "can't find that message" in (await report("https://x.slack.com/archives/C1/p1000000000000001",
                                                      "rude")).text
    r = await report(link, "rude", "to", "newcomers")
    assert to_plain(r.text).startswith("Thank you for reporting this, UREP.") and r.ephemeral
    (d,) = digests(app)
    assert "Why: reported: rude to newcomers" in plain(d)
    assert 'Message: "you are all idiots"' in plain(d)


async def test_open_case_keeps_a_member_out_of_outreach(mod_app):
    from bot.engine.context import RunContext, Subject
    from bot.engine.registry import conditions

    app = await mod_app()
    await app.engine.dispatch(message("kys", author="U1"))
    pb = app.engine.playbooks["moderation"]
    no_open_case = conditions.get("no_open_case").fn

    def ctx(member):
        return RunContext(app.engine, pb, None, Subject("slack", member, member_id=member), {}, T0)

    assert await no_open_case(ctx("U1"), None) is False
    assert await no_open_case(ctx("U2"), None) is True
    await _click(app, "case_dismiss", 1)
    assert await no_open_case(ctx("U1"), None) is True


async def test_no_moderators_channel_still_records_the_case(make_app):
    app = await make_app()
    app.settings.channels.pop("moderators")
    await app.engine.dispatch(message("kys", author="U1"))
    assert len(await service(app.engine).cases.all()) == 1
    assert app.outbox.gateways["slack"].sent == []
