"""The audit log: who did what to whom, for staff to read back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select

from bot.core.clock import as_utc
from bot.storage.base import Db
from bot.storage.models import AuditRow

A = AuditRow.__table__


class Audit:
    def __init__(self, db: Db) -> None:
        self.db = db

    async def add(self, *, at: datetime, actor: str, action: str, platform: str | None = None,
                  target: str | None = None, detail: dict | None = None) -> None:
        async with self.db.engine.begin() as conn:
            await conn.execute(insert(A).values(at=at, platform=platform, actor=actor, action=action,
                                                target=target, detail=detail or {}))

    async def log(self, limit: int = 100) -> list[dict[str, Any]]:
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(select(A).order_by(A.c.id.desc()).limit(limit))).all()
        return [{"at": as_utc(r.at), "platform": r.platform, "actor": r.actor, "action": r.action,
                 "target": r.target, "detail": r.detail} for r in rows]
