"""Members' attributes from a CRM (``member_attributes``): read for templates and conditions,
written by ``steward crm import`` all at once (one transaction: a file is imported whole or not at
all). A forget deletes the member's row (bot/storage/personal_data.py ``DELETE``)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from bot.storage.base import Db
from bot.storage.crm_models import MemberAttributeRow
from bot.storage.models import PreferenceRow

A = MemberAttributeRow.__table__
P = PreferenceRow.__table__
#: how long "no member has attributes" is believed before the table is looked at again (an import
#: from the command line shows within this long in a running bot)
EMPTY_TTL_S = 30.0


class MemberAttributes:
    def __init__(self, db: Db) -> None:
        self.db = db
        self._empty_until = 0.0

    async def get(self, platform: str, member_id: str) -> dict[str, Any]:
        """The member's attributes ({} when the CRM says nothing about them)."""
        if time.monotonic() < self._empty_until:
            return {}
        async with self.db.single(write=False) as conn:
            r = (await conn.execute(select(A.c.attributes).where(A.c.platform == platform,
                                                                 A.c.member_id == member_id))).first()
            if r is None and not (await conn.execute(select(func.count()).select_from(A))).scalar_one():
                # nobody has any: the common case for a community without a CRM costs one count a while
                self._empty_until = time.monotonic() + EMPTY_TTL_S
        return dict(r.attributes or {}) if r is not None else {}

    async def put_all(self, rows: Iterable[tuple[str, str, dict[str, Any]]], *, now: datetime, source: str,
                      locales: dict[tuple[str, str], str] | None = None) -> int:
        """Set the attributes of each (platform, member_id) (replacing what an earlier import said),
        and the members' language where the CRM gives one, in one transaction."""
        ins = postgresql.insert if self.db.is_postgres else sqlite.insert
        n = 0
        async with self.db.engine.begin() as conn:
            for platform, member_id, attrs in rows:
                stmt = ins(A).values(platform=platform, member_id=member_id, attributes=attrs, source=source,
                                     updated_at=now)
                await conn.execute(stmt.on_conflict_do_update(
                    index_elements=["platform", "member_id"],
                    set_={"attributes": attrs, "source": source, "updated_at": now}))
                n += 1
            for (platform, member_id), locale in (locales or {}).items():
                stmt = ins(P).values(platform=platform, member_id=member_id, opted_out=False, locale=locale,
                                     updated_at=now)
                await conn.execute(stmt.on_conflict_do_update(
                    index_elements=["platform", "member_id"], set_={"locale": locale, "updated_at": now}))
        self._empty_until = 0.0
        return n
