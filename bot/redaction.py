"""Secrets never reach a log line or an error message.

``steward run`` installs :class:`RedactingFilter` on every root log handler. It replaces, in the
formatted message and in any traceback, the values of the environment variables the config names
for secrets (and a few well-known token shapes, in case a token arrives by another route), plus
the password of the database URL.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from typing import Any

MASK = "[redacted]"

#: token shapes worth hiding wherever they come from
_PATTERNS = [
    re.compile(r"xox[abposr]-[A-Za-z0-9-]{8,}"),  # Slack bot / user tokens
    re.compile(r"xapp-[A-Za-z0-9-]{8,}"),  # Slack app-level tokens
    re.compile(r"\b[MNO][A-Za-z\d_-]{20,}\.[A-Za-z\d_-]{5,}\.[A-Za-z\d_-]{20,}\b"),  # Discord bot tokens
    re.compile(r"(?i)(authorization:?\s*['\"]?(?:bearer|bot)\s+)[^\s'\",}]+"),
    re.compile(r"(?i)(://[^:/@\s]+:)[^@\s]+(@)"),  # passwords in URLs
]


def secrets_from_settings(settings: Any) -> list[str]:
    """The secret values a config points at (through its ``*_env`` keys)."""
    out: list[str] = []

    def walk(obj: Any) -> None:
        if obj is None:
            return
        data = obj.model_dump() if hasattr(obj, "model_dump") else obj
        if isinstance(data, dict):
            for k, v in data.items():
                if str(k).endswith("_env") and isinstance(v, str):
                    val = os.environ.get(v)
                    if val:
                        out.append(val)
                elif isinstance(v, dict):
                    walk(v)

    walk(settings)
    url = getattr(getattr(settings, "storage", None), "url", "") or ""
    m = re.search(r"://[^:/@\s]+:([^@\s]+)@", url)
    if m:
        out.append(m.group(1))
    return out


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # short values would mask ordinary words; real secrets are long
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def add(self, *secrets: str) -> None:
        self.secrets = sorted({*self.secrets, *(s for s in secrets if s and len(s) >= 6)}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for s in self.secrets:
            if s in text:
                text = text.replace(s, MASK)
        for p in _PATTERNS:
            text = p.sub(lambda m: (m.group(1) + MASK + (m.group(2) if m.lastindex == 2 else ""))
                         if m.lastindex else MASK, text)
        return text


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (arguments merged) and traceback through the redactor."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redact = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # a bad format string: still log, and still redact what there is
            msg = f"{record.msg} {record.args}"
        record.msg = self.redact(msg)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
            # the formatter must use the redacted text, not format the exception afresh
            record.exc_info = None
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


_installed: Redactor | None = None


def install(settings: Any = None, extra: Iterable[str] = ()) -> Redactor:
    """Put the filter on every root handler (and on handlers added later by ``basicConfig``)."""
    global _installed
    secrets = [*(secrets_from_settings(settings) if settings is not None else []), *extra]
    if _installed is None:
        _installed = Redactor(secrets)
    else:
        _installed.add(*secrets)
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for h in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in h.filters):
            h.addFilter(RedactingFilter(_installed))
    return _installed


def redact(text: str) -> str:
    """Redact with whatever ``install`` knows (patterns only before it ran)."""
    return (_installed or Redactor())(text)
