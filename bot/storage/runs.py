"""Playbook runs: one unique key per playbook, subject and period, written before anything is sent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy import text as sql_text
from sqlalchemy.exc import IntegrityError

from bot.storage.base import Db
from bot.storage.coalesce import Coalescer, first_claims
from bot.storage.models import PlaybookRunRow

RUNS = PlaybookRunRow.__table__

#: PostgreSQL: concurrent claims written by one statement (bot/storage/coalesce.py)
_MANY = sql_text("""
INSERT INTO playbook_runs (run_key, playbook_id, platform, subject, period, created_at)
SELECT * FROM unnest(CAST(:k AS text[]), CAST(:pb AS text[]), CAST(:p AS text[]), CAST(:s AS text[]),
                     CAST(:per AS text[]), CAST(:t AS timestamptz[]))
ON CONFLICT (run_key) DO NOTHING
RETURNING run_key
""")


class Runs:
    def __init__(self, db: Db) -> None:
        self.db = db
        self._many = Coalescer(self._claim_many, self._claim_one) if db.is_postgres else None

    async def claim(self, *, run_key: str, playbook_id: str, platform: str, subject: str,
                    period: str, now: datetime) -> bool:
        """Write the run's unique key; False when this (playbook, subject, period) already ran."""
        run = {"run_key": run_key, "playbook_id": playbook_id, "platform": platform, "subject": subject,
               "period": period, "now": now}
        if self._many is not None:
            return await self._many(run)
        return await self._claim_one(run)

    async def _claim_one(self, run: dict) -> bool:
        try:
            async with self.db.single() as conn:
                await conn.execute(insert(RUNS).values(run_key=run["run_key"], playbook_id=run["playbook_id"],
                                                       platform=run["platform"], subject=run["subject"],
                                                       period=run["period"], created_at=run["now"]))
            return True
        except IntegrityError:
            return False

    async def _claim_many(self, runs: list[dict]) -> list[bool]:
        params = {"k": [r["run_key"] for r in runs], "pb": [r["playbook_id"] for r in runs],
                  "p": [r["platform"] for r in runs], "s": [r["subject"] for r in runs],
                  "per": [r["period"] for r in runs], "t": [r["now"] for r in runs]}
        async with self.db.single() as conn:
            inserted = {r.run_key for r in (await conn.execute(_MANY, params)).all()}
        return first_claims([r["run_key"] for r in runs], inserted)

    async def since(self, playbook_id: str, platform: str, subject: str, since: datetime) -> int:
        """Runs of a playbook for one subject since ``since``."""
        async with self.db.single(write=False) as conn:
            return int((await conn.execute(select(func.count()).select_from(RUNS).where(
                RUNS.c.playbook_id == playbook_id, RUNS.c.platform == platform,
                RUNS.c.subject == subject, RUNS.c.created_at >= since))).scalar_one())

    async def in_window(self, playbook_id: str, since: datetime) -> int:
        """Runs of a playbook, for anyone, since ``since``."""
        async with self.db.single(write=False) as conn:
            return int((await conn.execute(select(func.count()).select_from(RUNS).where(
                RUNS.c.playbook_id == playbook_id, RUNS.c.created_at >= since))).scalar_one())
