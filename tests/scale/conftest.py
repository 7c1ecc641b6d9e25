"""Fixtures for the scale tests: a migrated, empty database on the real PostgreSQL server."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import _truncate_pg


@pytest.fixture
def pg_url(pg_server_url) -> str:
    """The session's own PostgreSQL database, migrated to head and emptied."""
    from bot.storage import db

    async def _up():
        eng = db.create_engine(pg_server_url)
        try:
            await db.upgrade(eng)
        finally:
            await eng.dispose()

    asyncio.run(_up())
    _truncate_pg(pg_server_url)
    return pg_server_url


@pytest.fixture
async def store(pg_url):
    """A Store on that database (closed afterwards)."""
    from bot.storage import db
    from bot.storage.repositories import Store

    s = Store(db.create_engine(pg_url))
    yield s
    await s.database.dispose()


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "pg_restart: restarts the shared PostgreSQL server; runs last")


def pytest_collection_modifyitems(session, config, items) -> None:
    """Restarting the server disturbs everything else that uses it: do it after every other test."""
    last = [i for i in items if i.get_closest_marker("pg_restart")]
    if last:
        items[:] = [i for i in items if not i.get_closest_marker("pg_restart")] + last
