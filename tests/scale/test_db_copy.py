"""`steward db copy` from SQLite to the real PostgreSQL server."""

from __future__ import annotations

import subprocess
from datetime import timedelta

from bot.core.events import MemberJoined, MessagePosted
from tests.conftest import T0
from tests.scale.procs import STEWARD


async def test_copy_sqlite_to_postgres_then_keep_going(make_app, sqlite_url, pg_server_url, empty_pg_url):
    app = await make_app(sqlite_url)
    for i in range(30):
        await app.engine.dispatch(MemberJoined("slack", T0, member_id=f"U{i}", display_name=f"Member {i}"))
        await app.engine.dispatch(MessagePosted("slack", T0 + timedelta(minutes=i), channel_id="CHELP",
                                                message_id=f"{i}.0", author_id=f"U{i}", text=f"hello {i}"))
    app.clock.advance_to(T0 + timedelta(hours=1))
    await app.delivery.drain()
    await app.store.flush()
    before = {t: await app.store.count(t) for t in ("members", "messages", "outbox", "playbook_runs")}
    await app.close()

    r = subprocess.run([STEWARD, "db", "copy", "--from", sqlite_url, "--to", empty_pg_url],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "row counts match" in r.stdout
    assert f"members: {before['members']}" in r.stdout and f"outbox: {before['outbox']}" in r.stdout

    # the copy refuses to run twice into the same database
    again = subprocess.run([STEWARD, "db", "copy", "--from", sqlite_url, "--to", empty_pg_url],
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 1 and "already has rows" in again.stderr

    # Steward carries on on PostgreSQL: no re-welcome, new members welcomed, sequences moved on
    pg = await make_app(empty_pg_url)
    gw = pg.outbox.gateways["slack"]
    pg.clock.advance_to(T0 + timedelta(days=1))  # a day later (the copied greetings are from T0)
    await pg.engine.dispatch(MemberJoined("slack", T0 + timedelta(days=1), member_id="U3", display_name="Member 3"))
    await pg.engine.dispatch(MemberJoined("slack", T0 + timedelta(days=1), member_id="U99", display_name="Newcomer"))
    assert [m.text for m in gw.sent] == ["Welcome, <@U99>! Glad you're here."] or \
        [m.mention_ids for m in gw.sent] == [("U99",)]
    assert await pg.store.count("members") == before["members"] + 1
