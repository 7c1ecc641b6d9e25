"""The migrations produce exactly the schema the models describe (no drift), on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from bot.storage import db
from bot.storage.models import Base


async def test_migrations_match_models(db_url):
    eng = db.create_engine(db_url)
    try:
        await db.upgrade(eng)
        rev = await db.current_revision(eng)
    finally:
        await eng.dispose()
    assert rev == db.head_revision()
    sync_url = db_url if db_url.startswith("sqlite") else db_url.replace("postgresql://", "postgresql+psycopg2://")
    engine = create_engine(sync_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations differ; add a migration: {diff}"
