"""Concurrent one-row statements of one kind, run as one statement (PostgreSQL).

Events are processed many at a time, and each asks the store the same few things: insert this
member, write this run key, read this member's preferences, queue this message. One statement per
event and question costs a round trip and the client library's per-statement work each time;
under load that, not the database, is the ceiling. A ``Coalescer`` collects the requests that
arrive while the event loop goes round once (and while the previous statement of its kind is in
flight) and answers them all from one statement over arrays (``unnest``), whose text never
changes, so it is prepared once per connection.

Each request gets the answer it would have got alone: an insert that found its key taken answers
as the single-row statement would (a duplicate within one batch included: the first of them
inserts). A statement that fails for a reason other than a lost connection is retried row by row,
so one bad row fails alone. A lost connection fails every request of the batch with that error,
and each caller's own retry (bot/storage/resilience.py) asks again.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy import text

from bot.core.events import MemberJoined
from bot.core.records import OutboundMessage, Preferences

if TYPE_CHECKING:
    from bot.storage.repositories import Store

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


def _first_claims(keys: Sequence[Any], inserted: set) -> list[bool]:
    """Which requests inserted their row: a key the statement returned, first request per key."""
    seen: set = set()
    out = []
    for k in keys:
        out.append(k in inserted and k not in seen)
        seen.add(k)
    return out


_MEMBERS = text("""
INSERT INTO members (platform, member_id, display_name, locale, timezone, joined_at, first_joined_at,
                     is_bot, is_staff, roles, join_count, forgotten)
SELECT p, m, dn, lo, tz, j, j, b, false, CAST('[]' AS json), 1, false
FROM unnest(CAST(:p AS text[]), CAST(:m AS text[]), CAST(:dn AS text[]), CAST(:lo AS text[]),
            CAST(:tz AS text[]), CAST(:j AS timestamptz[]), CAST(:b AS boolean[])) AS r(p, m, dn, lo, tz, j, b)
ON CONFLICT (platform, member_id) DO NOTHING
RETURNING platform, member_id
""")

_RUNS = text("""
INSERT INTO playbook_runs (run_key, playbook_id, platform, subject, period, created_at)
SELECT * FROM unnest(CAST(:k AS text[]), CAST(:pb AS text[]), CAST(:p AS text[]), CAST(:s AS text[]),
                     CAST(:per AS text[]), CAST(:t AS timestamptz[]))
ON CONFLICT (run_key) DO NOTHING
RETURNING run_key
""")

_PREFS = text("""
SELECT p.platform, p.member_id, p.opted_out, p.locale
FROM member_preferences p
JOIN unnest(CAST(:p AS text[]), CAST(:m AS text[])) AS r(p, m) ON p.platform = r.p AND p.member_id = r.m
""")

_OUTBOX = text("""
INSERT INTO outbox (dedupe_key, platform, playbook_id, action, kind, member_id, channel_id, thread_id, text,
                    payload, reason, status, error, attempts, not_before, created_at, automated)
SELECT k, p, pb, a, kd, m, c, th, tx, CAST(pl AS json), rs, st, NULL, 0, nb, ca, au
FROM unnest(CAST(:k AS text[]), CAST(:p AS text[]), CAST(:pb AS text[]), CAST(:a AS text[]),
            CAST(:kd AS text[]), CAST(:m AS text[]), CAST(:c AS text[]), CAST(:th AS text[]),
            CAST(:tx AS text[]), CAST(:pl AS text[]), CAST(:rs AS text[]), CAST(:st AS text[]),
            CAST(:nb AS timestamptz[]), CAST(:ca AS timestamptz[]), CAST(:au AS boolean[]))
     AS r(k, p, pb, a, kd, m, c, th, tx, pl, rs, st, nb, ca, au)
ON CONFLICT (dedupe_key) DO NOTHING
RETURNING id, dedupe_key
""")


class Enqueue:
    """One outbox row to insert (the arguments of ``Store.enqueue``)."""

    __slots__ = ("msg", "kw", "payload")

    def __init__(self, msg: OutboundMessage, payload: dict, kw: dict[str, Any]) -> None:
        self.msg = msg
        self.payload = payload
        self.kw = kw


class StoreBatches:
    """The store's hot one-row statements, coalesced. ``run_one`` of each is the store's own
    single-row code (the unbatched path), so a lone request is answered exactly as before."""

    def __init__(self, store: Store, *, one_member: Callable[[MemberJoined], Awaitable[bool]],
                 one_run: Callable[[dict], Awaitable[bool]],
                 one_prefs: Callable[[tuple[str, str]], Awaitable[Preferences]],
                 one_enqueue: Callable[[Enqueue], Awaitable[int | None]]) -> None:
        self.store = store
        self.new_member = Coalescer(self._members, one_member)
        self.run = Coalescer(self._runs, one_run)
        self.preferences = Coalescer(self._prefs, one_prefs)
        self.enqueue = Coalescer(self._enqueue, one_enqueue)

    async def _members(self, ms: list[MemberJoined]) -> list[bool]:
        params = {"p": [m.platform for m in ms], "m": [m.member_id for m in ms],
                  "dn": [m.display_name for m in ms], "lo": [m.locale for m in ms],
                  "tz": [m.timezone for m in ms], "j": [m.at for m in ms], "b": [bool(m.is_bot) for m in ms]}
        async with self.store.single() as conn:
            inserted = {(r.platform, r.member_id) for r in (await conn.execute(_MEMBERS, params)).all()}
        return _first_claims([(m.platform, m.member_id) for m in ms], inserted)

    async def _runs(self, runs: list[dict]) -> list[bool]:
        params = {"k": [r["run_key"] for r in runs], "pb": [r["playbook_id"] for r in runs],
                  "p": [r["platform"] for r in runs], "s": [r["subject"] for r in runs],
                  "per": [r["period"] for r in runs], "t": [r["now"] for r in runs]}
        async with self.store.single() as conn:
            inserted = {r.run_key for r in (await conn.execute(_RUNS, params)).all()}
        return _first_claims([r["run_key"] for r in runs], inserted)

    async def _prefs(self, keys: list[tuple[str, str]]) -> list[Preferences]:
        uniq = list(dict.fromkeys(keys))
        async with self.store.single(write=False) as conn:
            rows = (await conn.execute(_PREFS, {"p": [k[0] for k in uniq], "m": [k[1] for k in uniq]})).all()
        found = {(r.platform, r.member_id): Preferences(r.platform, r.member_id, bool(r.opted_out), r.locale)
                 for r in rows}
        return [found.get(k) or Preferences(k[0], k[1]) for k in keys]

    async def _enqueue(self, reqs: list[Enqueue]) -> list[int | None]:
        ms = [q.msg for q in reqs]
        kws = [q.kw for q in reqs]
        params = {
            "k": [m.dedupe_key for m in ms], "p": [m.platform for m in ms],
            "pb": [k["playbook_id"] for k in kws], "a": [k["action"] for k in kws], "kd": [m.kind for m in ms],
            "m": [m.member_id for m in ms], "c": [m.channel_id for m in ms], "th": [m.thread_id for m in ms],
            "tx": [m.text for m in ms], "pl": [json.dumps(q.payload) for q in reqs],
            "rs": [k["reason"] for k in kws], "st": [k["status"] for k in kws],
            "nb": [k["not_before"] for k in kws], "ca": [k["now"] for k in kws],
            "au": [bool(k.get("automated")) for k in kws],
        }
        async with self.store.single() as conn:
            ids = {r.dedupe_key: int(r.id) for r in (await conn.execute(_OUTBOX, params)).all()}
        firsts = _first_claims([m.dedupe_key for m in ms], set(ids))
        return [ids[m.dedupe_key] if first else None for m, first in zip(ms, firsts, strict=True)]

