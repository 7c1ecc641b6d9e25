"""Faults against real processes: ``steward run`` instances in Slack HTTP mode on the real
PostgreSQL server, the fake Slack server in its own process."""

from __future__ import annotations

import asyncio

import pytest

from tests.fakes.slack_requests import team_join
from tests.scale.procs import FakeSlackProc, Instance, Sender, pg_counts, until, write_config

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
async def fake(tmp_path):
    f = await FakeSlackProc(tmp_path).start()
    yield f
    f.stop()


def _joins(n: int, prefix: str = "U") -> list[dict]:
    return [team_join(f"{prefix}{i:05d}", f"Member {i}") for i in range(n)]


async def _settled(db_url: str, fake: FakeSlackProc, n: int) -> dict[str, int]:
    async def done():
        c = pg_counts(db_url)
        return c if c.get("sent", 0) + c.get("failed", 0) >= n and not c.get("pending") \
            and not c.get("sending") else None
    return await until(done, 180, every=0.5)


async def test_kill9_mid_burst_of_1000_welcomes_each_member_welcomed_once(pg_url, fake, tmp_path):
    cfg = write_config(tmp_path, db_url=pg_url, api_url=fake.api_url,
                       delivery={"poll_seconds": 0.2})
    a = await Instance("a", cfg, fake, tmp_path).start()
    b = await Instance("b", cfg, fake, tmp_path).start()
    sender = Sender(fake.tokens["SLACK_SIGNING_SECRET"], [a, b], timeout=60)
    killed = asyncio.Event()
    restarted: list[Instance] = []

    def progress(i: int) -> None:
        if i >= 300 and not killed.is_set():
            killed.set()
            a.kill9()  # mid-burst: events in flight on a, rows claimed by a, sends half done

    try:
        await sender.post_all(_joins(1000), concurrency=24, on_progress=progress)
        assert killed.is_set()
        restarted.append(await Instance("a", cfg, fake, tmp_path).start())  # the restart
        counts = await _settled(pg_url, fake, 1000)
        dms = await fake.dms()
        assert counts["members"] == 1000
        missing = [f"U{i:05d}" for i in range(1000) if dms[f"U{i:05d}"] == 0]
        twice = {m: n for m, n in dms.items() if n > 1}
        assert not missing, f"{len(missing)} member(s) never welcomed, e.g. {missing[:5]}"
        assert not twice, f"{len(twice)} member(s) welcomed more than once: {list(twice.items())[:5]}"
        assert counts.get("sent") == 1000
    finally:
        for inst in (a, b, *restarted):
            inst.stop()


async def test_platform_500s_then_429s_everything_delivered_afterwards_once(pg_url, fake, tmp_path):
    """The fake answers every chat.postMessage with HTTP 500, then with 429 + Retry-After, each for a
    compressed "minute" (``OUTAGE`` seconds; retry backoff scaled down to match, so the behaviour
    is the same as over a real minute)."""
    OUTAGE = 6.0
    cfg = write_config(tmp_path, db_url=pg_url, api_url=fake.api_url,
                       delivery={"backoff_base_seconds": 0.1, "poll_seconds": 0.2})
    debug = {"STEWARD_LOG_LEVEL": "DEBUG"}  # the most talkative logs, to be sure no secret is in them
    a = await Instance("a", cfg, fake, tmp_path, extra_env=debug).start()
    b = await Instance("b", cfg, fake, tmp_path, extra_env=debug).start()
    try:
        await fake.ctl("/_fake/fail", {"method": "chat.postMessage", "error": "internal_error", "status": 500,
                                       "times": None})
        await Sender(fake.tokens["SLACK_SIGNING_SECRET"], [a, b]).post_all(_joins(200))
        await asyncio.sleep(OUTAGE)
        before = await fake.ctl("/_fake/calls?method=chat.postMessage")
        await fake.ctl("/_fake/reset", {})
        await fake.ctl("/_fake/rate_limit", {"method": "chat.postMessage", "retry_after": 1, "times": None})
        await asyncio.sleep(OUTAGE)
        during = await fake.ctl("/_fake/calls?method=chat.postMessage")
        await fake.ctl("/_fake/reset", {})
        counts = await _settled(pg_url, fake, 200)
        calls = before + during + await fake.ctl("/_fake/calls?method=chat.postMessage")
        assert any(c["status"] == 500 for c in before) and any(c["status"] == 429 for c in during)
        ok = [c["params"]["channel"] for c in calls if c["response"].get("ok")]
        assert len(ok) == 200 and len(set(ok)) == 200  # every member, once
        assert counts.get("sent") == 200 and not counts.get("failed")
    finally:
        a.stop()
        b.stop()
    logs = "".join(a.proc.lines + b.proc.lines)
    assert "DEBUG" in logs and "chat.postMessage" in logs
    for secret in (fake.tokens["SLACK_BOT_TOKEN"], fake.tokens["SLACK_SIGNING_SECRET"]):
        assert secret not in logs


async def test_posts_slack_made_but_answered_with_500s_or_lost_are_not_sent_again(pg_url, fake, tmp_path):
    """The issue's run: 200 joins, Slack makes every DM, but 30 answers are 500s and 10 connections
    drop after the post: each member still has exactly one welcome."""
    cfg = write_config(tmp_path, db_url=pg_url, api_url=fake.api_url,
                       delivery={"backoff_base_seconds": 0.1, "poll_seconds": 0.2})
    a = await Instance("a", cfg, fake, tmp_path).start()
    b = await Instance("b", cfg, fake, tmp_path).start()
    try:
        await fake.ctl("/_fake/fail", {"method": "chat.postMessage", "error": "internal_error", "status": 500,
                                       "accepted": True, "times": 30, "after": 20})
        await fake.ctl("/_fake/fail", {"method": "chat.postMessage", "reset": True, "accepted": True,
                                       "times": 10, "after": 100})
        await Sender(fake.tokens["SLACK_SIGNING_SECRET"], [a, b]).post_all(_joins(200))
        counts = await _settled(pg_url, fake, 200)
        stored = await fake.stored_dms()
        assert sum(stored.values()) == 200, f"{sum(stored.values()) - 200} DM(s) too many"
        assert sorted(stored) == [f"U{i:05d}" for i in range(200)] and set(stored.values()) == {1}
        assert counts.get("sent") == 200 and not counts.get("failed")
        calls = await fake.ctl("/_fake/calls?method=chat.postMessage")
        assert sum(c["status"] == 500 for c in calls) == 30  # the faults did happen
    finally:
        a.stop()
        b.stop()
