"""What the pages say, read as a manager reads them (over HTTP): outreach with its reasons, playbooks
with their problems as file:line: playbook-id: message, members' pages with export and forget for
admins alone, the audit log filtered."""

from __future__ import annotations

import json
import re
import shutil
from datetime import timedelta

from bot.core.records import Member, OutboundMessage
from tests.conftest import ROOT
from tests.dashboard.conftest import MANAGER, MEMBER, ask_for_link, csrf_of, link_in, sign_in

ADMIN = "UADMIN"


async def signed_in(served, browser_like, who: str = MANAGER, **extra):
    app, dash = await served(**extra)
    await app.store.upsert_member(Member("slack", who, display_name="Mara" if who == MANAGER else "Ada Admin",
                                         is_staff=who == ADMIN))
    http = browser_like()
    resp = await sign_in(http, link_in(await ask_for_link(app, who)))
    assert resp.status == 303
    return app, dash, http


async def page(http, url: str) -> str:
    async with http.get(url) as r:
        assert r.status == 200, (url, r.status)
        return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", await r.text()))


async def test_outreach_says_what_was_sent_what_waits_and_why(served, browser_like):
    app, dash, http = await signed_in(served, browser_like)
    await app.store.upsert_member(Member("slack", MEMBER, display_name="Rosa"))
    now = app.clock.now()
    waiting = OutboundMessage(platform="slack", kind="dm", text="A question you could answer", member_id=MEMBER,
                              dedupe_key="t:1")
    await app.store.enqueue(waiting, playbook_id="lurkers", action="send_nudge", reason="quiet for 30 days",
                                  status="pending", not_before=now, now=now, automated=True)
    [claimed] = await app.store.claim_due(now=now, limit=5, worker="test")  # as the delivery worker does
    await app.store.defer_outbox(claimed.id, not_before=now + timedelta(hours=9), error="quiet hours until 09:00")
    failed = OutboundMessage(platform="slack", kind="dm", text="Welcome!", member_id="UBOT", dedupe_key="t:2")
    fid = await app.store.enqueue(failed, playbook_id="welcome", action="send_dm", reason="newcomer",
                                  status="pending", not_before=now, now=now)
    await app.store.mark_outbox(fid, status="failed", now=now, error="cannot_dm_bot")
    await app.store.set_preferences("slack", "U200", now=now, opted_out=True)
    text = await page(http, dash.url + "/outreach")
    assert "Hourly budget of unsolicited DMs: 30 of 30 left this hour." in text
    assert "Rosa" in text and "lurkers (send_nudge)" in text and "A question you could answer" in text
    assert "quiet hours until 09:00" in text and "cannot_dm_bot" in text
    assert "Opted out (1)" in text and "U200" in text


async def test_outreach_shows_the_introductions(served, browser_like):
    from bot.community.intros_store import IntroStore

    app, dash, http = await signed_in(served, browser_like)
    now = app.clock.now()
    store = IntroStore(app.store)
    for mid, name in (("U1", "Rosa"), ("U2", "Bas"), ("U3", "Cem")):
        await app.store.upsert_member(Member("slack", mid, display_name=name))
        await store.set_status("slack", mid, "on", now=now)
    await store.set_status("slack", "U3", "paused", now=now, paused_until=now + timedelta(days=28))
    await store.record("slack", ("U1", "U2"), topic="plugins", round_at=now, now=now, followup_after=timedelta(0))
    await store.followup_asked(1)
    await store.answer("slack", "U1", "yes", now)
    text = await page(http, dash.url + "/outreach")
    assert ("Introductions 2 members take part (1 paused, 0 left); 1 pairings; acceptance 1 of 1 asked (100%); "
            "met 1 of 1 answered (100%).") in text
    assert "Rosa (yes) &amp; Bas · plugins" in text


async def test_playbooks_show_state_runs_and_problems(served, browser_like, tmp_path):
    pbs = tmp_path / "pbs"
    pbs.mkdir()
    shutil.copy(ROOT / "playbooks" / "lurkers.yaml", pbs)
    (pbs / "broken.yaml").write_text("id: broken\ndescription: x\ntrigger:\n  event: no_such_event\nactions: []\n")
    app, dash, http = await signed_in(served, browser_like, playbooks_dir=pbs)
    await app.store.upsert_member(Member("slack", MEMBER, display_name="Rosa"))
    await app.store.claim_run(run_key="lurkers:slack:U100:once", playbook_id="lurkers", platform="slack",
                              subject=MEMBER, period="once", now=app.clock.now())
    text = await page(http, dash.url + "/playbooks")
    assert "lurkers · on" in text and "cron 0 16 * * * UTC" in text
    assert "Last runs: Rosa (1 min)" in text
    assert re.search(r"broken\.yaml:\d+: broken: ", text), text
    async with http.get(dash.url + "/playbooks/lurkers/preview") as r:
        assert r.status == 200 and "would do nothing right now" in await r.text()
    csrf = csrf_of(await (await http.get(dash.url + "/playbooks")).text())
    async with http.post(dash.url + "/playbooks/change", data={"verb": "disable", "id": "lurkers", "csrf": csrf}) as r:
        assert "Playbook `lurkers` is now off." in await r.text() or "Playbook lurkers is now off." in await r.text()
    assert "lurkers · off" in await page(http, dash.url + "/playbooks")


async def test_export_and_forget_are_for_admins_and_confirmed(served, browser_like):
    app, dash, http = await signed_in(served, browser_like)
    await app.store.upsert_member(Member("slack", MEMBER, display_name="Rosa Jansen"))
    text = await page(http, dash.url + f"/members/{MEMBER}")
    assert "Rosa Jansen" in text and "Forget this member" not in text
    csrf = csrf_of(await (await http.get(dash.url + f"/members/{MEMBER}")).text())
    async with http.post(dash.url + f"/members/{MEMBER}/forget", data={"csrf": csrf, "confirm": "yes"}) as r:
        assert r.status == 403 and "Only admins" in await r.text()
    assert (await app.store.get_member("slack", MEMBER)).display_name == "Rosa Jansen"

    # an admin (the platform says so) sees both, and each needs its box ticked
    _, dash2, admin = await signed_in(served, browser_like, ADMIN)
    app2 = dash2.app
    await app2.store.upsert_member(Member("slack", MEMBER, display_name="Rosa Jansen"))
    html = await (await admin.get(dash2.url + f"/members/{MEMBER}")).text()
    assert "Forget this member" in html and "Export" in html
    csrf = csrf_of(html)
    async with admin.post(dash2.url + f"/members/{MEMBER}/forget", data={"csrf": csrf}) as r:
        assert "Tick the box to confirm first" in await r.text()
    assert (await app2.store.get_member("slack", MEMBER)).display_name == "Rosa Jansen"
    async with admin.post(dash2.url + f"/members/{MEMBER}/export", data={"csrf": csrf, "confirm": "yes"}) as r:
        assert r.status == 200 and "attachment" in r.headers["Content-Disposition"]
        assert "Rosa Jansen" in json.dumps(await r.json())
    async with admin.post(dash2.url + f"/members/{MEMBER}/forget", data={"csrf": csrf, "confirm": "yes"}) as r:
        assert "personal data is erased" in await r.text()
    assert not (await app2.store.get_member("slack", MEMBER)).display_name
    audit = {(a["actor"], a["action"]) for a in await app2.store.audit_log(limit=20)}
    assert {(ADMIN, "dashboard:export"), (ADMIN, "command:forget")} <= audit


async def test_members_are_found_by_name_and_the_audit_log_filters(served, browser_like, db_url):
    app, dash, http = await signed_in(served, browser_like, db_url=db_url)
    for i, name in enumerate(("Rosa Jansen", "Rosalind", "Bas")):
        await app.store.upsert_member(Member("slack", f"U{i}", display_name=name))
    text = await page(http, dash.url + "/members?q=ROSA")
    assert "Rosa Jansen" in text and "Rosalind" in text and "Bas" not in text
    assert "Nobody matches “%”." in await page(http, dash.url + "/members?q=%25")
    await app.store.audit(at=app.clock.now(), platform="slack", actor="U1", action="button:approve", target="U2")
    await app.store.audit(at=app.clock.now(), platform="slack", actor="U1", action="command:stats")
    text = await page(http, dash.url + "/audit?action=button")
    assert "button:approve" in text and "command:stats" not in text and "Rosalind" in text
    assert "command:stats" in await page(http, dash.url + "/audit?actor=U1")


async def test_mentions_in_questions_read_as_names(served, browser_like, db_url):
    from bot.core.events import MemberJoined, MessagePosted

    app, dash, http = await signed_in(served, browser_like, db_url=db_url)
    now = app.clock.now()
    for mid, name in (("UASK", "Quinn"), ("UA", "Ada Lovelace")):
        await app.engine.dispatch(MemberJoined("slack", now, member_id=mid, display_name=name))
    await app.engine.dispatch(MessagePosted("slack", now, author_id="UASK", channel_id="CHELP",
                                            message_id=f"{now.timestamp():.6f}",
                                            text="<@UA> do you know how I install it in <#CINTRO|intro>?"))
    await app.store.flush()
    text = await page(http, dash.url + "/questions")
    assert "@Ada Lovelace do you know how I install it in #introductions?" in text
    assert "Quinn in #help" in text


async def test_a_case_shows_its_messages_as_kept(served, browser_like, db_url):
    from bot.core.events import MemberJoined, MessagePosted, MessageReported

    app, dash, http = await signed_in(served, browser_like, db_url=db_url)
    now = app.clock.now()
    await app.engine.dispatch(MemberJoined("slack", now, member_id="UTROLL", display_name="Tro"))
    mid = f"{now.timestamp():.6f}"
    await app.engine.dispatch(MessagePosted("slack", now, author_id="UTROLL", channel_id="CHELP", message_id=mid,
                                            text="<!channel> cheap pills for <@UMGR>"))
    await app.store.flush()
    await app.engine.dispatch(MessageReported("slack", now, reporter_id="U5", channel_id="CHELP", message_id=mid,
                                              reason="spam"))
    text = await page(http, dash.url + "/moderation")
    assert "Case 1: Tro" in text and "#help: @channel cheap pills for @Mara" in text
    assert "Dismiss" in text and "Warn" in text and "Suggest ban" in text
