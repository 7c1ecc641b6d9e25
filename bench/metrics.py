"""Metrics benchmark: what counting costs (bot/core/metrics.py), beside what it is counted in.

1. Counting an event (``steward_events_handled_total`` and ``steward_event_lag_seconds``), in
   microseconds, beside the engine's whole dispatch of the same message events with the shipped
   playbooks (SQLite), measured in the same run; the share is what counting adds.
2. A scrape of ``/metrics``'s page (``Metrics.exposition()``, which counts the outbox by state in the
   database), p50 and p99, on an outbox of ``--rows`` rows, beside the raw ``sqlite3``
   ``SELECT status, COUNT(*) ... GROUP BY status`` on the same file.

    .venv/bin/python bench/metrics.py [--events 20000] [--rows 200000]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.dispatch import make_events  # noqa: E402
from bot.app import build  # noqa: E402
from bot.core.clock import SimulatedClock  # noqa: E402
from bot.core.events import MemberJoined  # noqa: E402
from bot.core.metrics import Metrics  # noqa: E402
from bot.replay.demo import demo_settings  # noqa: E402

STATES = ("sent",) * 90 + ("failed",) * 3 + ("skipped",) * 5 + ("pending",) * 2


async def counting(n: int, path: Path) -> tuple[float, float]:
    """(µs per event dispatched, µs per event counted), the same events."""
    events = make_events(n)
    settings = demo_settings(f"sqlite:///{path}")
    clock = SimulatedClock(events[0].at - timedelta(days=1))
    app = await build(settings, clock=clock, dry_run=True)
    for i, a in enumerate(sorted({e.author_id for e in events})):
        await app.engine.dispatch(MemberJoined("slack", clock.now() - timedelta(days=30), member_id=a,
                                               display_name=f"member {i}"))
    t = time.perf_counter()
    for ev in events:
        clock.advance_to(ev.at)
        await app.engine.dispatch(ev)
    await app.store.flush()
    dispatch_us = (time.perf_counter() - t) / n * 1e6
    await app.close()
    m = Metrics()
    now = events[-1].at
    t = time.perf_counter()
    for ev in events:
        m.handled(ev.platform, ev.name, ev.at, now)
    count_us = (time.perf_counter() - t) / n * 1e6
    return dispatch_us, count_us


async def scraping(rows: int, path: Path, scrapes: int = 30) -> tuple[list[float], list[float]]:
    """(exposition times, raw GROUP BY times), in ms, on an outbox of ``rows`` rows."""
    app = await build(demo_settings(f"sqlite:///{path}"), dry_run=True)
    t0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    con = sqlite3.connect(path)
    con.executemany(
        "INSERT INTO outbox (dedupe_key, platform, playbook_id, action, kind, member_id, text, status, attempts, "
        "not_before, created_at, automated, unsure) VALUES (?, 'slack', 'welcome', 'send_dm', 'dm', ?, 'hi', ?, "
        "1, ?, ?, 1, 0)",
        ((f"k{i}", f"U{i:06d}", STATES[i % len(STATES)], t0, t0) for i in range(rows)))
    con.commit()
    ours, raw = [], []
    await app.metrics.exposition()  # warm: the first query compiles
    for _ in range(scrapes):
        t = time.perf_counter()
        page = await app.metrics.exposition()
        ours.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        con.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status").fetchall()
        raw.append((time.perf_counter() - t) * 1000)
    assert f'steward_outbox_depth{{state="sent"}} {float(rows * 90 // 100)}'.encode() in page, page
    con.close()
    await app.close()
    return ours, raw


def _p(xs: list[float], q: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--rows", type=int, default=200_000)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        dispatch_us, count_us = asyncio.run(counting(a.events, Path(tmp) / "dispatch.db"))
        print(f"counting an event: {count_us:.2f} us, beside {dispatch_us:.1f} us for its dispatch "
              f"({a.events:,} message events, shipped playbooks, SQLite): {100 * count_us / dispatch_us:.1f}%")
        ours, raw = asyncio.run(scraping(a.rows, Path(tmp) / "scrape.db"))
        print(f"a scrape of /metrics on {a.rows:,} outbox rows: p50 {statistics.median(ours):.1f} ms, "
              f"p99 {_p(ours, 0.99):.1f} ms, beside raw sqlite3 GROUP BY status p50 "
              f"{statistics.median(raw):.1f} ms, p99 {_p(raw, 0.99):.1f} ms")


if __name__ == "__main__":
    main()
