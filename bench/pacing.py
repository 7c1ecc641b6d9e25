"""Pacing benchmark: a join wave's sends through the live delivery worker (SQLite store, pacer in
memory) into a gateway that only records: a burst of posts into one channel at the channel's rate,
and a wave of DMs under the global rate. Prints how long the posts took beside the time their
channel's rate allows, how often each row was claimed (a row put back to wait for its slot and
claimed again costs a claim, the delivery policies and a reservation each time), and the CPU per
message sent, beside the same messages through the same worker with pacing off (measured in the
same run).

    .venv/bin/python bench/pacing.py [--posts 60] [--dms 200] [--rate 10]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.core.clock import SystemClock  # noqa: E402
from bot.core.records import OutboundMessage, SendResult  # noqa: E402
from bot.delivery.options import DeliveryOptions  # noqa: E402
from bot.delivery.outbox import Outbox  # noqa: E402
from bot.delivery.worker import DeliveryWorker  # noqa: E402
from bot.storage import db  # noqa: E402
from bot.storage.repositories import Store  # noqa: E402


class Recorder:
    """A platform that accepts everything after a millisecond (a fast, local round trip)."""

    platform = "discord"

    def __init__(self) -> None:
        self.sent = 0

    async def send(self, message: OutboundMessage) -> SendResult:
        await asyncio.sleep(0.001)
        self.sent += 1
        return SendResult(ok=True, native_id=str(self.sent))


async def run(posts: int, dms: int, rate: float, pacing: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        engine = db.create_engine(f"sqlite:///{tmp}/bench.db")
        await db.upgrade(engine)
        gw = Recorder()
        ob = Outbox(Store(engine), SystemClock(), {"discord": gw}, policies=[])
        opts = DeliveryOptions(pacing=pacing, limits={"discord": {"per_channel": {"per_s": rate, "burst": 1}}})
        worker = DeliveryWorker(ob, opts)
        for i in range(posts):
            await ob.submit(OutboundMessage(platform="discord", kind="channel", text=f"Welcome {i}!", channel_id="1",
                                            dedupe_key=f"post:{i}"), playbook_id="welcome", action="post",
                            reason="joined", deliver_now=False)
        for i in range(dms):
            await ob.submit(OutboundMessage(platform="discord", kind="dm", text=f"Hello {i}", member_id=str(10_000 + i),
                                            dedupe_key=f"dm:{i}"), playbook_id="welcome", action="dm",
                            reason="joined", deliver_now=False)
        claims: Counter = Counter()
        claim = ob.store.claim_due

        async def counted(*args, **kwargs):
            items = await claim(*args, **kwargs)
            claims.update(i.id for i in items)
            return items

        ob.store.claim_due = counted
        stop = asyncio.Event()
        t0, c0 = time.monotonic(), time.process_time()
        task = asyncio.create_task(worker.run(stop))
        try:
            while gw.sent < posts + dms:
                await asyncio.sleep(0.01)
        finally:
            elapsed, cpu = time.monotonic() - t0, time.process_time() - c0
            stop.set()
            await task
            del ob.store.claim_due
            await engine.dispose()
        post_claims = [n for k, n in claims.items() if k <= posts]
        return {"elapsed": elapsed, "cpu_ms": 1000 * cpu / (posts + dms),
                "claims": sum(claims.values()) / (posts + dms),
                "post_claims": sum(post_claims) / max(1, len(post_claims)), "post_max": max(post_claims, default=0)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--posts", type=int, default=60)
    ap.add_argument("--dms", type=int, default=200)
    ap.add_argument("--rate", type=float, default=10.0, help="the channel's posts a second")
    a = ap.parse_args()
    paced = asyncio.run(run(a.posts, a.dms, a.rate, True))
    ref = asyncio.run(run(a.posts, a.dms, a.rate, False))
    allowed = (a.posts - 1) / (a.rate * 0.97)
    print(f"{a.posts} posts into one channel at {a.rate:g}/s and {a.dms} DMs, through the delivery worker")
    print(f"  all sent after          {paced['elapsed']:7.1f} s   (the channel's rate allows {allowed:.1f} s)")
    print(f"  claims per message      {paced['claims']:7.2f}     (posts {paced['post_claims']:.2f}, "
          f"at most {paced['post_max']}; 1 = never put back)")
    print(f"  CPU per message sent    {paced['cpu_ms']:7.2f} ms  (reference, pacing off: {ref['cpu_ms']:.2f} ms, "
          f"{ref['claims']:.2f} claims per message)")


if __name__ == "__main__":
    main()
