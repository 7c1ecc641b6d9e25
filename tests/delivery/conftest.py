"""The delivery tests on the real PostgreSQL server share the scale tests' migrated, empty database."""

from tests.scale.conftest import pg_url  # noqa: F401
