"""Webhooks survive a ``kill -9`` of ``steward run`` (a real process), on SQLite and PostgreSQL: the
receiver answers 500s and hangs, the process is killed while a request hangs, a new one takes over,
and every event is accepted, by its id, once."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.storage import db
from bot.storage.repositories import Store
from bot.webhooks.options import webhook_options
from bot.webhooks.queue import WebhookQueue
from tests.slack.conftest import eventually
from tests.webhooks.test_webhooks import SECRET, _secret, hooks, receiver  # noqa: F401

STEWARD = Path(sys.executable).with_name("steward")
EVENTS = 20


def _config(tmp_path: Path, db_url: str, url: str) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(f"""
[storage]
url = "{db_url}"
[features.delivery]
# one request at a time, so the kill lands while the hanging request is the only one in flight (with
# more, a request answered in the instant before the kill is sent again: same id, see the README)
concurrency = 1
[features.webhooks]
timeout_seconds = 1
backoff_base_seconds = 0.2
backoff_max_seconds = 1
[features.webhooks.endpoints.crm]
url = "{url}"
secret_env = "CRM_HOOK_SECRET"
events = ["member.joined"]
""", encoding="utf-8")
    return p


async def _queue(db_url: str, settings_features: dict) -> None:
    from bot.settings import load_settings

    settings = load_settings(None, storage={"url": db_url}, features=settings_features)
    eng = db.create_engine(db_url)
    try:
        await db.ensure_schema(eng, auto_upgrade=eng.dialect.name == "sqlite")
        store = Store(eng)
        q = WebhookQueue(store, webhook_options(settings), _Now(), community="Process Garden")
        for i in range(EVENTS):
            mid = f"U{i:04d}"
            await q.emit("member.joined", {"member": {"platform": "slack", "id": mid},
                                           "joined_at": "2026-03-02T10:00:00Z"}, key=f"slack:{mid}", member=mid)
    finally:
        await eng.dispose()


class _Now:
    def now(self) -> datetime:
        return datetime.now(UTC)


async def _start(cfg: Path, log: list[str]) -> asyncio.subprocess.Process:
    env = {**os.environ, "CRM_HOOK_SECRET": SECRET, "STEWARD_INSTANCE": "hooks-1"}
    proc = await asyncio.create_subprocess_exec(str(STEWARD), "run", "--config", str(cfg), env=env,
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)

    async def drain() -> None:
        while line := await proc.stderr.readline():
            log.append(line.decode())

    asyncio.get_running_loop().create_task(drain())
    return proc


@pytest.mark.slow
async def test_each_event_is_accepted_once_after_500s_hangs_and_a_kill(tmp_path, db_url, receiver):  # noqa: F811
    await _queue(db_url, hooks(receiver.url))
    # the first requests fail, one hangs (the process is killed while it does), more fail after
    receiver.script = ["500", "500", "ok", "ok", "ok", "hang"] + ["500"] * 3
    log: list[str] = []
    cfg = _config(tmp_path, db_url, receiver.url)
    proc = await _start(cfg, log)
    try:
        assert await eventually(lambda: len(receiver.script) <= 3, timeout=30), "".join(log)
        proc.send_signal(signal.SIGKILL)  # mid-request: a row is left "sending"
        await proc.wait()
        before = len(receiver.accepted)
        assert before < EVENTS
        proc = await _start(cfg, log)
        assert await eventually(lambda: len(receiver.accepted) >= EVENTS, timeout=60), (
            f"{len(receiver.accepted)} of {EVENTS} accepted\n" + "".join(log))
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0, "".join(log)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    ids = [e["data"]["member"]["id"] for e in receiver.accepted]
    assert sorted(ids) == [f"U{i:04d}" for i in range(EVENTS)]
    # every event's 2xx came once: the killed request had not been answered, so its retry is its first
    assert set(receiver.ids.values()) == {1}, receiver.ids
    assert receiver.bad_signatures == 0
    eng = db.create_engine(db_url)
    try:
        store = Store(eng)
        rows = [r for r in await store.outbox() if r.message.platform == "webhook"]
        assert {r.status for r in rows} == {"sent"} and len(rows) == EVENTS
    finally:
        await eng.dispose()
