"""``steward db copy``: move every table from one database to another (SQLite → PostgreSQL).

Both ends are brought to the current schema first. The target must be empty, so a copy can never
merge two communities or run twice by accident. Rows keep their IDs; PostgreSQL sequences are
moved past them afterwards; naive times from SQLite are stored as the UTC they always were. The
row counts of both ends are compared at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import DateTime, func, insert, select, text

from bot.core.errors import StewardError
from bot.storage import db
from bot.storage.models import Base

BATCH = 5000


def _fix_times(rows: list[dict], time_cols: list[str]) -> list[dict]:
    for r in rows:
        for c in time_cols:
            v = r.get(c)
            if isinstance(v, datetime) and v.tzinfo is None:
                r[c] = v.replace(tzinfo=UTC)
    return rows


async def copy_database(src_url: str, dst_url: str, *, progress: Callable[[str, int], None] | None = None
                        ) -> dict[str, int]:
    """Copy every Steward table from ``src_url`` to the empty ``dst_url``; returns rows per table."""
    if db.async_url(src_url) == db.async_url(dst_url):
        raise StewardError("--from and --to are the same database")
    src = db.create_engine(src_url)
    dst = db.create_engine(dst_url)
    counts: dict[str, int] = {}
    try:
        await db.ensure_schema(src, auto_upgrade=src.dialect.name == "sqlite")
        await db.upgrade(dst)
        tables = Base.metadata.sorted_tables
        async with dst.connect() as conn:
            for t in tables:
                if (await conn.execute(select(func.count()).select_from(t))).scalar_one():
                    raise StewardError(f"the target database {db.redacted(dst_url)} already has rows in "
                                       f"{t.name}; copy into an empty database")
        for t in tables:
            time_cols = [c.name for c in t.columns if isinstance(c.type, DateTime)]
            order = list(t.primary_key.columns)
            n = 0
            async with src.connect() as sconn, dst.begin() as dconn:
                result = await sconn.stream(select(t).order_by(*order))
                async for part in result.mappings().partitions(BATCH):
                    rows = _fix_times([dict(r) for r in part], time_cols)
                    await dconn.execute(insert(t), rows)
                    n += len(rows)
                    if progress:
                        progress(t.name, n)
                if dst.dialect.name == "postgresql" and "id" in t.c and t.c.id.autoincrement in (True, "auto"):
                    await dconn.execute(text(
                        f"SELECT setval(pg_get_serial_sequence('{t.name}', 'id'), "
                        f"coalesce((SELECT max(id) FROM \"{t.name}\"), 1), "
                        f"(SELECT max(id) FROM \"{t.name}\") IS NOT NULL)"))
            counts[t.name] = n
        async with dst.connect() as conn:
            for t in tables:
                got = (await conn.execute(select(func.count()).select_from(t))).scalar_one()
                if got != counts[t.name]:
                    raise StewardError(f"{t.name}: copied {counts[t.name]} rows but the target has {got}")
    finally:
        await src.dispose()
        await dst.dispose()
    return counts
