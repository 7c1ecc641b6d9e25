"""Signing in from chat and what keeps others out: a one-time link that expires, a session cookie
kept in the database, a form token on every POST. Over HTTP, as a browser speaks it."""

from __future__ import annotations

from datetime import timedelta

from yarl import URL

from bot.core.records import Member
from bot.storage.sessions import Sessions
from tests.dashboard.conftest import MANAGER, MEMBER, ask_for_link, csrf_of, link_in, sign_in

REFUSAL = "Sorry, that command is for community managers. `/steward help` lists what you can do."


async def test_a_manager_signs_in_once_with_the_link(served, browser_like):
    app, dash = await served()
    await app.store.upsert_member(Member("slack", MANAGER, display_name="Mara"))
    text = await ask_for_link(app)
    assert "works once, for 10 minutes" in text
    link = link_in(text)
    assert link.startswith(dash.url + "/login/")
    http = browser_like()
    resp = await sign_in(http, link)
    assert resp.status == 303 and resp.headers["Location"] == "/"
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Max-Age=43200" in cookie
    assert "Secure" not in cookie  # plain http on 127.0.0.1
    async with http.get(dash.url + "/") as page:
        assert page.status == 200
        assert "Signed in as Mara" in await page.text()
    # the same link again, even from the same browser: refused
    again = await sign_in(browser_like(), link)
    assert again.status == 403
    async with browser_like().get(dash.url + "/") as page:
        assert page.status == 401
    audit = await app.store.audit_log(limit=20)
    assert [a["action"] for a in audit if a["actor"] == MANAGER][:2] == ["dashboard:login", "command:dashboard"]


async def test_an_expired_link_is_refused(served, browser_like):
    app, dash = await served()
    link = link_in(await ask_for_link(app))
    app.clock.advance_to(app.clock.now() + timedelta(minutes=10, seconds=1))
    resp = await sign_in(browser_like(), link)
    assert resp.status == 403
    async with browser_like().post(dash.url + "/login", data={"token": link.rsplit("/", 1)[1]}) as r:
        assert "used already or has expired" in await r.text()


async def test_a_member_who_is_not_a_manager_gets_no_link_and_no_session(served, browser_like):
    app, dash = await served()
    assert await ask_for_link(app, MEMBER) == REFUSAL
    # a link that somehow names a member (made by hand) opens nothing either
    token = await dash.sessions.new_link("slack", MEMBER, now=app.clock.now(), ttl=timedelta(minutes=10))
    resp = await sign_in(browser_like(), f"{dash.url}/login/{token}")
    assert resp.status == 403
    async with browser_like().post(dash.url + "/login", data={"token": "made-up"}) as r:
        assert r.status == 403


async def test_a_forged_post_changes_nothing(served, browser_like):
    app, dash = await served()
    http = browser_like()
    await sign_in(http, link_in(await ask_for_link(app)))
    async with http.get(dash.url + "/playbooks") as page:
        csrf = csrf_of(await page.text())
    form = {"verb": "disable", "id": "welcome"}
    for data, headers in (
        (form, {}),                                                  # no token
        ({**form, "csrf": "x" * len(csrf)}, {}),                      # a wrong one
        ({**form, "csrf": csrf}, {"Origin": "https://evil.example"}),  # the right one, sent from elsewhere
    ):
        async with http.post(dash.url + "/playbooks/change", data=data, headers=headers,
                             allow_redirects=False) as r:
            assert r.status == 403
            assert "nothing was changed" in await r.text()
        assert app.engine.active(app.engine.playbooks["welcome"])
    # without a session at all, the token of someone else's page is no use
    async with browser_like().post(dash.url + "/playbooks/change", data={**form, "csrf": csrf}) as r:
        assert r.status == 401
    async with http.post(dash.url + "/playbooks/change", data={**form, "csrf": csrf}, allow_redirects=False) as r:
        assert r.status == 303
    assert not app.engine.active(app.engine.playbooks["welcome"])
    audit = await app.store.audit_log(limit=20)
    assert {"actor": MANAGER, "action": "command:playbooks", "target": "disable welcome"}.items() <= \
        next(a for a in audit if a["action"] == "command:playbooks").items()
    assert sum(a["action"] == "dashboard:refused" for a in audit) == 3


async def test_sessions_live_in_the_database_and_end_everywhere(db_url, served, browser_like):
    """Two instances on one database: a session opened on one works on the other, and signing out
    on either ends it on both."""
    app, one = await served(db_url)
    from bot.dashboard import start

    two = await start(app)
    try:
        http = browser_like()
        await sign_in(http, link_in(await ask_for_link(app)))
        cookie = http.cookie_jar.filter_cookies(URL(one.url))["steward_session"].value
        other = browser_like()
        other.cookie_jar.update_cookies({"steward_session": cookie})
        async with other.get(two.url + "/audit") as page:
            assert page.status == 200
            csrf = csrf_of(await page.text())
        async with other.post(two.url + "/logout", data={"csrf": csrf}, allow_redirects=False) as r:
            assert r.status == 303
        async with http.get(one.url + "/") as page:
            assert page.status == 401
        assert await Sessions(app.store.database).get(cookie, now=app.clock.now()) is None
    finally:
        await two.stop()


async def test_a_session_expires_and_ends_when_its_manager_is_no_longer_one(served, browser_like):
    app, dash = await served()
    http = browser_like()
    await sign_in(http, link_in(await ask_for_link(app)))
    app.settings.managers.slack_user_ids.clear()
    async with http.get(dash.url + "/") as page:
        assert page.status == 401
    app.settings.managers.slack_user_ids.append(MANAGER)
    async with http.get(dash.url + "/") as page:
        assert page.status == 401  # ended, not paused: a new link is needed
    http = browser_like()
    await sign_in(http, link_in(await ask_for_link(app)))
    app.clock.advance_to(app.clock.now() + timedelta(hours=12, seconds=1))
    async with http.get(dash.url + "/") as page:
        assert page.status == 401


async def test_behind_https_the_cookie_is_secure(served, browser_like):
    app, dash = await served()
    http = browser_like()
    link = link_in(await ask_for_link(app))
    async with http.post(dash.url + "/login", data={"token": link.rsplit("/", 1)[1]},
                         headers={"X-Forwarded-Proto": "https"}, allow_redirects=False) as r:
        assert r.status == 303
        assert "Secure" in r.headers["Set-Cookie"]


async def test_names_and_text_are_escaped(served, browser_like):
    from bot.core.events import MemberJoined, MessagePosted

    app, dash = await served()
    evil = '<img src=x onerror="alert(1)">'
    await app.engine.dispatch(MemberJoined("slack", app.clock.now(), member_id="U666", display_name=evil))
    await app.engine.dispatch(MessagePosted("slack", app.clock.now(), author_id="U666", channel_id="CHELP",
                                            message_id="1772445600.000100", text=f"how do I {evil} install it?"))
    await app.store.flush()
    http = browser_like()
    await sign_in(http, link_in(await ask_for_link(app)))
    for path in ("/questions", "/members?q=img", "/members/U666"):
        async with http.get(dash.url + path) as page:
            html = await page.text()
            assert page.status == 200, path
            assert "<img" not in html, path
            assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html, path
    async with http.get(dash.url + "/") as page:
        csp = page.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp


async def test_the_manager_reads_it_in_their_language(served, browser_like):
    app, dash = await served()
    await app.store.set_preferences("slack", MANAGER, now=app.clock.now(), locale="nl")
    http = browser_like()
    await sign_in(http, link_in(await ask_for_link(app)))
    async with http.get(dash.url + "/") as page:
        html = await page.text()
    assert '<html lang="nl">' in html and "Overzicht" in html and "Laatste 30 dagen" in html


async def test_healthz(served, browser_like):
    _, dash = await served()
    async with browser_like().get(dash.url + "/healthz") as r:
        assert r.status == 200 and await r.json() == {"ok": True}
