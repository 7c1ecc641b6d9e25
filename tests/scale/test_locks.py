"""Tick locks across instances: one digest per tick, and takeover when the holder is killed."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from bot.app import build
from bot.core.clock import SimulatedClock
from bot.core.ports import RecordingGateway
from bot.scheduling import LiveScheduler
from bot.storage import db
from bot.storage.locks import AdvisoryTickLock, LeaseTickLock, tick_lock_for
from tests.conftest import ROOT, T0, test_settings

PLAYBOOK = """\
id: weekly-digest
description: one digest per tick
platforms: [slack]
trigger:
  interval: {every: 1h}
actions:
  - post_message: {channel: moderators, template: tick_digest}
"""


@pytest.fixture
def digest_dirs(tmp_path) -> tuple[Path, Path]:
    pb = tmp_path / "playbooks"
    pb.mkdir()
    (pb / "digest.yaml").write_text(PLAYBOOK)
    msgs = tmp_path / "messages"
    shutil.copytree(ROOT / "messages", msgs)
    for loc in ("en", "nl"):
        (msgs / loc / "tick_digest.j2").write_text("Digest for {{ community.name }}\n")
    return pb, msgs


async def _instance(url: str, dirs: tuple[Path, Path]):
    settings = test_settings(url)
    gw = RecordingGateway("slack")
    app = await build(settings, clock=SimulatedClock(T0), gateways={"slack": gw}, playbooks_dir=dirs[0],
                      messages_dir=dirs[1], auto_upgrade=True)
    app.engine.reports = []
    return app, gw


async def test_two_instances_same_tick_one_digest(pg_url, digest_dirs):
    (a, gw_a), (b, gw_b) = [await _instance(pg_url, digest_dirs) for _ in range(2)]
    try:
        assert isinstance(a.services.tick_lock, AdvisoryTickLock)
        sa, sb = LiveScheduler(a.engine), LiveScheduler(b.engine)
        await asyncio.gather(sa._fire("weekly-digest"), sb._fire("weekly-digest"))
        texts = [m.text for m in gw_a.sent + gw_b.sent]
        assert texts == ["Digest for Test Garden\n"] or texts == ["Digest for Test Garden"]
        # the scan ran on one instance only, not twice with the second one stopped by the run key
        assert sorted([len(a.engine.reports), len(b.engine.reports)]) == [0, 1]
        # an instance that fires the same tick late (clock skew) stays idle
        await sb._fire("weekly-digest")
        assert len(gw_a.sent + gw_b.sent) == 1
        # the next tick runs again, on whichever instance gets it
        for app in (a, b):
            app.clock.advance_to(T0 + timedelta(hours=1))
        await asyncio.gather(sa._fire("weekly-digest"), sb._fire("weekly-digest"))
        assert len(gw_a.sent + gw_b.sent) == 2
    finally:
        await a.close()
        await b.close()


HOLDER = """
import asyncio, sys
from bot.storage import db
from bot.storage.locks import AdvisoryTickLock

async def main():
    eng = db.create_engine(sys.argv[1])
    lock = AdvisoryTickLock(eng, holder="doomed")
    async with lock("tick:weekly-digest:2026-03-02T10:00:00+00:00") as got:
        print("HELD" if got else "NOT", flush=True)
        await asyncio.sleep(600)

asyncio.run(main())
"""


async def test_holder_killed_mid_tick_another_instance_takes_over(pg_url):
    db_url = pg_url
    name = "tick:weekly-digest:2026-03-02T10:00:00+00:00"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, db_url], stdout=subprocess.PIPE, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    eng = db.create_engine(db_url)
    try:
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 30)
        assert line.strip() == b"HELD"
        survivor = AdvisoryTickLock(eng, holder="survivor", wait_s=60, poll_s=0.5)
        outcome: list[bool] = []

        async def contend():
            async with survivor(name) as got:
                outcome.append(got)

        task = asyncio.create_task(contend())
        await asyncio.sleep(1.5)
        assert not task.done()  # the holder is alive and running: the survivor waits, it does not run
        os.kill(proc.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        await asyncio.wait_for(task, 60)
        assert outcome == [True]  # took over, well within a minute
        assert time.monotonic() - killed_at < 60
        assert await survivor.is_done(name)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        await eng.dispose()


async def test_lease_lock_on_sqlite(sqlite_url):
    eng = db.create_engine(sqlite_url)
    await db.upgrade(eng)
    try:
        assert isinstance(tick_lock_for(eng), LeaseTickLock)
        a = LeaseTickLock(eng, holder="a", ttl_s=1.0, wait_s=0)
        b = LeaseTickLock(eng, holder="b", ttl_s=1.0, wait_s=5, poll_s=0.2)
        assert await a.try_acquire("t1")
        assert not await b.try_acquire("t1")
        # a dies without releasing: its lease lapses and b takes the tick over
        async with b("t1") as got:
            assert got
        async with a("t1") as got_again:
            assert not got_again  # done: nobody runs t1 twice
    finally:
        await eng.dispose()
