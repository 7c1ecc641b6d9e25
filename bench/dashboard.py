"""Dashboard page render times on a large store.

    nice .venv/bin/python bench/dashboard.py [--members 100000] [--messages 1000000] [--db PATH] [--rounds 30]

Builds the store of bench/scans.py (100,000 members, 1,000,000 messages, their questions, helps,
reactions and moderation cases) plus what a busy dashboard shows: outbox rows (sent, waiting, failed),
opt-outs, playbook runs and audit entries. Serves the dashboard on it, signs in as a manager and times
each page over HTTP (p50 / p99 of ``--rounds`` requests, after one warm-up), beside the time of the
page's underlying queries alone, called directly in the same run. Target: every page under 300 ms p99.
The overview's health figures are computed once and then refreshed in the background (at most every
two minutes); their cost is the overview's query line.
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
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from scans import NOW, _ts, build_store  # noqa: E402 - the same store as bench/scans.py

MANAGER = "U0000001"


def populate_more(path: Path, n_members: int, seed: int = 2) -> dict[str, int]:
    """What the dashboard lists beyond the scans' store."""
    rng = random.Random(seed)
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous=OFF")
    outbox, runs, audit = [], [], []
    statuses = ("sent",) * 8 + ("pending", "failed")
    for i in range(60_000):
        at = NOW - timedelta(days=90 * rng.random())
        member = f"U{rng.randrange(n_members):07d}"
        status = rng.choice(statuses)
        outbox.append((f"k{i}", "slack", rng.choice(("welcome", "lurkers", "ambassadors")), "send_dm", "dm", member,
                       "Hi, welcome!", "newcomer", status, "quiet hours" if status == "pending" else
                       ("cannot_dm_bot" if status == "failed" else None), _ts(at + timedelta(hours=1)), _ts(at),
                       _ts(at) if status == "sent" else None))
        runs.append((f"r{i}", rng.choice(("welcome", "lurkers", "ambassadors", "unanswered")), "slack", member,
                     "once", _ts(at)))
        audit.append((_ts(at), "slack", f"U{rng.randrange(50):07d}", rng.choice(("button:approve", "command:stats",
                                                                                  "button:resolve", "case:warn")),
                       member, "{}"))
    con.executemany("INSERT INTO outbox (dedupe_key, platform, playbook_id, action, kind, member_id, text, reason, "
                    "status, error, not_before, created_at, sent_at, attempts, automated, unsure) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,0,1,0)", outbox)
    con.executemany("INSERT INTO playbook_runs (run_key, playbook_id, platform, subject, period, created_at) "
                    "VALUES (?,?,?,?,?,?)", runs)
    con.executemany("INSERT INTO audit_log (at, platform, actor, action, target, detail) VALUES (?,?,?,?,?,?)", audit)
    con.executemany("INSERT INTO member_preferences (platform, member_id, opted_out, opted_out_at, updated_at) "
                    "VALUES ('slack', ?, 1, ?, ?)",
                    [(f"U{i:07d}", _ts(NOW - timedelta(days=i % 300)), _ts(NOW)) for i in range(0, n_members, 50)])
    con.commit()
    con.execute("ANALYZE")
    con.close()
    return {"outbox rows": len(outbox), "runs": len(runs), "audit entries": len(audit)}


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(p * (len(xs) - 1))))]


async def bench(db: Path, rounds: int) -> list[tuple[str, list[float], list[float]]]:
    import aiohttp

    from bot.app import build
    from bot.community import ambassadors as amb
    from bot.community.health import compute_health
    from bot.community.questions import channel_names
    from bot.core.clock import SimulatedClock
    from bot.dashboard import auth, queries
    from bot.dashboard.server import Dashboard
    from bot.moderation.queue import service
    from bot.settings import load_settings

    settings = load_settings(None, storage={"url": f"sqlite:///{db}"}, managers={"slack_user_ids": [MANAGER]},
                             channels={"help": {"slack": "C0000"}, "welcome": {"slack": "C0001"},
                                       "moderators": {"slack": "C0019"}}, dashboard={"port": 0})
    app = await build(settings, clock=SimulatedClock(NOW), dry_run=True, playbooks_dir=ROOT / "playbooks")
    dash = Dashboard(app)
    await dash.start()
    store, plat, now = app.store, "slack", NOW
    staff = tuple(app.engine.roles.staff_ids(plat))

    async def health():
        for start, end in ((now - timedelta(days=30), now), (now - timedelta(days=60), now - timedelta(days=30))):
            await compute_health(store, platform=plat, start=start, end=end, staff_ids=staff)

    async def questions():
        rows = await queries.open_questions(store, plat)
        await queries.count_open_questions(store, plat)
        await channel_names(store, plat, settings)
        await queries.names(store, plat, {r["author_id"] for r in rows})

    async def candidates():
        await amb.rank_candidates(store, plat, now=now, cfg=amb.ambassador_settings(settings),
                                  weights=amb.playbook_weights(app.engine), staff_check=amb.staff_check(app.engine, plat))

    async def cases():
        svc = service(app.engine)
        for c in await svc.cases.open_cases(plat, limit=queries.PAGE):
            await svc.cases.history(c.platform, c.member_id, c.id)

    async def outreach():
        for st, order in ((("sent",), "newest"), (("pending", "sending"), "due"), (("failed", "skipped"), "newest")):
            await queries.outbox(store, plat, st, order=order)
        await queries.opt_outs(store, plat)
        await queries.budget_used(store, now=now)

    async def playbooks():
        for pid in app.engine.playbooks:
            await queries.last_runs(store, pid)

    async def search():
        await queries.find_members(store, plat, "member 4242")

    async def member():
        await queries.activity(store, plat, "U0000042", now=now)
        await queries.outbox(store, plat, ("sent", "pending", "sending", "failed", "skipped"), member_id="U0000042",
                             limit=20)
        await queries.member_cases(store, plat, "U0000042")

    async def audit():
        await queries.audit(store, platform=plat)
        await queries.audit(store, platform=plat, action="button:", actor="U0000007")

    pages = [("/", health), ("/questions", questions), ("/ambassadors", candidates), ("/moderation", cases),
             ("/outreach", outreach), ("/playbooks", playbooks), ("/members?q=member+4242", search),
             ("/members/U0000042", member), ("/audit", audit), ("/audit?action=button:&actor=U0000007", audit)]
    out = []
    try:
        link = await auth.link_for(dash, plat, MANAGER)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.post(dash.url + "/login", data={"token": link.rsplit("/", 1)[1]}) as r:
                assert r.status == 200, r.status
            for path, q in pages:
                async with http.get(dash.url + path) as r:  # warm-up (and the overview's first computation)
                    assert r.status == 200, (path, r.status)
                    await r.read()
                page_t = []
                for _ in range(rounds):
                    t0 = time.perf_counter()
                    async with http.get(dash.url + path) as r:
                        await r.read()
                    page_t.append(time.perf_counter() - t0)
                query_t = []
                for _ in range(max(3, rounds // 3) if path == "/" else rounds):
                    t0 = time.perf_counter()
                    await q()
                    query_t.append(time.perf_counter() - t0)
                out.append((path, page_t, query_t))
    finally:
        await dash.stop()
        await app.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description="dashboard page render times")
    ap.add_argument("--members", type=int, default=100_000)
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--db", default=None, help="keep the store here (default: a temporary file)")
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="steward-dashboard-")
    db = Path(args.db) if args.db else Path(tmp.name) / "dashboard.db"

    if not db.exists() or not args.db:
        build_store(db, args.members, args.messages, populate_more)
    results = asyncio.run(bench(db, args.rounds))
    print(f"\n{'page':<40}{'page p50':>10}{'page p99':>10}{'queries p50':>13}{'queries p99':>13}")
    for path, page_t, query_t in results:
        print(f"{path:<40}{pct(page_t, .5) * 1000:>7.1f} ms{pct(page_t, .99) * 1000:>7.1f} ms"
              f"{pct(query_t, .5) * 1000:>10.1f} ms{pct(query_t, .99) * 1000:>10.1f} ms")
    worst = max(pct(p, .99) for _, p, _ in results)
    print(f"\nslowest page p99 {worst * 1000:.0f} ms: target < 300 ms -> {'met' if worst < 0.3 else 'NOT met'}")
    print(f"({args.rounds} requests per page after one warm-up; queries: the page's reads called directly; "
          f"mean page time {statistics.mean(t for _, p, _ in results for t in p) * 1000:.0f} ms)")
    tmp.cleanup()


if __name__ == "__main__":
    main()
