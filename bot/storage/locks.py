"""Tick locks: when several instances share one database, each scheduled tick runs on one of them.

PostgreSQL: a session advisory lock (``pg_try_advisory_lock``) taken on a connection that is held
for the whole run. The server frees it the moment that connection dies (kill -9, a crash, a lost
host once TCP keepalive notices), so no timeout has to pass before another instance may take over.
Before the lock is released the holder writes a ``done:`` row in ``leases``; an instance that fires
the same tick later (clock skew, a slow start) sees it and stays idle. An instance that finds the
lock taken waits while the holder runs: if the holder finishes, it stays idle; if the holder dies
mid-tick, it gets the lock within ``poll_s`` and runs the tick itself, and the engine's run keys
make sure nothing the dead holder already did happens twice.

SQLite (one machine): the same protocol on a lease row with an expiry that the holder renews, so
two processes on one file still run a tick once; a dead holder's lease lapses after ``ttl``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.storage.models import LeaseRow

log = logging.getLogger("steward.locks")

L = LeaseRow.__table__
#: how long a finished tick is remembered (late instances must see it)
DONE_TTL = timedelta(days=2)


def instance_name() -> str:
    """This instance's stable name: ``STEWARD_INSTANCE`` (e.g. the systemd ``%i``) or the host name."""
    return os.environ.get("STEWARD_INSTANCE") or socket.gethostname()


def holder_id() -> str:
    return f"{instance_name()}:{os.getpid()}"


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_try_advisory_lock`` from a lock name."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


def lease_name(prefix: str, name: str) -> str:
    full = f"{prefix}{name}"
    if len(full) <= 100:
        return full
    return prefix + hashlib.sha256(name.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


class _Base:
    def __init__(self, engine: AsyncEngine, *, holder: str | None = None, wait_s: float = 60.0,
                 poll_s: float = 2.0) -> None:
        self.engine = engine
        self.holder = holder or holder_id()
        #: how long a loser waits for the holder before leaving the tick to it
        self.wait_s = wait_s
        self.poll_s = poll_s

    async def is_done(self, name: str) -> bool:
        async with self.engine.connect() as conn:
            r = (await conn.execute(select(L.c.name).where(L.c.name == lease_name("done:", name)))).first()
        return r is not None

    async def mark_done(self, name: str) -> None:
        now = _now()
        row = {"name": lease_name("done:", name), "holder": self.holder, "expires_at": now + DONE_TTL}
        async with self.engine.begin() as conn:
            await conn.execute(delete(L).where(L.c.name == row["name"]))
            await conn.execute(insert(L).values(**row))

    async def prune(self) -> int:
        """Forget expired leases and finished ticks (run by maintenance)."""
        async with self.engine.begin() as conn:
            res = await conn.execute(delete(L).where(L.c.expires_at < _now()))
        return res.rowcount or 0


class AdvisoryTickLock(_Base):
    """PostgreSQL: ``async with lock(name) as got`` — ``got`` is True on the one instance that runs it."""

    @contextlib.asynccontextmanager
    async def __call__(self, name: str) -> AsyncIterator[bool]:
        key = advisory_key(name)
        deadline = time.monotonic() + self.wait_s
        conn = await self.engine.connect()
        got = False
        try:
            while True:
                got = bool((await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})).scalar())
                await conn.commit()  # the lock belongs to the session; no transaction stays open
                if got:
                    break
                if await self.is_done(name) or time.monotonic() >= deadline:
                    break
                await asyncio.sleep(self.poll_s)
            if got and await self.is_done(name):
                yield False
            elif got:
                yield True
                await self.mark_done(name)
            else:
                yield False
        finally:
            if got:
                try:
                    await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    await conn.commit()
                except Exception:  # a broken connection: the server already dropped the lock
                    await conn.invalidate()
            await conn.close()


class LeaseTickLock(_Base):
    """Any database (used on SQLite): a lease row the holder renews while it runs."""

    def __init__(self, engine: AsyncEngine, *, ttl_s: float = 30.0, **kw) -> None:
        super().__init__(engine, **kw)
        self.ttl = timedelta(seconds=ttl_s)

    async def try_acquire(self, name: str) -> bool:
        lname = lease_name("lock:", name)
        now = _now()
        try:
            async with self.engine.begin() as conn:
                await conn.execute(insert(L).values(name=lname, holder=self.holder, expires_at=now + self.ttl))
            return True
        except IntegrityError:
            pass
        async with self.engine.begin() as conn:
            res = await conn.execute(
                update(L).where(L.c.name == lname, (L.c.expires_at < now) | (L.c.holder == self.holder))
                .values(holder=self.holder, expires_at=now + self.ttl)
            )
        return (res.rowcount or 0) == 1

    async def renew(self, name: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(update(L).where(L.c.name == lease_name("lock:", name), L.c.holder == self.holder)
                               .values(expires_at=_now() + self.ttl))

    async def release(self, name: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(delete(L).where(L.c.name == lease_name("lock:", name), L.c.holder == self.holder))

    async def _keep_alive(self, name: str) -> None:
        while True:
            await asyncio.sleep(self.ttl.total_seconds() / 3)
            try:
                await self.renew(name)
            except Exception:
                log.warning("could not renew lease %s", name)

    @contextlib.asynccontextmanager
    async def __call__(self, name: str) -> AsyncIterator[bool]:
        deadline = time.monotonic() + self.wait_s
        while True:
            got = await self.try_acquire(name)
            if got or await self.is_done(name) or time.monotonic() >= deadline:
                break
            await asyncio.sleep(self.poll_s)
        if not got:
            yield False
            return
        renewer = asyncio.create_task(self._keep_alive(name))
        try:
            if await self.is_done(name):
                yield False
            else:
                yield True
                await self.mark_done(name)
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            await self.release(name)


def tick_lock_for(engine: AsyncEngine, **kw) -> _Base:
    """The tick lock that suits the database behind ``engine``."""
    if engine.dialect.name == "postgresql":
        kw.pop("ttl_s", None)
        return AdvisoryTickLock(engine, **kw)
    return LeaseTickLock(engine, **kw)
