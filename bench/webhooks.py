"""Webhook benchmark: N events queued through ``app.services.webhooks`` (SQLite store) and sent by
the live delivery worker to a local receiver that checks every signature (the README's code),
beside the same signed bodies POSTed straight from aiohttp at the same concurrency, once with a new
connection per request and once over kept-alive connections (as the webhook gateway sends).
Measured in the same run; prints events/s and Steward's share.

    .venv/bin/python bench/webhooks.py [--events 2000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from bot.app import build  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from bot.webhooks.signing import HEADER, header  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-secret-0123456789"


def readme_verify():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n(\s*import hashlib, hmac, time\n.*?)```", text, re.S).group(1)
    ns: dict = {}
    exec("\n".join(ln[2:] if ln.startswith("  ") else ln for ln in code.splitlines()), ns)  # noqa: S102
    return ns["verify"]


async def receiver(count: list[int]) -> tuple[web.AppRunner, str]:
    verify = readme_verify()

    async def handle(request: web.Request) -> web.Response:
        raw = await request.read()
        if not verify(SECRET, request.headers.get(HEADER, ""), raw):
            return web.Response(status=401)
        count[0] += 1
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/hook"


async def steward(n: int, url: str, concurrency: int, tmp: Path, count: list[int]) -> tuple[float, list[str]]:
    os.environ["BENCH_HOOK_SECRET"] = SECRET
    settings = load_settings(None, storage={"url": f"sqlite:///{tmp / 'bench.db'}"}, features={
        "delivery": {"concurrency": concurrency, "pacing": False, "poll_seconds": 0.05},
        "webhooks": {"endpoints": {"crm": {"url": url, "secret_env": "BENCH_HOOK_SECRET", "events": ["*"]}}}})
    (tmp / "playbooks").mkdir()
    app = await build(settings, gateways={}, playbooks_dir=tmp / "playbooks")
    q = app.services.webhooks
    assert q is not None
    t_queue = time.perf_counter()
    for i in range(n):
        await q.emit("member.joined", {"member": {"platform": "slack", "id": f"U{i:06d}"},
                                       "joined_at": "2026-03-02T10:00:00Z"}, key=f"slack:U{i:06d}")
    queued = time.perf_counter() - t_queue
    bodies = [r.message.text for r in await app.store.outbox(status="pending")]
    app.outbox.sender = None
    stop = asyncio.Event()
    start = count[0]
    t0 = time.perf_counter()
    loop = asyncio.create_task(app.delivery.run(stop))
    while count[0] - start < n:
        await asyncio.sleep(0.01)
    took = time.perf_counter() - t0
    stop.set()
    await loop
    await app.close()
    print(f"  queueing {n} events: {n / queued:,.0f} events/s")
    return took, bodies


async def raw(bodies: list[str], url: str, concurrency: int, count: list[int], *, keep_alive: bool) -> float:
    sem = asyncio.Semaphore(concurrency)
    shared = aiohttp.ClientSession() if keep_alive else None

    async def one(body: str) -> None:
        data = body.encode()
        headers = {"Content-Type": "application/json", HEADER: header(SECRET, data)}
        async with sem:
            if shared is not None:
                async with shared.post(url, data=data, headers=headers) as r:
                    await r.read()
            else:
                async with aiohttp.ClientSession() as s, s.post(url, data=data, headers=headers) as r:
                    await r.read()

    t0 = time.perf_counter()
    await asyncio.gather(*(one(b) for b in bodies))
    took = time.perf_counter() - t0
    if shared is not None:
        await shared.close()
    return took


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=32)
    a = ap.parse_args()
    count = [0]
    runner, url = await receiver(count)
    try:
        with tempfile.TemporaryDirectory() as d:
            print(f"{a.events} signed webhook events to a local receiver that verifies each, {a.concurrency} at once")
            s, bodies = await steward(a.events, url, a.concurrency, Path(d), count)
            r_new = await raw(bodies, url, a.concurrency, count, keep_alive=False)
            r_keep = await raw(bodies, url, a.concurrency, count, keep_alive=True)
    finally:
        await runner.cleanup()
    n = a.events
    print(f"  Steward (outbox, delivery worker, kept-alive connections):  {n / s:,.0f} events/s ({s:.2f} s)")
    print(f"  raw aiohttp, a connection per request:                      {n / r_new:,.0f} events/s ({r_new:.2f} s)"
          f"  -> Steward at {r_new / s:.0%}")
    print(f"  raw aiohttp, kept-alive connections:                        {n / r_keep:,.0f} events/s ({r_keep:.2f} s)"
          f"  -> Steward at {r_keep / s:.0%}")


if __name__ == "__main__":
    asyncio.run(main())
