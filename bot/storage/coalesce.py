"""Concurrent one-row statements of one kind, run as one statement (PostgreSQL).

Events are processed many at a time, and each asks the store the same few things: insert this
member, write this run key, read this member's preferences, queue this message. One statement per
event and question costs a round trip and the client library's per-statement work each time;
under load that, not the database, is the ceiling. A ``Coalescer`` collects the requests that
arrive while the event loop goes round once (and while the previous statement of its kind is in
flight) and answers them all from one statement over arrays (``unnest``), whose text never
changes, so it is prepared once per connection. Each repository keeps its batched statement beside
its one-row code (members, runs, preferences, outbox).

Each request gets the answer it would have got alone: an insert that found its key taken answers
as the single-row statement would (a duplicate within one batch included: the first of them
inserts). A statement that fails for a reason other than a lost connection is retried row by row,
so one bad row fails alone. A lost connection fails every request of the batch with that error,
and each caller's own retry (bot/storage/resilience.py) asks again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

log = logging.getLogger("steward.storage")

Req = TypeVar("Req")
Res = TypeVar("Res")


class Coalescer(Generic[Req, Res]):
    """``await c(request)``: the request joins the next batch; ``run_many`` answers a batch (one
    answer per request, in order), ``run_one`` a single request (alone, or after a batch failed)."""

    def __init__(self, run_many: Callable[[list[Req]], Awaitable[list[Res]]],
                 run_one: Callable[[Req], Awaitable[Res]], *, max_batch: int = 256) -> None:
        self.run_many = run_many
        self.run_one = run_one
        self.max_batch = max_batch
        self._waiting: list[tuple[Req, asyncio.Future]] = []
        self._task: asyncio.Task | None = None
        #: counters: statements run, requests answered
        self.statements = 0
        self.requests = 0

    async def __call__(self, request: Req) -> Res:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        if self._task is not None and self._task.get_loop() is not loop:
            # the store outlived an event loop (one asyncio.run after another): start afresh
            self._task, self._waiting = None, [(r, f) for r, f in self._waiting if f.get_loop() is loop]
        self._waiting.append((request, fut))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush())
        return await fut

    async def _flush(self) -> None:
        from bot.storage.resilience import is_disconnect

        await asyncio.sleep(0)  # the other requests of this turn of the loop join in
        while self._waiting:
            batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch:]
            batch = [(r, f) for r, f in batch if not f.done()]  # a caller that gave up is not asked for
            if not batch:
                continue
            self.statements += 1
            self.requests += len(batch)
            try:
                if len(batch) == 1:
                    results = [await self.run_one(batch[0][0])]
                else:
                    results = await self.run_many([r for r, _ in batch])
            except Exception as e:
                if len(batch) == 1 or is_disconnect(e):
                    for _, f in batch:
                        if not f.done():
                            f.set_exception(e)
                    continue
                log.info("a batch of %d failed (%s); running its rows one by one", len(batch), type(e).__name__)
                for r, f in batch:
                    try:
                        res = await self.run_one(r)
                    except Exception as e1:
                        if not f.done():
                            f.set_exception(e1)
                    else:
                        if not f.done():
                            f.set_result(res)
                continue
            for (_, f), res in zip(batch, results, strict=True):
                if not f.done():
                    f.set_result(res)


def first_claims(keys: Sequence[Any], inserted: set) -> list[bool]:
    """Which requests inserted their row: a key the statement returned, first request per key."""
    seen: set = set()
    out = []
    for k in keys:
        out.append(k in inserted and k not in seen)
        seen.add(k)
    return out
