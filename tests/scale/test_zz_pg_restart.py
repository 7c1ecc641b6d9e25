"""PostgreSQL restarted under load: the bots reconnect and lose no events. This restarts the shared
server (a few seconds of downtime), so it runs after every other test of the session."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path

import pytest

from tests.fakes.slack_requests import team_join
from tests.scale.procs import FakeSlackProc, Instance, Sender, pg_counts, until, write_config

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.pg_restart]


def _cluster() -> tuple[str, str] | None:
    if not shutil.which("pg_ctlcluster") or not Path("/etc/postgresql").is_dir():
        return None
    versions = sorted(os.listdir("/etc/postgresql"))
    return (versions[-1], "main") if versions else None


async def _restart_postgres() -> float:
    version, name = _cluster()  # type: ignore[misc]
    t0 = time.monotonic()
    proc = await asyncio.create_subprocess_exec("pg_ctlcluster", "--skip-systemctl-redirect", version, name,
                                                "restart")
    assert await proc.wait() == 0, "pg_ctlcluster restart failed"
    return time.monotonic() - t0


async def test_postgres_restarted_under_load_no_event_lost(pg_url, tmp_path):
    if _cluster() is None or not pg_url.startswith("postgresql://postgres@127.0.0.1"):
        pytest.skip("needs the local PostgreSQL cluster (pg_ctlcluster) to restart")
    fake = await FakeSlackProc(tmp_path).start()
    cfg = write_config(tmp_path, db_url=pg_url, api_url=fake.api_url, delivery={"poll_seconds": 0.2})
    a = await Instance("a", cfg, fake, tmp_path).start()
    b = await Instance("b", cfg, fake, tmp_path).start()
    restarted = asyncio.Event()
    downtime: list[float] = []

    def progress(i: int) -> None:
        if i >= 150 and not restarted.is_set():
            restarted.set()
            asyncio.get_running_loop().create_task(_restart_postgres()).add_done_callback(
                lambda t: downtime.append(t.result()))

    try:
        await Sender(fake.tokens["SLACK_SIGNING_SECRET"], [a, b], timeout=120).post_all(
            [team_join(f"U{i:05d}", f"Member {i}") for i in range(600)], concurrency=16, on_progress=progress)
        await until(lambda: downtime, 60)

        def settled():
            import psycopg2

            try:
                c = pg_counts(pg_url)
            except psycopg2.OperationalError:  # the server is still coming back: look again
                return None
            return c if c.get("sent", 0) >= 600 and not c.get("pending") and not c.get("sending") else None

        counts = await until(settled, 180, every=0.5)
        dms = await fake.dms()
        assert counts["members"] == 600  # every event stored
        assert len(dms) == 600 and set(dms.values()) == {1}  # every member welcomed, once
        # both instances are still up, and still serve
        assert a.proc.p.poll() is None and b.proc.p.poll() is None
    finally:
        a.stop()
        b.stop()
        fake.stop()
