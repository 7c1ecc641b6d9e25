"""Engine creation, migrations, and the check that refuses an un-migrated database."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.core.errors import SchemaNotMigrated

MIGRATIONS = Path(__file__).parent / "migrations"


def async_url(url: str) -> str:
    """Accept plain ``sqlite:///`` / ``postgresql://`` URLs and pick the async driver."""
    u = make_url(url)
    if u.drivername in ("sqlite", "sqlite+pysqlite"):
        u = u.set(drivername="sqlite+aiosqlite")
    elif u.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        u = u.set(drivername="postgresql+asyncpg")
    return u.render_as_string(hide_password=False)


def redacted(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def create_engine(url: str, **kw) -> AsyncEngine:
    aurl = async_url(url)
    if aurl.startswith("sqlite"):
        engine = create_async_engine(aurl, connect_args={"timeout": 30}, **kw)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn, _record):  # WAL: readers never block the writer
            cur = dbapi_conn.cursor()
            if ":memory:" not in aurl:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            # a batch of messages dirties index pages all over: with the 2 MiB default, a transaction
            # spills pages to the WAL mid-way and rereads them (cache memory is used only as needed)
            cur.execute("PRAGMA cache_size=-32768")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    # no ping before every checkout (a round trip per statement's worth of latency): a connection
    # lost to a server restart fails its statement, SQLAlchemy then discards the whole pool, and
    # store operations are retried on disconnect (bot/storage/resilience.py)
    kw.setdefault("pool_pre_ping", False)
    kw.setdefault("pool_size", 10)
    return create_async_engine(aurl, **kw)


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head() or ""


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """``steward db upgrade``: bring the schema to ``revision``."""

    def _up(sync_conn) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = sync_conn
        command.upgrade(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(_up)


async def ensure_schema(engine: AsyncEngine, *, auto_upgrade: bool) -> None:
    """SQLite (the single-machine default) is upgraded in place; anything else must be migrated
    explicitly, so a shared PostgreSQL is never altered behind the operator's back."""
    cur = await current_revision(engine)
    head = head_revision()
    if cur == head:
        return
    if auto_upgrade:
        await upgrade(engine)
        return
    where = redacted(str(engine.url))
    state = "has no Steward schema" if cur is None else f"is at schema revision {cur}, this version needs {head}"
    raise SchemaNotMigrated(
        f"database {where} {state}; run `steward db upgrade --config <your config>` first"
    )


def run(coro):
    return asyncio.run(coro)
