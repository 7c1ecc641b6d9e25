"""Clocks: the wall clock live, a simulated clock in replay. Always timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(dt: datetime) -> datetime:
    """Naive datetimes (as SQLite returns them) are UTC by this project's convention."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def iso(dt: datetime | None) -> str | None:
    """ISO-8601 UTC with a ``Z``: how every output file (findings, health, reports) writes a time."""
    if dt is None:
        return None
    return as_utc(dt).isoformat().replace("+00:00", "Z")


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return utcnow()


class SimulatedClock:
    """Time moves only when the replay driver says so."""

    def __init__(self, start: datetime) -> None:
        self._now = as_utc(start)

    def now(self) -> datetime:
        return self._now

    def advance_to(self, t: datetime) -> None:
        t = as_utc(t)
        if t > self._now:
            self._now = t
