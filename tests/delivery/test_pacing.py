"""Pacing slots: shared by instances on the real PostgreSQL server, the same arithmetic in memory."""

from __future__ import annotations

import asyncio
import time

from bot.delivery.rates import Bucket
from bot.delivery.slots import MemorySlots, PostgresSlots
from bot.storage import db


async def test_pacing_slots_are_shared_by_instances(pg_url):
    """Two instances reserve 40 sends into one channel (1/s, no burst) at once: only the slots
    within the 5-second horizon are granted, whoever asks, and never the same slot twice."""
    e1, e2 = db.create_engine(pg_url), db.create_engine(pg_url)
    try:
        s1, s2 = PostgresSlots(e1), PostgresSlots(e2)
        bucket = [Bucket("slack:chan:CWELCOME", 1.0, 1)]
        results = await asyncio.gather(*[(s1 if i % 2 else s2).reserve(bucket, 5.0) for i in range(40)])
        granted = sorted(w for ok, w in results if ok)
        assert len(granted) == 6
        # no slot is handed out twice: granted waits step by about one interval (less the time
        # that passed between the reservations)
        assert all(b - a > 0.3 for a, b in zip(granted, granted[1:], strict=False))
        denied = [w for ok, w in results if not ok]
        assert len(denied) == 34 and min(denied) > 5.0
        # a 429 pushes the bucket back for everyone
        await s1.penalize(bucket, 30.0)
        ok, wait = await s2.reserve(bucket, 5.0)
        assert not ok and wait > 29.0
    finally:
        await e1.dispose()
        await e2.dispose()


async def test_memory_slots_same_arithmetic():
    t = [100.0]
    slots = MemorySlots(now=lambda: t[0])
    b = [Bucket("discord:chan:1", 1.0, 5)]
    res = [await slots.reserve(b, 0.0) for _ in range(7)]
    assert [ok for ok, _ in res] == [True] * 5 + [False] * 2  # a burst of five, then one a second
    t[0] += 1.0
    assert (await slots.reserve(b, 0.0))[0] is True


def test_a_long_front_line_is_trimmed_in_place_and_the_back_line_kept():
    """Rows that came back on time queue at the front; when that line grows past its bound, the expired
    slots are dropped from it, and the back line (rows denied for the first time) stays as it was."""
    from bot.delivery.pacing import Pacer

    pacer = Pacer(MemorySlots())
    bucket = Bucket("chan:C1", interval=1.0, burst=1)
    first = pacer._staggered([bucket], 5.0)  # a first denial: the back line
    assert 4.0 < first <= 5.0 and set(pacer._stagger) == {"chan:C1"}
    now = time.monotonic()
    pacer._front.update({f"old:{i}": now - 10 for i in range(10_000)})  # long expired slots
    pacer._returns["row-1"] = now
    wait = pacer._staggered([Bucket("chan:C2", interval=1.0, burst=1)], 2.0, key="row-1")
    assert 1.0 < wait <= 2.0
    assert set(pacer._front) == {"chan:C2"}, "the front line keeps only the slots still ahead"
    assert set(pacer._stagger) == {"chan:C1"}, "the back line is not replaced by the front's"
