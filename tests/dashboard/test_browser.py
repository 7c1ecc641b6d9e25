"""The dashboard in a real headless Chromium, against the real bot on the fake Slack: a manager asks
for a link with /steward dashboard, opens it, approves an ambassador (the invitation DM arrives at
the fake), resolves a question with JavaScript off, decides a moderation case (the warning DM
arrives); a spent link, an expired link, a member who is not a manager and forged POSTs are refused;
axe-core finds no serious or critical problem on any page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import pytest_asyncio
from aiohttp import web

from bot.dashboard import start as start_dashboard
from tests.conftest import T0
from tests.dashboard.browser import Person, start_chromium
from tests.fakes.slack_requests import message_shortcut, slash_command
from tests.slack.conftest import eventually, fake, slack_env, start_bot  # noqa: F401 - fixtures

pytestmark = pytest.mark.slow

MANAGER, HELPER, ASKER, TROLL = "UMGR", "UANS", "UQ", "UTROLL"
PAGES = ("/", "/questions", "/ambassadors", "/moderation", "/outreach", "/playbooks", "/members?q=a",
         f"/members/{HELPER}", "/audit", "/playbooks/ambassadors/preview")


@pytest.fixture(scope="module")
def chromium():
    driver = start_chromium()
    yield driver
    driver.quit()


@pytest.fixture
def person(chromium):
    chromium.execute_cdp_cmd("Network.clearBrowserCookies", {})
    chromium.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": False})
    return Person(chromium)


@pytest_asyncio.fixture
async def community(start_bot, fake):  # noqa: F811 - the fixtures imported above
    """The bot on the fake Slack with its dashboard, and a community: a helper who answered three
    members, an open question, a reported message."""
    for uid, name in ((MANAGER, "Mara Manager"), (HELPER, "Ann <Answer>"), (ASKER, "Quinn Asker"),
                      ("UA", "Ada"), ("UB", "Bo"), ("UC", "Cy"), (TROLL, "Tro Ll")):
        fake.add_user(uid, name, tz="UTC")
    fake.usergroups["S0AMB"] = []
    bot = await start_bot("socket", managers={"slack_user_ids": [MANAGER]}, playbooks=("ambassadors", "unanswered"),
                          slack={"ambassador_usergroup": "S0AMB"}, features={"ambassadors": {"min_score": 1}},
                          dashboard={"port": 0})
    from tests.community.helpers import Community

    c = Community(bot.app)
    for i, asker in enumerate(("UA", "UB", "UC")):
        at = T0 + timedelta(minutes=20 * i)
        await c.say(asker, "How do I reset my password on the wiki?", at=at)
        await c.say(HELPER, f"<@{asker}>: the account page has a reset link", at=at + timedelta(minutes=3))
    await c.say(ASKER, "How do I configure the proxy for the <installer>?", at=T0 + timedelta(hours=2))
    bot.app.clock.advance_to(T0 + timedelta(hours=3))
    await fake.send_envelope("interactive", message_shortcut(
        user_id="UB", channel_id="CGENERAL", message_ts=f"{(T0 + timedelta(hours=2)).timestamp():.6f}",
        author_id=TROLL, text="buy cheap pills at spam.example", response_url=fake.response_url("report")))
    await bot.settle(1)
    # a webhook event given up on, for the Outreach page's table of them (the bot sends no webhooks here)
    from bot.core.records import OutboundMessage

    now = bot.app.clock.now()
    hook = OutboundMessage(platform="webhook", kind="webhook", text="{}", channel_id="crm", dedupe_key="webhook:crm:t")
    hid = await bot.app.store.enqueue(hook, playbook_id="webhook", action="member.joined", reason="member.joined for crm",
                                      status="failed", not_before=now, now=now)
    await bot.app.store.mark_outbox(hid, status="failed", now=now, error="crm: gave up after 24h: http 500")
    await bot.app.store.flush()
    dash = await start_dashboard(bot.app)
    assert dash is not None
    yield bot, dash
    await dash.stop()


async def ask_for_link(bot, user: str, key: str) -> str:
    """What /steward dashboard answers ``user`` in Slack (ephemeral)."""
    await bot.fake.send_envelope("slash_commands", slash_command("dashboard", user_id=user,
                                                                 response_url=bot.fake.response_url(key)))
    answers = await eventually(lambda: [r for r in bot.fake.responses if r["key"] == key], timeout=10)
    assert answers and answers[0]["response_type"] == "ephemeral"
    return answers[0]["text"]


def link_in(text: str) -> str:
    m = re.search(r"(http://\S+/login/[\w-]+)", text)
    assert m, text
    return m.group(1)


async def sign_in(person: Person, link: str) -> str:
    await person.open(link)
    assert "Open the dashboard" in await person.text()
    await person.press("Open the dashboard")
    return await person.text()


async def test_a_manager_signs_in_from_chat_and_decides(community, person, fake):  # noqa: F811
    bot, dash = community
    await person.open(dash.url + "/")
    assert "You are not signed in" in await person.text()
    assert await person.axe() == []
    link = link_in(await ask_for_link(bot, MANAGER, "mgr"))
    await person.open(link)
    assert await person.axe() == []
    text = await sign_in(person, link)
    assert "Signed in as Mara Manager" in text and await person.heading() == "Overview"
    assert "Questions" in text and "Participation" in text

    # every page reads right and passes axe-core
    problems = {}
    for path in PAGES:
        await person.open(dash.url + path)
        body = await person.text()
        assert "Server got itself in trouble" not in body and "not signed in" not in body, path
        if path == "/outreach":
            assert "crm member.joined" in body and "crm: gave up after 24h: http 500" in body
        found = await person.axe()
        if found:
            problems[path] = found
    assert problems == {}

    # ambassadors: the helper, their evidence; Approve sends the invitation through the outbox
    await person.open(dash.url + "/ambassadors")
    page = await person.text()
    assert "Ann <Answer>" in page and "answered 3 questions from 3 members" in page
    await person.press("Approve", within="Ann <Answer>")
    page = await person.text()
    assert "Approved Ann <Answer> as an ambassador; the invitation is on its way." in page
    assert "Ann <Answer>: approved · Mara Manager" in page and "Approve Ann" not in page
    await bot.deliver()
    invites = await eventually(lambda: [m for m in fake.dms_to(HELPER) if "ambassadors" in m["text"]])
    assert len(invites) == 1 and invites[0]["text"].startswith("Hi Ann &lt;Answer&gt;! The moderators")
    assert fake.usergroups["S0AMB"] == [HELPER]
    # what the pages showed is not kept in the browser's storage (htmx's history cache is off)
    await person.follow("Questions")
    await person.follow("Moderation")
    assert await person.heading() == "Moderation"
    assert await person._do(person.d.execute_script, "return window.localStorage.length") == 0

    # questions, with JavaScript off: the text, channel, asker and why; Resolved
    await person.javascript(False)
    await person.open(dash.url + "/questions")
    page = await person.text()
    assert "How do I configure the proxy for the <installer>?" in page
    assert "Quinn Asker in #help, 1 h ago" in page
    await person.press("Resolved", within="Quinn Asker")
    page = await person.text()
    assert "Marked as resolved." in page and "configure the proxy" not in page
    await person.javascript(True)

    # moderation: the reported message, the rule, the decisions of the chat; Warn sends the warning
    await person.open(dash.url + "/moderation")
    page = await person.text()
    assert "Tro Ll" in page and "buy cheap pills at spam.example" in page
    await person.press("Warn", within="Tro Ll")
    assert "Case 1: warned by DM." in await person.text()
    await bot.deliver()
    warned = await eventually(lambda: fake.dms_to(TROLL))
    assert len(warned) == 1 and "asks you to keep to the community guidelines" in warned[0]["text"]

    # all of it in the audit log, as the manager, as in chat
    audit = [(a["actor"], a["action"]) for a in await bot.app.store.audit_log(limit=50)]
    for action in ("dashboard:login", "button:approve", "button:resolve", "case:warn"):
        assert (MANAGER, action) in audit, (action, audit)
    await person.open(dash.url + "/audit?action=button")
    assert "button:approve" in await person.text()


async def test_what_is_refused(community, person, fake):  # noqa: F811
    bot, dash = community
    # a member who is not a manager gets a polite no and no link
    answer = await ask_for_link(bot, "UA", "member")
    assert answer.startswith("Sorry, that command is for community managers") and "/login/" not in answer
    # a link works once
    link = link_in(await ask_for_link(bot, MANAGER, "once"))
    assert "Signed in as" in await sign_in(person, link)
    await person.javascript(False)
    assert "used already or has expired" in await sign_in(person, link)
    await person.javascript(True)
    # ... and for 10 minutes
    late = link_in(await ask_for_link(bot, MANAGER, "late"))
    bot.app.clock.advance_to(bot.app.clock.now() + timedelta(minutes=11))
    assert "used already or has expired" in await sign_in(person, late)
    link = link_in(await ask_for_link(bot, MANAGER, "again"))
    assert "Signed in as" in await sign_in(person, link)

    # a forged POST from another site the manager visits (same machine, another port): refused
    evil = web.Application()
    form = (f'<form id="f" method="post" action="{dash.url}/ambassadors/decide">'
            f'<input name="member" value="{HELPER}"><input name="decision" value="approve"></form>'
            '<script>document.getElementById("f").submit()</script>')

    async def _page(request: web.Request) -> web.Response:
        return web.Response(text=f"<html><body>{form}</body></html>", content_type="text/html")

    evil.router.add_get("/", _page)
    runner = web.AppRunner(evil)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        await person.open(f"http://127.0.0.1:{runner.addresses[0][1]}/")
        await person.settled()
        page = await eventually_text(person, "nothing was changed")
        assert "did not come from a dashboard page" in page
        assert await person.axe() == []
    finally:
        await runner.cleanup()
    # a POST from the dashboard's own origin without the form token: refused too
    await person.open(dash.url + "/moderation")
    status = await person._do(person.d.execute_async_script, (
        "const done = arguments[arguments.length - 1];"
        "fetch('/moderation/decide', {method: 'POST', body: new URLSearchParams({case: '1', decision: 'case_ban'})})"
        ".then(r => done(r.status));"))
    assert status == 403
    assert [m for m in fake.dms_to(HELPER) if "ambassadors" in m["text"]] == []
    audit = [a for a in await bot.app.store.audit_log(limit=50) if a["action"] == "dashboard:refused"]
    assert len(audit) == 2
    from bot.moderation.queue import service

    assert [c.status for c in await service(bot.app.engine).cases.all("slack")] == ["open"]

    # in Dutch, for a manager who chose it; the pages pass axe-core in Dutch too
    await bot.app.store.set_preferences("slack", MANAGER, now=bot.app.clock.now(), locale="nl")
    for path, heading in (("/", "Overzicht"), ("/moderation", "Moderatie"), ("/outreach", "Berichten")):
        await person.open(dash.url + path)
        assert await person.heading() == heading
        assert await person.axe() == [], path


async def eventually_text(person: Person, words: str, timeout: float = 10) -> str:
    import asyncio

    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        text = await person.text()
        if words in text or loop.time() > end:
            return text
        await asyncio.sleep(0.1)
