"""Backtest benchmark: generate a Slack workspace export (default 100,000 members, 1,000,000
messages), run ``steward backtest`` on it, and print the import rate beside the raw sqlite3
executemany insert rate of the same message rows measured in the same run, the total backtest
time and the backtest's peak memory.

    .venv/bin/python bench/backtest.py [--members 100000] [--messages 1000000] [--days 365]

The export is backtested twice. The import rate is the import path's: the export streamed through
the importer, the engine and the store, without playbooks or features (``--only import``). The full
backtest (``--only full``) adds the shipped playbooks and features (question tracking, moderation
rules, scheduled scans, findings, health, report); its replay rate and total time are printed too.

Targets: import rate >= 25% of the raw insert rate; peak memory < 1 GiB.

The export looks like an established community: every member is in users.json, a share of them
(``--joiners``, default 10%) joins during the exported year (so the welcome playbook runs for
each of them), messages are spread over 20 channels with threads, mentions, reactions, edits,
shared files and some bot messages.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORDS = ("the build works now thanks for the help how do I configure proxy install upgrade release docs "
         "plugin error version config test deploy meetup welcome hello kernel driver boot screen").split()
CHANNELS = 20


def generate(root: Path, members: int, messages: int, days: int, joiners: float, seed: int = 5) -> dict:
    """Write the export; returns counts of what was written (for checking the backtest's counts)."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    uids = [f"U{i:09d}" for i in range(members)]
    bots = [f"B{i:04d}" for i in range(5)]
    with open(root / "users.json", "wb") as f:
        f.write(b"[")
        for i, u in enumerate(uids + bots):
            f.write((b"," if i else b"") + orjson.dumps({
                "id": u, "name": f"user{i}", "real_name": f"User {i}", "deleted": False,
                "is_bot": u.startswith("B"), "tz": "Europe/Amsterdam",
                "profile": {"display_name": f"user{i}", "real_name": f"User {i}"}}))
        f.write(b"]")
    chans = [{"id": f"C{i:08d}", "name": "general" if i == 0 else f"topic-{i}", "is_general": i == 0,
              "created": 1_600_000_000, "topic": {"value": ""}, "purpose": {"value": ""}} for i in range(CHANNELS)]
    (root / "channels.json").write_bytes(orjson.dumps(chans))
    start = datetime(2025, 1, 1, tzinfo=UTC)
    n_join = int(members * joiners)
    # joiners: spread over the year in the general channel; they post only after joining
    join_day = {uids[i]: rng.randrange(days) for i in range(members - n_join, members)}
    per_day = messages // days
    counts = {"messages": 0, "bot_messages": 0, "joins": 0}
    active = uids[: members - n_join]
    joined_by_day: dict[int, list[str]] = {}
    for u, d in join_day.items():
        joined_by_day.setdefault(d, []).append(u)
    written = 0
    for d in range(days):
        day = start + timedelta(days=d)
        files: dict[str, list] = {c["name"]: [] for c in chans}
        for u in joined_by_day.get(d, ()):
            t = day.timestamp() + rng.random() * 3600
            files["general"].append({"type": "message", "subtype": "channel_join", "user": u,
                                     "text": f"<@{u}> has joined the channel", "ts": f"{t:.6f}"})
            counts["joins"] += 1
        active.extend(joined_by_day.get(d, ()))
        n_today = per_day if d < days - 1 else messages - written
        recent: dict[str, list[str]] = {c["name"]: [] for c in chans}
        for k in range(n_today):
            ch = chans[rng.randrange(CHANNELS)]["name"]
            t = day.timestamp() + 3600 + (k / max(n_today, 1)) * 80_000 + rng.random()
            ts = f"{t:.6f}"
            if rng.random() < 0.02:
                m = {"type": "message", "subtype": "bot_message", "bot_id": rng.choice(bots),
                     "username": "helper-bot", "text": "Reminder: read the FAQ", "ts": ts}
                counts["bot_messages"] += 1
            else:
                u = active[min(len(active) - 1, int(rng.paretovariate(1.2))) if rng.random() < 0.5
                           else rng.randrange(len(active))]
                text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 16)))
                if rng.random() < 0.15:
                    text = f"<@{rng.choice(active)}> " + text
                if rng.random() < 0.2:
                    text += "?"
                m = {"type": "message", "user": u, "text": text, "ts": ts}
                if recent[ch] and rng.random() < 0.3:
                    m["thread_ts"] = rng.choice(recent[ch])
                    m["parent_user_id"] = u
                if rng.random() < 0.1:
                    m["reactions"] = [{"name": "+1", "users": rng.sample(active, min(2, len(active))), "count": 2}]
                if rng.random() < 0.03:
                    m["edited"] = {"user": u, "ts": f"{t + 60:.6f}"}
                if rng.random() < 0.02:
                    m["files"] = [{"id": f"F{written}", "name": "log.txt"}]
                counts["messages"] += 1
            recent[ch].append(ts)
            del recent[ch][:-20]
            files[ch].append(m)
            written += 1
        for name, msgs in files.items():
            if msgs:
                msgs.sort(key=lambda m: float(m["ts"]))
                (root / name).mkdir(exist_ok=True)
                (root / name / f"{day.date().isoformat()}.json").write_bytes(orjson.dumps(msgs))
    return counts


def raw_insert_rate(root: Path, db: Path) -> tuple[float, int]:
    """The reference: the same message rows into the same messages table (same indexes, same
    PRAGMAs as the backtest's database) with plain sqlite3 executemany, in 5,000-row batches.
    Only the inserts are timed."""
    from sqlalchemy import create_engine

    from bot.replay.slack_export import ts_to_datetime
    from bot.storage.models import Base

    eng = create_engine(f"sqlite:///{db}")
    Base.metadata.create_all(eng, tables=[Base.metadata.tables["messages"]])
    eng.dispose()
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-65536")
    sql = ("INSERT OR IGNORE INTO messages (platform, channel_id, message_id, author_id, text, posted_at, thread_id, "
           "reply_to, mentions, is_bot, is_question, kind, edited_at, deleted) "
           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
    chans = {c["name"]: c["id"] for c in orjson.loads((root / "channels.json").read_bytes())}
    elapsed, n, batch = 0.0, 0, []

    def flush() -> None:
        nonlocal elapsed, n, batch
        t = time.perf_counter()
        con.executemany(sql, batch)
        con.commit()
        elapsed += time.perf_counter() - t
        n += len(batch)
        batch = []

    for name, cid in chans.items():
        d = root / name
        if not d.is_dir():
            continue
        for p in sorted(d.glob("*.json")):
            for m in orjson.loads(p.read_bytes()):
                if m.get("subtype") == "channel_join":
                    continue
                ts = m["ts"]
                th = m.get("thread_ts")
                batch.append(("slack", cid, ts, m.get("user") or m.get("bot_id"), m.get("text"),
                              ts_to_datetime(ts).strftime("%Y-%m-%d %H:%M:%S.%f"), th if th != ts else None,
                              None, None, int("bot_id" in m), 0, None, None, 0))
                if len(batch) >= 5000:
                    flush()
    if batch:
        flush()
    con.close()
    return n / elapsed, n


RUNNER = r"""
import asyncio, collections, json, resource, sys, tempfile, time
sys.path.insert(0, sys.argv[4])
import bot.app
from bot.replay.backtest import run_backtest
playbooks = None
if sys.argv[5] == "bare":
    # the import path alone: importer, engine dispatch and store, without playbooks or features
    bot.app.FEATURES = ()
    playbooks = tempfile.mkdtemp()
split = collections.defaultdict(lambda: [0, 0.0])
if sys.argv[6] == "split":
    # CPU time per event type and per scheduled playbook (costs a little: off unless asked)
    from bot.engine.runner import Engine
    clock = time.process_time
    dispatch, fire = Engine.dispatch, Engine.fire_schedule

    async def timed_dispatch(self, ev):
        t = clock()
        await dispatch(self, ev)
        s = split["event " + ev.name]; s[0] += 1; s[1] += clock() - t

    async def timed_fire(self, pid, when, *a, **kw):
        t = clock()
        out = await fire(self, pid, when, *a, **kw)
        s = split["tick " + pid]; s[0] += 1; s[1] += clock() - t
        return out

    Engine.dispatch, Engine.fire_schedule = timed_dispatch, timed_fire
t = time.perf_counter()
r = asyncio.run(run_backtest(sys.argv[1], sys.argv[2], db_dir=sys.argv[3], playbooks=playbooks))
print(json.dumps({"total_s": time.perf_counter() - t, "replay_s": r.replay_seconds, "events": r.events,
                  "messages": r.messages, "human_messages": r.summary.counts["messages"],
                  "health_messages": r.health["messages"], "actions": sum(r.actions.values()),
                  "findings": sum(r.findings.values()), "problems": len(r.summary.problems),
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "split": split}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--members", type=int, default=100_000)
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--joiners", type=float, default=0.10, help="share of members who join during the export")
    ap.add_argument("--keep", action="store_true", help="keep the generated export and outputs")
    ap.add_argument("--only", choices=("import", "full"),
                    help="run one of the two backtests: the import path alone (no playbooks, no feature "
                         "observers or scans) or the full one")
    ap.add_argument("--bare", action="store_true", help="the same as --only import")
    ap.add_argument("--split", action="store_true",
                    help="also print the CPU time per event type and per scheduled playbook (slows the run a little)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="steward-bench-"))
    try:
        export = tmp / "export"
        t = time.perf_counter()
        counts = generate(export, args.members, args.messages, args.days, args.joiners)
        size = sum(p.stat().st_size for p in export.rglob("*.json"))
        print(f"generated {args.members:,} members, {counts['messages']:,} member messages, "
              f"{counts['bot_messages']:,} bot messages, {counts['joins']:,} joins over {args.days} days "
              f"({size / 2**20:,.0f} MiB) in {time.perf_counter() - t:.0f} s", flush=True)
        if args.bare:
            args.only = "import"
        runs = {}
        for mode in ("import", "full"):
            if args.only and args.only != mode:
                continue
            proc = subprocess.run([sys.executable, "-c", RUNNER, str(export), str(tmp / f"out-{mode}"), str(tmp),
                                   str(ROOT), "bare" if mode == "import" else "full",
                                   "split" if args.split else "-"],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                sys.stderr.write(proc.stderr)
                raise SystemExit(f"the {mode} backtest failed")
            runs[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
        raw_rate, raw_n = raw_insert_rate(export, tmp / "raw.db")
        print(f"\nraw sqlite3 executemany   {raw_rate:>12,.0f} rows/s      ({raw_n:,} rows, same table and indexes)")
        for mode, r in runs.items():
            rate = r["messages"] / r["replay_s"]
            if mode == "import":
                print(f"import rate               {rate:>12,.0f} messages/s  ({r['messages']:,} messages, "
                      f"{r['events']:,} events in {r['replay_s']:.1f} s: importer, engine and store)")
                print(f"ratio                     {100 * rate / raw_rate:>11.1f} %           (target >= 25%)")
            else:
                print(f"full backtest replay      {rate:>12,.0f} messages/s  ({r['replay_s']:.1f} s with the shipped "
                      f"playbooks and features; {100 * rate / raw_rate:.1f}% of raw)")
            print(f"total backtest time       {r['total_s']:>12.1f} s           ({mode}: import, replay, findings, "
                  f"health, report)")
            print(f"peak memory               {r['peak_rss_mib']:>12,.0f} MiB         ({mode}; target < 1024 MiB)")
            print(f"health.json messages      {r['health_messages']:>12,}             "
                  f"(member messages written: {counts['messages']:,})")
            print(f"actions {r['actions']:,}, findings {r['findings']:,}, import problems {r['problems']}")
            if r["split"]:
                print(f"\nCPU time in the {mode} replay (--split):")
                for what, (n, secs) in sorted(r["split"].items(), key=lambda kv: -kv[1][1]):
                    print(f"  {what:<28} {secs:>9.1f} s  {n:>10,} x  {1e6 * secs / max(n, 1):>9,.0f} us each")
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
