"""Shared fixtures: databases (SQLite always, PostgreSQL when reachable), apps with a simulated
clock and recording gateways."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import pytest
import pytest_asyncio

ROOT = Path(__file__).resolve().parent.parent
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
PG_HINT = ("PostgreSQL not reachable at {url}: set STEWARD_TEST_PG_URL=postgresql://USER@HOST:PORT/DB "
           "to run the storage tests against a server")


def _pg_base() -> str:
    return os.environ.get("STEWARD_TEST_PG_URL", PG_DEFAULT)


def _reachable(url: str) -> bool:
    u = urlparse(url)
    try:
        with socket.create_connection((u.hostname or "127.0.0.1", u.port or 5432), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    """A PostgreSQL database of this test session's own (created, dropped at the end)."""
    base = _pg_base()
    if not _reachable(base):
        msg = PG_HINT.format(url=base)
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    import psycopg2

    name = f"steward_t_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = psycopg2.connect(base)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    u = urlparse(base)
    url = u._replace(path="/" + name).geturl()
    yield url
    admin.close()
    # a fresh connection: the server may have been restarted meanwhile (the restart fault test)
    admin = psycopg2.connect(base)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.close()


@pytest.fixture
def empty_pg_url(pg_server_url) -> str:
    """A brand-new, empty PostgreSQL database (no schema at all), dropped after the test."""
    import psycopg2

    base = _pg_base()
    name = f"steward_e_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = psycopg2.connect(base)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    yield urlparse(base)._replace(path="/" + name).geturl()
    with admin.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.close()


def _truncate_pg(url: str) -> None:
    import psycopg2

    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")
        tables = [r[0] for r in cur.fetchall()]
        if tables:
            cur.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")
    conn.close()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path) -> str:
    """The same test on SQLite and on the real PostgreSQL server (migrated, empty)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'steward.db'}"
    url = request.getfixturevalue("pg_server_url")
    import asyncio

    from bot.storage import db

    async def _up():
        eng = db.create_engine(url)
        try:
            await db.upgrade(eng)
        finally:
            await eng.dispose()

    asyncio.run(_up())
    _truncate_pg(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'steward.db'}"


T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def test_settings(db_url: str, **extra):
    from bot.settings import load_settings

    channels = {
        "welcome": {"slack": "CWELCOME", "discord": "100000000000000001"},
        "moderators": {"slack": "CMODS", "discord": "100000000000000002"},
        "help": {"slack": "CHELP", "discord": "100000000000000003"},
        "introductions": {"slack": "CINTRO", "discord": "100000000000000004"},
        "announcements": {"slack": "CNEWS", "discord": "100000000000000005"},
    }
    community = {"name": "Test Garden", **extra.pop("community", {})}
    return load_settings(None, community=community, storage={"url": db_url}, channels=channels, **extra)


@pytest_asyncio.fixture
async def make_app(tmp_path):
    """Build an app on a simulated clock with recording gateways; closed after the test."""
    from bot.app import build
    from bot.core.clock import SimulatedClock
    from bot.core.ports import RecordingGateway

    apps = []

    async def _make(db_url: str | None = None, *, playbooks_dir: Path | None = None, dry_run: bool = False,
                    start: datetime = T0, **settings_extra):
        url = db_url or f"sqlite:///{tmp_path / f'app{len(apps)}.db'}"
        settings = test_settings(url, **settings_extra)
        gws = {"slack": RecordingGateway("slack"), "discord": RecordingGateway("discord")}
        app = await build(settings, clock=SimulatedClock(start), dry_run=dry_run, gateways=gws,
                          playbooks_dir=playbooks_dir, auto_upgrade=True)
        apps.append(app)
        return app

    yield _make
    for app in apps:
        await app.close()

test_settings.__test__ = False  # a helper, not a test
