"""Errors a person is meant to read."""

from __future__ import annotations

from dataclasses import dataclass


class StewardError(Exception):
    """Base of errors shown to users as one clear line."""


class ConfigError(StewardError):
    pass


class SchemaNotMigrated(StewardError):
    pass


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
