"""Members' preferences: opted out of automated messages, and their language."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy import text as sql_text

from bot.core.records import Preferences
from bot.storage.base import Db
from bot.storage.coalesce import Coalescer
from bot.storage.models import PreferenceRow

P = PreferenceRow.__table__

#: PostgreSQL: concurrent reads answered by one statement (bot/storage/coalesce.py)
_MANY = sql_text("""
SELECT p.platform, p.member_id, p.opted_out, p.locale
FROM member_preferences p
JOIN unnest(CAST(:p AS text[]), CAST(:m AS text[])) AS r(p, m) ON p.platform = r.p AND p.member_id = r.m
""")


class MemberPreferences:
    def __init__(self, db: Db) -> None:
        self.db = db
        self._many = Coalescer(self._get_many, self._get_one) if db.is_postgres else None

    async def get(self, platform: str, member_id: str) -> Preferences:
        if self._many is not None:
            return await self._many((platform, member_id))
        return await self._get_one((platform, member_id))

    async def _get_one(self, key: tuple[str, str]) -> Preferences:
        platform, member_id = key
        async with self.db.single(write=False) as conn:
            r = (await conn.execute(select(P).where(P.c.platform == platform, P.c.member_id == member_id))).first()
        if r is None:
            return Preferences(platform, member_id)
        return Preferences(platform, member_id, bool(r.opted_out), r.locale)

    async def _get_many(self, keys: list[tuple[str, str]]) -> list[Preferences]:
        uniq = list(dict.fromkeys(keys))
        async with self.db.single(write=False) as conn:
            rows = (await conn.execute(_MANY, {"p": [k[0] for k in uniq], "m": [k[1] for k in uniq]})).all()
        found = {(r.platform, r.member_id): Preferences(r.platform, r.member_id, bool(r.opted_out), r.locale)
                 for r in rows}
        return [found.get(k) or Preferences(k[0], k[1]) for k in keys]

    async def set(self, platform: str, member_id: str, *, now: datetime,
                  opted_out: bool | None = None, locale: str | None = None) -> Preferences:
        async with self.db.engine.begin() as conn:
            r = (await conn.execute(select(P).where(P.c.platform == platform, P.c.member_id == member_id))).first()
            values: dict[str, Any] = {"updated_at": now}
            if opted_out is not None:
                values["opted_out"] = opted_out
                values["opted_out_at"] = now if opted_out else None
            if locale is not None:
                values["locale"] = locale
            if r is None:
                await conn.execute(insert(P).values(platform=platform, member_id=member_id,
                                                    **{"opted_out": False, **values}))
            else:
                await conn.execute(update(P).where(P.c.id == r.id).values(**values))
        return await self.get(platform, member_id)
