"""Outbox row operations the delivery worker needs beyond ``Store``: claiming due rows in one
statement, deferring without spending an attempt, and re-claiming rows left in ``sending`` by an
instance that died or hung. Each is one statement, run in autocommit on PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from bot.core.records import OutboxItem
from bot.storage.repositories import OB, Store, _outbox_from_row


async def claim(store: Store, *, now: datetime, limit: int, worker: str) -> list[OutboxItem]:
    """Claim up to ``limit`` due rows for sending (``pending`` → ``sending``, one attempt spent).
    PostgreSQL: one ``WITH due AS (SELECT ... FOR UPDATE SKIP LOCKED) UPDATE ... RETURNING``, so
    instances never take the same row and a claim is one round trip. SQLite: ``Store.claim_due``."""
    if not store.is_postgres:
        return await store.claim_due(now=now, limit=limit, worker=worker)
    # MATERIALIZED: the locking subquery runs once; as a plain subquery PostgreSQL may run it again
    # per candidate row, and each run skips the rows the last one locked (a claim past the limit)
    due = (select(OB.c.id).where(OB.c.status == "pending", OB.c.not_before <= now)
           .order_by(OB.c.not_before, OB.c.id).limit(limit).with_for_update(skip_locked=True)
           .cte("due").prefix_with("MATERIALIZED"))
    stmt = (update(OB).where(OB.c.id == due.c.id, OB.c.status == "pending")
            .values(status="sending", claimed_by=worker, claimed_at=now, attempts=OB.c.attempts + 1)
            .returning(*OB.c))
    async with store.single() as conn:
        rows = (await conn.execute(stmt)).all()
    items = [_outbox_from_row(r) for r in rows]
    items.sort(key=lambda i: (i.not_before, i.id))
    return items


async def defer(store: Store, item_id: int, *, not_before: datetime, error: str | None = None,
                refund_attempt: bool = True) -> None:
    """Back to ``pending`` until ``not_before``. Pacing deferrals and 429s are not failed attempts,
    so they never count towards giving up."""
    values = {"status": "pending", "not_before": not_before, "claimed_by": None}
    if error is not None:
        values["error"] = error
    if refund_attempt:
        values["attempts"] = OB.c.attempts - 1
    async with store.single() as conn:
        await conn.execute(update(OB).where(OB.c.id == item_id, OB.c.status == "sending").values(**values))


async def claim_stale(store: Store, *, now: datetime, lease_s: float, worker: str,
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
    async with store.engine.begin() as conn:
        q = select(OB.c.id).where(OB.c.status == "sending", cond).order_by(OB.c.id).limit(limit)
        if store.is_postgres:
            q = q.with_for_update(skip_locked=True)
        ids = [r.id for r in (await conn.execute(q)).all()]
        if not ids:
            return []
        await conn.execute(update(OB).where(OB.c.id.in_(ids), OB.c.status == "sending")
                           .values(claimed_by=worker, claimed_at=now))
        rows = (await conn.execute(select(OB).where(OB.c.id.in_(ids), OB.c.claimed_by == worker,
                                                    OB.c.status == "sending"))).all()
    return [_outbox_from_row(r) for r in rows]


async def touch_claim(store: Store, item_id: int, now: datetime) -> None:
    """Keep a claim fresh (an outcome that could not be checked yet is looked at again later)."""
    async with store.single() as conn:
        await conn.execute(update(OB).where(OB.c.id == item_id, OB.c.status == "sending").values(claimed_at=now))


async def release(store: Store, item_id: int, now: datetime) -> None:
    """A stuck row that certainly was not sent: make it due again."""
    async with store.single() as conn:
        await conn.execute(update(OB).where(OB.c.id == item_id, OB.c.status == "sending")
                           .values(status="pending", not_before=now, claimed_by=None))


async def run_queued_anything(store: Store, run_key: str) -> bool:
    """Whether a playbook run put any message in the outbox (dedupe keys start with its run key)."""
    prefix = run_key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + ":%"
    async with store.engine.connect() as conn:
        r = (await conn.execute(select(OB.c.id).where(OB.c.dedupe_key.like(prefix, escape="\\")).limit(1))).first()
    return r is not None


async def status_counts(store: Store) -> dict[str, int]:
    from sqlalchemy import func

    async with store.engine.connect() as conn:
        rows = (await conn.execute(select(OB.c.status, func.count()).group_by(OB.c.status))).all()
    return {r[0]: int(r[1]) for r in rows}
