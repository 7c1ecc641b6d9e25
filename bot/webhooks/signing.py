"""Signing webhook requests as Slack and Stripe sign theirs: HMAC-SHA256 with the endpoint's
secret over ``"{timestamp}.{body}"``, sent as ``Steward-Signature: t=<unix seconds>,v1=<hex>``.
The timestamp is the moment of sending (a retry is signed anew), so a receiver can refuse a
request older than a few minutes: a captured request cannot be replayed later."""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "Steward-Signature"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"{timestamp}.{body}"``."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def header(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """The ``Steward-Signature`` header's value for ``body``, signed now (or at ``timestamp``)."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={signature(secret, t, body)}"
