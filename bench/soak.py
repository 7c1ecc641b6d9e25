"""Soak benchmark: resident memory over an hour (or more) of replayed community traffic.

The same app `steward run` builds (the shipped playbooks, the moderation rules, the question tracker,
the SQLite store) receives message traffic whose timestamps span ``--minutes`` of community time,
from ``--members`` members in ``--channels`` channels. Every ten minutes of community time it prints
the resident set size and the sizes of the in-memory state the features keep, beside two references
measured in the same run: the process after the app was built (nothing replayed yet), and the
process ten minutes into the traffic (the working set of a warmed-up bot). SQLite's page cache is
a bounded cache that fills as the database grows (``CACHE_MIB`` per connection), so the verdict is
taken on the second half of the run: memory is flat when the last reading is within 4 MiB of the
half-time one although the traffic kept coming.

    .venv/bin/python bench/soak.py [--minutes 90] [--rate 20] [--members 3000] [--platform discord]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
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
         "docs plugin error version config test deploy meetup welcome hello https://example.org/docs "
         "see `code` sudo apt").split()
PAGE = os.sysconf("SC_PAGE_SIZE")


#: the store's SQLite page cache per connection (bot/storage/db.py): it fills, then stays
CACHE_MIB = 32


def rss_mib() -> float:
    """Resident set size of this process, from /proc (what `ps` and the OOM killer see)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


def state_sizes(app) -> dict[str, int]:
    """Entries in the per-process state that grows with traffic if nothing lets it go."""
    from bot.moderation.windows import state

    st = state(app.engine)
    out = {"py blocks": sys.getallocatedblocks(), "flood window entries": sum(len(d) for d in st.windows.values()),
           "flood members": len(st.windows),
           "speakers": sum(len(d) for d in st.spoke.values())}
    q = app.services.questions
    if q is not None:
        tr = q.tracker
        windows = tr.links.reader.windows.values()
        out["tracked questions"] = len(tr.tracked)
        out["pair history"] = sum(len(w.pairs.last) for w in windows)
        out["recent lines"] = sum(len(w.lines) for w in windows)
        out["conversation ids"] = sum(len(c) for c in tr.links.conv.values())
    return out


def traffic(minutes: int, rate: float, members: int, channels: int, platform: str, seed: int = 7):
    """Messages at ``rate`` a second over ``minutes`` of community time, in order."""
    rng = random.Random(seed)
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    n = int(minutes * 60 * rate)
    for i in range(n):
        t = t0 + timedelta(seconds=i / rate)
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 18)))
        if rng.random() < 0.2:
            text += "?"
        author = f"{rng.randint(1, members):06d}"
        yield MessagePosted(platform, t, channel_id=f"{rng.randint(1, channels):04d}", message_id=f"{i + 1:012d}",
                            author_id=author, text=text, thread_id=None, mentions=(), is_bot=False)


async def soak(args, path: Path) -> None:
    settings = demo_settings(f"sqlite:///{path}")
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    clock = SimulatedClock(t0 - timedelta(days=1))
    app = await build(settings, clock=clock, dry_run=True)
    for i in range(1, args.members + 1):
        await app.engine.dispatch(MemberJoined(args.platform, t0 - timedelta(days=40), member_id=f"{i:06d}",
                                               display_name=f"member {i}"))
    await app.store.flush()
    gc.collect()
    built = rss_mib()
    print(f"{'community time':>14}  {'messages':>9}  {'RSS MiB':>8}  state entries")
    print(f"{'built':>14}  {0:>9,}  {built:>8.1f}  {state_sizes(app)}")
    readings: list[tuple[int, float]] = []
    next_mark = t0 + timedelta(minutes=10)
    n = 0
    started = time.perf_counter()
    for ev in traffic(args.minutes, args.rate, args.members, args.channels, args.platform):
        if ev.at >= next_mark:
            await app.store.flush()
            gc.collect()
            mins = int((next_mark - t0).total_seconds() // 60)
            readings.append((mins, rss_mib()))
            print(f"{mins:>11} min  {n:>9,}  {readings[-1][1]:>8.1f}  {state_sizes(app)}")
            next_mark += timedelta(minutes=10)
        clock.advance_to(ev.at)
        await app.engine.dispatch(ev)
        n += 1
    await app.store.flush()
    gc.collect()
    end = rss_mib()
    took = time.perf_counter() - started
    print(f"{'end':>14}  {n:>9,}  {end:>8.1f}  {state_sizes(app)}")
    await app.close()
    warm = readings[0][1] if readings else built
    half = next((r for m, r in readings if m >= args.minutes // 2), warm)
    print()
    print(f"messages replayed          {n:>10,}  over {args.minutes} min of community time ({took:.0f} s)")
    print(f"RSS after build            {built:>10.1f} MiB  (reference: nothing replayed)")
    print(f"RSS at 10 min              {warm:>10.1f} MiB  (reference: warmed up)")
    print(f"RSS at half time           {half:>10.1f} MiB")
    print(f"RSS at the end             {end:>10.1f} MiB")
    print(f"growth after warm-up       {end - warm:>+10.1f} MiB  (includes SQLite's page cache filling up to its "
          f"{CACHE_MIB} MiB bound)")
    print(f"growth over the second half {end - half:>+9.1f} MiB")
    print("flat" if end - half <= 4.0 else "NOT FLAT")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=int, default=90)
    ap.add_argument("--rate", type=float, default=20.0, help="messages per second of community time")
    ap.add_argument("--members", type=int, default=3000)
    ap.add_argument("--channels", type=int, default=12)
    ap.add_argument("--platform", default="discord", choices=("slack", "discord"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(soak(args, Path(tmp) / "steward.db"))


if __name__ == "__main__":
    main()
