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
