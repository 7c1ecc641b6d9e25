"""Dispatch benchmark: 100,000 synthetic message events through the engine and the SQLite store with
the shipped playbooks, beside the raw sqlite3 executemany insert rate of the same rows; and a wave of
1,000 first joins (a raid: 20 a second) handled as ``steward run`` handles them (welcome greeting and
DM queued, raid alert, greetings held), in joins/s and CPU per join.

    .venv/bin/python bench/dispatch.py [--events 100000] [--joins 1000]

Targets: >= 5,000 events/s, >= 10% of the raw insert rate, p99 dispatch latency <= 5 ms. Also
printed: the reply-link model's time per message (features, scoring and the question decisions) and
its share of the dispatch time.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import build  # noqa: E402
from bot.core.clock import SimulatedClock  # noqa: E402
from bot.core.events import MemberJoined, MessagePosted  # noqa: E402
from bot.replay.demo import demo_settings  # noqa: E402

WORDS = ("the build works now thanks for the help how do I configure proxy install upgrade release "
         "docs plugin error version config test deploy meetup welcome hello").split()


def make_events(n: int, members: int = 2000, seed: int = 1) -> list[MessagePosted]:
    rng = random.Random(seed)
    t0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    out = []
    for i in range(n):
        t = t0 + timedelta(seconds=i * 2 + rng.random())
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 18)))
        if rng.random() < 0.2:
            text += "?"
        out.append(MessagePosted("slack", t, channel_id=f"C{rng.randint(1, 12):04d}", message_id=f"{t.timestamp():.6f}",
                                 author_id=f"U{rng.randint(1, members):06d}", text=text,
                                 thread_id=None, mentions=(), is_bot=False))
    return out


def raw_insert_rate(events: list[MessagePosted], path: Path) -> float:
    """The reference: plain sqlite3 executemany of the same rows into the same table Steward writes
    (the store's ``messages`` table with its indexes, the store's PRAGMAs), one transaction."""
    from sqlalchemy import create_engine

    from bot.storage.models import Base

    eng = create_engine(f"sqlite:///{path}")
    Base.metadata.create_all(eng, tables=[Base.metadata.tables["messages"]])
    eng.dispose()
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    rows = [(e.platform, e.channel_id, e.message_id, e.author_id, e.text,
             e.at.strftime("%Y-%m-%d %H:%M:%S.%f"), e.thread_id, None, None, 0, 0, None, None, 0) for e in events]
    # the best case for sqlite3: one executemany, one transaction
    t = time.perf_counter()
    con.executemany("INSERT INTO messages (platform, channel_id, message_id, author_id, text, posted_at, "
                    "thread_id, reply_to, mentions, is_bot, is_question, kind, edited_at, deleted) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    con.commit()
    dt = time.perf_counter() - t
    con.close()
    return len(rows) / dt


#: time spent in the reply-link model (features, scoring, decisions) during ``engine_rate``
MODEL_TIME = [0.0, 0]


def _time_the_model() -> None:
    from bot.conversation.tracker import ConversationTracker

    observe = ConversationTracker.observe

    def timed(self, **kw):
        t = time.perf_counter()
        try:
            return observe(self, **kw)
        finally:
            MODEL_TIME[0] += time.perf_counter() - t
            MODEL_TIME[1] += 1

    ConversationTracker.observe = timed


async def engine_rate(events: list[MessagePosted], path: Path) -> tuple[float, list[float], int]:
    _time_the_model()
    settings = demo_settings(f"sqlite:///{path}")
    clock = SimulatedClock(events[0].at - timedelta(days=1))
    app = await build(settings, clock=clock, dry_run=True)
    # members exist before they talk, as in a live community
    authors = sorted({e.author_id for e in events})
    for i, a in enumerate(authors):
        await app.engine.dispatch(MemberJoined("slack", clock.now() - timedelta(days=30), member_id=a,
                                               display_name=f"member {i}"))
    # they joined a month ago: their onboarding journeys (held by the dry run until the clock passes
    # each step) are over before the timed messages, as the single welcome DM used to be
    from bot.outreach.journeys import journeys_of

    journeys = journeys_of(app.engine)
    if journeys is not None:
        await journeys.settle(clock.now() + timedelta(days=30))
    app.engine.dispatch_times = []
    MODEL_TIME[:] = [0.0, 0]
    t = time.perf_counter()
    for ev in events:
        clock.advance_to(ev.at)
        await app.engine.dispatch(ev)
    await app.store.flush()
    dt = time.perf_counter() - t
    n_stored = await app.store.count("messages")
    times = app.engine.dispatch_times
    await app.close()
    return len(events) / dt, times, n_stored


async def join_rate(n: int, path: Path) -> tuple[float, float, int]:
    """``n`` members join for the first time, 20 a second, into a live (not dry-run) app whose sends
    are left to a delivery worker that is not running: what handling the joins costs, not sending.
    Returns joins/s (wall), CPU ms per join and how many joins were stored."""
    from bot.core.ports import RecordingGateway

    settings = demo_settings(f"sqlite:///{path}")
    t0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    clock = SimulatedClock(t0)
    app = await build(settings, clock=clock, dry_run=False,
                      gateways={"slack": RecordingGateway("slack"), "discord": RecordingGateway("discord")})
    app.outbox.sender = None  # as in `steward run`: the delivery loop sends, joins only queue
    joins = [MemberJoined("slack", t0 + timedelta(milliseconds=50 * i), member_id=f"UJ{i:06d}",
                          display_name=f"newcomer {i}") for i in range(n)]
    wall, cpu = time.perf_counter(), time.process_time()
    for ev in joins:
        clock.advance_to(ev.at)
        await app.engine.dispatch(ev)
    await app.store.flush()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    stored = await app.store.count("members")
    await app.close()
    return n / wall, cpu / n * 1000, stored


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--joins", type=int, default=1_000)
    args = ap.parse_args()
    events = make_events(args.events)
    with tempfile.TemporaryDirectory() as tmp:
        raw = raw_insert_rate(events, Path(tmp) / "raw.db")
        rate, times, stored = asyncio.run(engine_rate(events, Path(tmp) / "steward.db"))
        jrate, jcpu, jstored = asyncio.run(join_rate(args.joins, Path(tmp) / "joins.db"))
    times_ms = sorted(x * 1000 for x in times)
    p50 = statistics.median(times_ms)
    p99 = times_ms[int(len(times_ms) * 0.99) - 1]
    print(f"events                     {len(events):>12,}  (stored: {stored:,})")
    print(f"steward dispatch           {rate:>12,.0f} events/s   target >= 5,000")
    print(f"raw sqlite3 executemany    {raw:>12,.0f} rows/s     (reference: same rows, same table and indexes, same run)")
    print(f"steward / raw              {rate / raw:>12.1%}            target >= 10%")
    print(f"dispatch latency p50       {p50:>12.3f} ms")
    print(f"dispatch latency p99       {p99:>12.3f} ms         target <= 5 ms")
    model_s, model_n = MODEL_TIME
    dispatch_s = sum(times)
    print(f"reply-link model           {1e6 * model_s / max(model_n, 1):>12.1f} us/message "
          f"({100 * model_s / dispatch_s if dispatch_s else 0:.1f}% of dispatch time; {model_n:,} messages)")
    print(f"steward first joins        {jrate:>12,.0f} joins/s    ({jcpu:.2f} ms CPU per join; a wave of {args.joins:,}, "
          f"stored: {jstored:,}; messages above: {rate:,.0f}/s, raw {raw:,.0f} rows/s)")
    ok = rate >= 5000 and rate / raw >= 0.10 and p99 <= 5 and stored == len(events)
    print("targets met" if ok else "TARGETS NOT MET")


if __name__ == "__main__":
    main()
