"""An aiosqlite stand-in that runs each statement inline on the event loop's thread.

aiosqlite hands every statement to a worker thread and waits for the answer; for a replay, which
does one thing at a time, those hand-offs cost more than the statements themselves. The backtest
points its scratch SQLite database at this connection (``bot/storage/scratch.prepare``) so the same Store, engine and features
run unchanged, only without the thread hops. Never used live, where blocking the loop would stall
the adapters.
"""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine


class InlineCursor:
    def __init__(self, cur: sqlite3.Cursor) -> None:
        self._cursor = cur

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self._cursor.close()

    def __await__(self):
        async def _self() -> InlineCursor:
            return self

        return _self().__await__()

    @property
    def description(self):
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self):
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, v: int) -> None:
        self._cursor.arraysize = v

    async def execute(self, sql: str, parameters: Any = None) -> InlineCursor:
        if parameters is None:
            self._cursor.execute(sql)
        else:
            self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, seq: Any) -> InlineCursor:
        self._cursor.executemany(sql, seq)
        return self

    async def fetchone(self):
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None):
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self):
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class _Immediate:
    """What SQLAlchemy's adapter puts work on (``_tx.put_nowait((future, fn))``): run it now."""

    def put_nowait(self, item: tuple[asyncio.Future, Any]) -> None:
        fut, fn = item
        try:
            fut.set_result(fn())
        except Exception as e:  # handed back to the awaiting caller
            fut.set_exception(e)


class InlineConnection:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._connection: sqlite3.Connection | None = conn
        self._tx = _Immediate()

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._connection is None:
            raise ValueError("no active connection")
        return self._connection

    @property
    def isolation_level(self):
        return self._conn.isolation_level

    def cursor(self) -> InlineCursor:
        return InlineCursor(self._conn.cursor())

    async def execute(self, sql: str, parameters: Any = None) -> InlineCursor:
        return await self.cursor().execute(sql, parameters)

    async def commit(self) -> None:
        self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def create_function(self, *args: Any, **kw: Any) -> None:
        self._conn.create_function(*args, **kw)

    async def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def stop(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


async def go_inline(engine: AsyncEngine) -> bool:
    """Make ``engine`` (SQLite via aiosqlite) open inline connections from now on. Existing pooled
    connections are closed; every object holding the engine keeps working. False when the
    engine is not SQLite."""
    if engine.dialect.name != "sqlite" or engine.dialect.driver != "aiosqlite":
        return False

    async def _create(*args: Any, **kw: Any) -> InlineConnection:
        kw["check_same_thread"] = False
        return InlineConnection(sqlite3.connect(*args, **kw))

    @event.listens_for(engine.sync_engine, "do_connect")
    def _inline(dialect, conn_rec, cargs, cparams):
        cparams["async_creator_fn"] = _create

    await engine.dispose()
    return True
