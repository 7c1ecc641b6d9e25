"""People across platforms (``member_links``): which accounts are one person, and the short-lived
codes of ``/steward link``. Features ask ``accounts(platform, member_id)`` to count people, not
accounts (opt-outs, caps, quiet hours, welcomes)."""

from __future__ import annotations

import secrets
import time
import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update

from bot.storage.base import Db
from bot.storage.crm_models import LinkCodeRow, MemberLinkRow

L = MemberLinkRow.__table__
C = LinkCodeRow.__table__
Account = tuple[str, str]
#: no 0/O, 1/I/L: read aloud or typed from a phone without mistakes
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
#: how long an answer is believed (links change rarely; another instance's link shows within this)
CACHE_S = 30.0


class People:
    def __init__(self, db: Db) -> None:
        self.db = db
        self._cache: dict[Account, tuple[float, tuple[Account, ...]]] = {}
        self._none_until = 0.0

    async def accounts(self, platform: str, member_id: str) -> tuple[Account, ...]:
        """Every account of the person this account belongs to, itself first."""
        me = (platform, member_id)
        now = time.monotonic()
        if now < self._none_until:
            return (me,)
        hit = self._cache.get(me)
        if hit is not None and hit[0] > now:
            return hit[1]
        async with self.db.single(write=False) as conn:
            person = (await conn.execute(select(L.c.person_id).where(L.c.platform == platform,
                                                                     L.c.member_id == member_id))).scalar()
            if person is None:
                if (await conn.execute(select(L.c.id).limit(1))).first() is None:
                    self._none_until = now + CACHE_S  # nobody is linked: the common case costs nothing
                rows = []
            else:
                rows = (await conn.execute(select(L.c.platform, L.c.member_id).where(L.c.person_id == person)
                                           .order_by(L.c.id))).all()
        got = (me, *((r.platform, r.member_id) for r in rows if (r.platform, r.member_id) != me))
        if len(self._cache) > 50_000:
            self._cache.clear()
        self._cache[me] = (now + CACHE_S, got)
        return got

    def _forget_cache(self) -> None:
        self._cache.clear()
        self._none_until = 0.0

    async def link(self, a: Account, b: Account, *, now: datetime, by: str) -> str:
        """Make ``a`` and ``b`` one person (joining the people they already belong to)."""
        async with self.db.engine.begin() as conn:
            found = {(r.platform, r.member_id): r.person_id for r in (await conn.execute(
                select(L.c.platform, L.c.member_id, L.c.person_id).where(
                    ((L.c.platform == a[0]) & (L.c.member_id == a[1])) |
                    ((L.c.platform == b[0]) & (L.c.member_id == b[1]))))).all()}
            person = found.get(a) or found.get(b) or f"p-{uuid.uuid4().hex[:16]}"
            other = found.get(b) if found.get(a) else None
            if other and other != person:
                await conn.execute(update(L).where(L.c.person_id == other).values(person_id=person))
            for acct in (a, b):
                if acct not in found:
                    await conn.execute(insert(L).values(person_id=person, platform=acct[0], member_id=acct[1],
                                                        linked_at=now, linked_by=by))
        self._forget_cache()
        return person

    async def unlink(self, platform: str, member_id: str) -> tuple[Account, ...]:
        """This account is a person of its own again; returns the accounts it was linked to."""
        async with self.db.engine.begin() as conn:
            person = (await conn.execute(select(L.c.person_id).where(L.c.platform == platform,
                                                                     L.c.member_id == member_id))).scalar()
            if person is None:
                return ()
            await conn.execute(delete(L).where(L.c.platform == platform, L.c.member_id == member_id))
            rest = [(r.platform, r.member_id) for r in (await conn.execute(
                select(L.c.platform, L.c.member_id).where(L.c.person_id == person))).all()]
            if len(rest) == 1:  # a person of one account is no link at all
                await conn.execute(delete(L).where(L.c.person_id == person))
        self._forget_cache()
        return tuple(rest)

    async def new_code(self, platform: str, member_id: str, *, now: datetime,
                       ttl: timedelta = timedelta(minutes=15)) -> str:
        """A fresh single-use code for this account (an earlier one of theirs stops working)."""
        code = "".join(secrets.choice(_ALPHABET) for _ in range(8))
        async with self.db.engine.begin() as conn:
            await conn.execute(delete(C).where((C.c.expires_at < now) |
                                               ((C.c.platform == platform) & (C.c.member_id == member_id))))
            await conn.execute(insert(C).values(code=code, platform=platform, member_id=member_id,
                                                expires_at=now + ttl))
        return code

    async def take_code(self, code: str, *, now: datetime) -> Account | None:
        """The account that asked for ``code``, if it is still valid; the code is used up."""
        code = code.strip().upper().replace("-", "").replace(" ", "")
        async with self.db.engine.begin() as conn:
            r = (await conn.execute(select(C).where(C.c.code == code))).first()
            if r is None:
                return None
            await conn.execute(delete(C).where(C.c.code == code))
        from bot.core.clock import as_utc

        return (r.platform, r.member_id) if as_utc(r.expires_at) >= now else None
