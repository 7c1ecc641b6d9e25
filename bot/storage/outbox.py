"""Outbox rows: queued, claimed by a delivery worker, sent, deferred or given up; and what the
outreach caps and the hourly budget count. Each operation is one statement or one short
transaction, in autocommit on PostgreSQL where it is one statement."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy import text as sql_text
from sqlalchemy.exc import IntegrityError

from bot.core.clock import as_utc
from bot.core.records import OutboundMessage, OutboxItem
from bot.storage.base import Db, outbox_from_row
from bot.storage.coalesce import Coalescer, first_claims
from bot.storage.models import OutboxRow

OB = OutboxRow.__table__
#: the outbox again, for counting the budget's places inside an UPDATE of one of its rows
OB_BUDGET = OutboxRow.__table__.alias("budgeted")
#: PostgreSQL advisory lock around taking a place in the hourly outreach budget
_BUDGET_LOCK = int.from_bytes(b"stwbudgt", "big", signed=True)
#: outbox statuses the outreach caps count: queued, being sent, sent, or recorded in a dry run
COUNTED_STATUSES = ("pending", "sending", "sent", "dry_run")

#: PostgreSQL: concurrent rows queued by one statement (bot/storage/coalesce.py)
_MANY = sql_text("""
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


@dataclass(frozen=True)
class OpenRow:
    """An outbox row as read to be changed later with ``OutboxRows.swap``."""

    id: int
    status: str
    text: str
    payload: dict[str, Any]
    not_before: datetime


class Enqueue:
    """One outbox row to insert (the arguments of ``OutboxRows.enqueue``)."""

    __slots__ = ("msg", "kw", "payload")

    def __init__(self, msg: OutboundMessage, payload: dict, kw: dict[str, Any]) -> None:
        self.msg = msg
        self.payload = payload
        self.kw = kw


class OutboxRows:
    def __init__(self, db: Db) -> None:
        self.db = db
        self._many = Coalescer(self._enqueue_many, self._enqueue_one) if db.is_postgres else None

    # ----------------------------------------------------------------- queueing
    async def enqueue(self, req: Enqueue) -> int | None:
        """Insert an outbox row. None when the dedupe key exists (it was already queued or sent)."""
        if self._many is not None:
            return await self._many(req)
        return await self._enqueue_one(req)

    async def _enqueue_one(self, req: Enqueue) -> int | None:
        msg, kw = req.msg, req.kw
        try:
            async with self.db.single() as conn:
                res = await conn.execute(insert(OB).values(
                    dedupe_key=msg.dedupe_key, platform=msg.platform, playbook_id=kw["playbook_id"],
                    action=kw["action"], kind=msg.kind, member_id=msg.member_id, channel_id=msg.channel_id,
                    thread_id=msg.thread_id, text=msg.text, payload=req.payload, reason=kw["reason"],
                    status=kw["status"], error=None, attempts=0, not_before=kw["not_before"],
                    created_at=kw["now"], automated=kw["automated"],
                ).returning(OB.c.id))
                return int(res.scalar_one())
        except IntegrityError:
            return None

    async def _enqueue_many(self, reqs: list[Enqueue]) -> list[int | None]:
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
        async with self.db.single() as conn:
            ids = {r.dedupe_key: int(r.id) for r in (await conn.execute(_MANY, params)).all()}
        firsts = first_claims([m.dedupe_key for m in ms], set(ids))
        return [ids[m.dedupe_key] if first else None for m, first in zip(ms, firsts, strict=True)]

    # ----------------------------------------------------------------- reads
    async def item(self, item_id: int) -> OutboxItem | None:
        async with self.db.single(write=False) as conn:
            r = (await conn.execute(select(OB).where(OB.c.id == item_id))).first()
        return outbox_from_row(r) if r else None

    async def by_key(self, key: str) -> OutboxItem | None:
        async with self.db.engine.connect() as conn:
            r = (await conn.execute(select(OB).where(OB.c.dedupe_key == key))).first()
        return outbox_from_row(r) if r else None

    async def list(self, *, status: str | None = None, playbook_id: str | None = None) -> list[OutboxItem]:
        q = select(OB).order_by(OB.c.not_before, OB.c.id)
        if status:
            q = q.where(OB.c.status == status)
        if playbook_id:
            q = q.where(OB.c.playbook_id == playbook_id)
        async with self.db.engine.connect() as conn:
            return [outbox_from_row(r) for r in (await conn.execute(q)).all()]

    async def status_counts(self) -> dict[str, int]:
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(select(OB.c.status, func.count()).group_by(OB.c.status))).all()
        return {r[0]: int(r[1]) for r in rows}

    async def run_queued_anything(self, run_key: str) -> bool:
        """Whether a playbook run put any message in the outbox (dedupe keys start with its run key)."""
        prefix = run_key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + ":%"
        async with self.db.engine.connect() as conn:
            r = (await conn.execute(select(OB.c.id).where(OB.c.dedupe_key.like(prefix, escape="\\")).limit(1))).first()
        return r is not None

    # ----------------------------------------------------------------- claiming and outcomes
    async def claim_due(self, *, now: datetime, limit: int, worker: str) -> list[OutboxItem]:
        """Claim up to ``limit`` due rows for sending (``pending`` → ``sending``, one attempt spent),
        in the order they are due. PostgreSQL: one ``WITH due AS (SELECT ... FOR UPDATE SKIP LOCKED)
        UPDATE ... RETURNING``, so instances never take the same row and a claim is one round trip.
        SQLite has one writer, so a conditional update in a transaction does the same."""
        due = (select(OB.c.id).where(OB.c.status == "pending", OB.c.not_before <= now)
               .order_by(OB.c.not_before, OB.c.id).limit(limit))
        take = dict(status="sending", claimed_by=worker, claimed_at=now, attempts=OB.c.attempts + 1)
        if self.db.is_postgres:
            # MATERIALIZED: the locking subquery runs once; as a plain subquery PostgreSQL may run it
            # again per candidate row, and each run skips the rows the last one locked (a claim past the limit)
            due = due.with_for_update(skip_locked=True).cte("due").prefix_with("MATERIALIZED")
            stmt = update(OB).where(OB.c.id == due.c.id, OB.c.status == "pending").values(**take).returning(*OB.c)
            async with self.db.single() as conn:
                items = [outbox_from_row(r) for r in (await conn.execute(stmt)).all()]
            items.sort(key=lambda i: (i.not_before, i.id))
            return items
        async with self.db.engine.begin() as conn:
            ids = [r.id for r in (await conn.execute(due)).all()]
            if not ids:
                return []
            # RETURNING: exactly the rows this statement took. Reading back "claimed by this worker"
            # instead would also return rows that another drain of the same worker (two events
            # handled at once, each sending its due rows) took between the read above and this
            # update, and both would send them
            rows = (await conn.execute(update(OB).where(OB.c.id.in_(ids), OB.c.status == "pending")
                                       .values(**take).returning(*OB.c))).all()
        items = [outbox_from_row(r) for r in rows]
        items.sort(key=lambda i: (i.not_before, i.id))
        return items

    async def claim_stale(self, *, now: datetime, lease_s: float, worker: str,
                          previous_prefix: str | None = None, limit: int = 100) -> list[OutboxItem]:
        """Claim rows stuck in ``sending``: their claim is older than the lease, or (at start-up) they
        were claimed by an earlier run of this same named instance, which is certainly gone."""
        stale = now - timedelta(seconds=lease_s)
        cond = OB.c.claimed_at < stale
        if previous_prefix:
            cond = or_(cond, OB.c.claimed_by.like(previous_prefix + "%"))
        # this live worker's own rows are in its hands (a slow send is settled by its own timeout),
        # unless they are twice the lease old: then no send of its own can still be under way (the
        # outcome could not be recorded, say), and the row is looked at like anyone else's
        own_stale = now - timedelta(seconds=2 * lease_s)
        cond = cond & ((OB.c.claimed_by != worker) | OB.c.claimed_by.is_(None) | (OB.c.claimed_at < own_stale))
        async with self.db.engine.begin() as conn:
            q = select(OB.c.id).where(OB.c.status == "sending", cond).order_by(OB.c.id).limit(limit)
            if self.db.is_postgres:
                q = q.with_for_update(skip_locked=True)
            ids = [r.id for r in (await conn.execute(q)).all()]
            if not ids:
                return []
            # the update asks again whether each row is stale and returns exactly the rows it took:
            # another recovery of this worker may have taken one between the read above and here
            # (on SQLite the read is outside the write lock), and then it is fresh and this worker's
            rows = (await conn.execute(update(OB).where(OB.c.id.in_(ids), OB.c.status == "sending", cond)
                                       .values(claimed_by=worker, claimed_at=now).returning(*OB.c))).all()
        return sorted((outbox_from_row(r) for r in rows), key=lambda i: i.id)

    async def touch_claim(self, item_id: int, now: datetime) -> None:
        """Keep a claim fresh (an outcome that could not be checked yet is looked at again later)."""
        async with self.db.single() as conn:
            await conn.execute(update(OB).where(OB.c.id == item_id, OB.c.status == "sending").values(claimed_at=now))

    async def release(self, item_id: int, now: datetime) -> None:
        """A stuck row that certainly was not sent: make it due again."""
        async with self.db.single() as conn:
            await conn.execute(update(OB).where(OB.c.id == item_id, OB.c.status == "sending")
                               .values(status="pending", not_before=now, claimed_by=None))

    async def defer(self, item_id: int, *, not_before: datetime, error: str | None = None,
                    refund_attempt: bool = True) -> None:
        """Back to ``pending`` until ``not_before``. Pacing deferrals and 429s are not failed attempts,
        so they never count towards giving up."""
        values: dict[str, Any] = {"status": "pending", "not_before": not_before, "claimed_by": None}
        if error is not None:
            values["error"] = error
        if refund_attempt:
            values["attempts"] = OB.c.attempts - 1
        async with self.db.single() as conn:
            await conn.execute(update(OB).where(OB.c.id == item_id, OB.c.status == "sending").values(**values))

    async def mark(self, item_id: int, *, status: str, now: datetime, error: str | None = None,
                   native_id: str | None = None, not_before: datetime | None = None,
                   unsure: bool | None = None) -> None:
        """Record an attempt's outcome. ``unsure=True``: the platform may have made the message (the
        next attempt asks it first); None leaves that as it was; a sent row is sure."""
        values: dict[str, Any] = {"status": status, "error": error}
        if unsure is not None or status == "sent":
            values["unsure"] = bool(unsure)
        if status == "sent":
            values["sent_at"] = now
            values["native_id"] = native_id
        if not_before is not None:
            values["not_before"] = not_before
        async with self.db.single() as conn:
            await conn.execute(update(OB).where(OB.c.id == item_id).values(**values))

    # ----------------------------------------------------------------- rows a feature changes before they are sent
    async def move_status(self, platform: str, action: str, from_status: str, to_status: str, **values: Any) -> int:
        """Every row of ``action`` on ``platform`` in ``from_status`` moves to ``to_status`` (and takes
        ``values``); how many did."""
        async with self.db.single() as conn:
            res = await conn.execute(update(OB).where(OB.c.platform == platform, OB.c.action == action,
                                                      OB.c.status == from_status).values(status=to_status, **values))
        return res.rowcount or 0

    async def payloads(self, platform: str, action: str, status: str) -> list[dict[str, Any]]:
        """The payloads of the rows of ``action`` on ``platform`` in ``status``."""
        async with self.db.single(write=False) as conn:
            rows = (await conn.execute(select(OB.c.payload).where(OB.c.platform == platform, OB.c.action == action,
                                                                  OB.c.status == status))).all()
        return [dict(r.payload or {}) for r in rows]

    async def latest(self, platform: str, channel_id: str, playbook_id: str, action: str) -> OpenRow | None:
        """The newest row of ``action`` by ``playbook_id`` into ``channel_id``."""
        q = (select(OB.c.id, OB.c.status, OB.c.text, OB.c.payload, OB.c.not_before)
             .where(OB.c.platform == platform, OB.c.channel_id == channel_id, OB.c.playbook_id == playbook_id,
                    OB.c.action == action)
             .order_by(OB.c.id.desc()).limit(1))
        async with self.db.single(write=False) as conn:
            r = (await conn.execute(q)).first()
        return None if r is None else OpenRow(r.id, r.status, r.text or "", dict(r.payload or {}),
                                              as_utc(r.not_before))

    async def set_text(self, item_id: int, text: str) -> None:
        """The text a row is sent with, written just before (a policy brought it up to date)."""
        async with self.db.single() as conn:
            await conn.execute(update(OB).where(OB.c.id == item_id).values(text=text))

    async def swap(self, row: OpenRow, *, text: str, payload: dict[str, Any], status: str) -> bool:
        """Change a row only if it is still as read (not claimed, not changed by anyone else)."""
        async with self.db.single() as conn:
            res = await conn.execute(update(OB).where(OB.c.id == row.id, OB.c.status == row.status,
                                                      OB.c.text == row.text)
                                     .values(text=text, payload=payload, status=status))
        return bool(res.rowcount)

    # ----------------------------------------------------------------- what the outreach caps count
    async def automated_dms_since(self, platform: str, member_id: str, since: datetime,
                                  playbook_id: str | None = None) -> int:
        """Automated DMs queued or sent to a member since ``since`` (caps count these)."""
        q = select(func.count()).select_from(OB).where(
            OB.c.platform == platform, OB.c.member_id == member_id, OB.c.kind == "dm",
            OB.c.automated.is_(True), OB.c.created_at >= since, OB.c.status.in_(COUNTED_STATUSES))
        if playbook_id:
            q = q.where(OB.c.playbook_id == playbook_id)
        async with self.db.single(write=False) as conn:
            return int((await conn.execute(q)).scalar_one())

    async def count(self, platform: str, member_id: str, since: datetime, *, statuses: tuple[str, ...],
                    actions: tuple[str, ...] = (), kind: str | None = None, automated_only: bool = False,
                    before_id: int | None = None) -> int:
        """Outbox rows to a member created since ``since`` with one of ``statuses``; only these
        ``actions`` / this ``kind`` when given, only automated ones with ``automated_only``, only rows
        queued before row ``before_id`` when given (what the outreach caps count)."""
        q = select(func.count()).select_from(OB).where(
            OB.c.platform == platform, OB.c.member_id == member_id, OB.c.created_at >= since,
            OB.c.status.in_(statuses))
        if automated_only:
            q = q.where(OB.c.automated.is_(True))
        if before_id is not None:
            q = q.where(OB.c.id < before_id)
        if actions:
            q = q.where(OB.c.action.in_(actions))
        if kind is not None:
            q = q.where(OB.c.kind == kind)
        async with self.db.single(write=False) as conn:
            return int((await conn.execute(q)).scalar_one())

    async def take_budget(self, item_id: int, *, now: datetime, budget: int,
                          window: timedelta = timedelta(hours=1)) -> datetime | None:
        """Give outbox row ``item_id`` a place in the hourly outreach budget: at most ``budget`` rows
        take one per ``window``, whichever worker or instance asks. A row keeps its place once it
        has one (a send deferred after it, e.g. by pacing, takes no second). None when it has a
        place; otherwise when the next one frees up.

        One conditional UPDATE counts and takes: on SQLite the statement holds the write lock from
        its start; on PostgreSQL a transaction-scoped advisory lock makes the count and the take one
        step for every instance (two workers can never both see the last place free)."""
        since = now - window
        taken = select(func.count()).select_from(OB_BUDGET).where(OB_BUDGET.c.budget_at > since).scalar_subquery()
        stmt = (update(OB).where(OB.c.id == item_id, or_(OB.c.budget_at.is_not(None), taken < budget))
                .values(budget_at=func.coalesce(OB.c.budget_at, now)))
        async with self.db.engine.begin() as conn:
            if self.db.is_postgres:
                await conn.execute(sql_text("SELECT pg_advisory_xact_lock(:k)"), {"k": _BUDGET_LOCK})
            if (await conn.execute(stmt)).rowcount:
                return None
            oldest = (await conn.execute(select(func.min(OB.c.budget_at)).where(OB.c.budget_at > since))).scalar()
        return (as_utc(oldest) + window) if oldest is not None else now + timedelta(minutes=1)
