"""Ride out a PostgreSQL restart: a store operation that fails because the connection went away
is retried (with backoff, for up to ``patience_s``) instead of dropping the event it was storing.

Each ``Store`` method is one transaction, so running it again after a lost connection is safe:
the failed attempt was rolled back by the server. ``make_resilient`` wraps the methods of one store
instance at composition time; errors that are not about the connection (a unique key, a bad
query) pass through at once.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import time
from typing import Any

from sqlalchemy.exc import DBAPIError

log = logging.getLogger("steward.storage")

#: asyncpg exception names that mean "the server is away", whatever SQLAlchemy wrapped them in
_DISCONNECT_NAMES = {
    "CannotConnectNowError", "ConnectionDoesNotExistError", "ConnectionFailureError", "AdminShutdownError",
    "CrashShutdownError", "ConnectionRejectionError", "InterfaceError", "ConnectionResetError",
    "ConnectionRefusedError", "BrokenPipeError", "TooManyConnectionsError",
}


def is_disconnect(e: BaseException) -> bool:
    """True when ``e`` (or what it wraps) says the database connection was lost or refused."""
    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, DBAPIError) and cur.connection_invalidated:
            return True
        if type(cur).__name__ in _DISCONNECT_NAMES:
            return True
        state = getattr(cur, "sqlstate", None) or ""
        if isinstance(state, str) and (state.startswith("08") or state.startswith("57P")):
            return True
        if isinstance(cur, OSError) and not isinstance(cur, FileNotFoundError):
            return True
        cur = getattr(cur, "orig", None) or cur.__cause__ or cur.__context__
    return False


def retrying(fn, *, patience_s: float = 60.0):
    """Wrap one coroutine function so disconnects are retried until ``patience_s`` runs out."""

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any):
        deadline = time.monotonic() + patience_s
        delay = 0.1
        while True:
            try:
                return await fn(*args, **kwargs)
            except Exception as e:
                if not is_disconnect(e) or time.monotonic() >= deadline:
                    raise
                log.warning("database unreachable during %s (%s); retrying in %.1fs", fn.__name__,
                            type(e).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    wrapper.__wrapped_resilient__ = True  # type: ignore[attr-defined]
    return wrapper


def make_resilient(store: Any, *, patience_s: float = 60.0) -> Any:
    """Wrap every public coroutine method of ``store`` (once)."""
    for name, _member in inspect.getmembers(type(store), inspect.iscoroutinefunction):
        if name.startswith("_"):
            continue
        bound = getattr(store, name)
        if getattr(bound, "__wrapped_resilient__", False):
            continue
        setattr(store, name, retrying(bound, patience_s=patience_s))
    return store
