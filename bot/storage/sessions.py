"""Dashboard login links and sessions. The secrets (the link's token, the session cookie) are handed
out once and only their SHA-256 is stored, so a copy of the database opens no dashboard. Rows live in
the database, so every instance behind a load balancer accepts the same sessions."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update

from bot.core.clock import as_utc
from bot.storage.models_dashboard import DashboardLoginRow, DashboardSessionRow

L = DashboardLoginRow.__table__
S = DashboardSessionRow.__table__


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Login:
    """Who a used link or a live session belongs to, with what the platform reported at the command."""

    platform: str
    member_id: str
    roles: tuple[str, ...] = ()
    platform_admin: bool = False
    csrf: str = ""
    expires_at: datetime | None = None


class Sessions:
    def __init__(self, database) -> None:
        self.database = database

    async def new_link(self, platform: str, member_id: str, *, now: datetime, ttl: timedelta,
                       roles: tuple[str, ...] = (), platform_admin: bool = False) -> str:
        """A one-time token for ``member_id``; it opens a session once, until ``now + ttl``."""
        # letters and digits only: a link is pasted into chat, where an underscore or a dash next to
        # one can be read as markup and the link arrives cut
        token = secrets.token_hex(24)
        async with self.database.begin() as conn:
            # links nobody opened in time are of no use to anyone
            await conn.execute(delete(L).where(L.c.expires_at < now - timedelta(days=1)))
            await conn.execute(insert(L).values(token_hash=_hash(token), platform=platform, member_id=member_id,
                                                roles=list(roles), platform_admin=platform_admin,
                                                created_at=now, expires_at=now + ttl, used_at=None))
        return token

    async def use_link(self, token: str, *, now: datetime) -> Login | None:
        """Spend a link: its owner, or None when it is unknown, used already or expired. Two
        instances opening the same link at once: one UPDATE wins, the other finds it used."""
        h = _hash(token)
        async with self.database.begin() as conn:
            res = await conn.execute(update(L).where(L.c.token_hash == h, L.c.used_at.is_(None),
                                                     L.c.expires_at > now).values(used_at=now))
            if res.rowcount != 1:
                return None
            r = (await conn.execute(select(L).where(L.c.token_hash == h))).one()
        return Login(r.platform, r.member_id, tuple(r.roles or ()), bool(r.platform_admin))

    async def start(self, login: Login, *, now: datetime, hours: float) -> tuple[str, Login]:
        """A new session for ``login``: (the cookie's secret, the session with its CSRF token)."""
        sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        expires = now + timedelta(hours=hours)
        async with self.database.begin() as conn:
            await conn.execute(delete(S).where(S.c.expires_at < now - timedelta(days=7)))
            await conn.execute(insert(S).values(id_hash=_hash(sid), platform=login.platform,
                                                member_id=login.member_id, roles=list(login.roles),
                                                platform_admin=login.platform_admin, csrf=csrf,
                                                created_at=now, expires_at=expires, revoked_at=None))
        return sid, Login(login.platform, login.member_id, login.roles, login.platform_admin, csrf, expires)

    async def get(self, sid: str, *, now: datetime) -> Login | None:
        """The live session the cookie names (not expired, not revoked), or None."""
        if not sid or len(sid) > 200:
            return None
        async with self.database.connect() as conn:
            r = (await conn.execute(select(S).where(S.c.id_hash == _hash(sid)))).first()
        if r is None or r.revoked_at is not None or as_utc(r.expires_at) <= now:
            return None
        return Login(r.platform, r.member_id, tuple(r.roles or ()), bool(r.platform_admin), r.csrf,
                     as_utc(r.expires_at))

    async def revoke(self, sid: str, *, now: datetime) -> None:
        async with self.database.begin() as conn:
            await conn.execute(update(S).where(S.c.id_hash == _hash(sid)).values(revoked_at=now))

    async def revoke_member(self, platform: str, member_id: str, *, now: datetime) -> int:
        """End every session of a member (on every instance): they open a new link to come back."""
        async with self.database.begin() as conn:
            res = await conn.execute(update(S).where(S.c.platform == platform, S.c.member_id == member_id,
                                                     S.c.revoked_at.is_(None)).values(revoked_at=now))
        return int(res.rowcount or 0)
