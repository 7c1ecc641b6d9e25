"""Errors a person is meant to read."""

from __future__ import annotations

from dataclasses import dataclass


class StewardError(Exception):
    """Base of errors shown to users as one clear line."""


class ConfigError(StewardError):
    pass


class SchemaNotMigrated(StewardError):
    pass


class TransientError(StewardError):
    """A failure that trying again later may fix (a platform's 5xx, a proxy's error page, a timeout)."""


@dataclass(frozen=True)
class Problem:
    """One problem found in a playbook, template or config: ``file:line: playbook-id: message``."""

    file: str
    line: int
    playbook_id: str
    message: str
    severity: str = "error"  # or "warning"

    def __str__(self) -> str:
        tag = "" if self.severity == "error" else "warning: "
        return f"{self.file}:{self.line}: {self.playbook_id}: {tag}{self.message}"


def is_transient(e: BaseException) -> bool:
    """Whether a failure is worth trying again later: the network, a timeout, a platform's 5xx or
    429, a lost database connection. Read from the exception and what it wraps, by duck typing
    (the core knows no platform library)."""
    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, (TimeoutError, ConnectionError)) or (
                isinstance(cur, OSError) and not isinstance(cur, (FileNotFoundError, PermissionError))):
            return True
        if type(cur).__module__.split(".")[0] == "aiohttp":  # client errors: disconnects, resets, payloads
            return True
        resp = getattr(cur, "response", None)
        status = getattr(resp, "status_code", None) or getattr(resp, "status", None) or getattr(cur, "status", None)
        if isinstance(status, int) and (status >= 500 or status == 429):
            return True
        if getattr(cur, "connection_invalidated", False) or type(cur).__name__ == "OperationalError":
            return True
        cur = getattr(cur, "orig", None) or cur.__cause__ or cur.__context__
    return False


class PlaybooksFailed(Exception):
    """Some playbooks failed on an event (the others ran): ``playbooks`` are to be tried again."""

    def __init__(self, playbooks: tuple[str, ...], first: BaseException) -> None:
        super().__init__(f"{', '.join(playbooks)}: {type(first).__name__}: {first}")
        self.playbooks = playbooks
        self.__cause__ = first
