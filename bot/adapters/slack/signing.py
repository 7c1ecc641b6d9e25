"""HTTP mode's incoming requests: the signature check on the raw bytes, and the body as Bolt reads it.
Both refuse what is not what Slack sends without raising, so a forged or malformed request costs a
status code and one line in the log."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

from aiohttp import web
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.request.internals import build_normalized_headers, extract_content_type, parse_body

#: Slack's replay window: a signed request older (or newer) than this is refused
MAX_REQUEST_AGE = 5 * 60


def signed(secret: bytes | None, raw: bytes, headers: Any) -> bool:
    """``raw`` carries, under ``secret``, a valid ``X-Slack-Signature`` (v0) at most five minutes old.

    Slack signs the bytes; the SDK's verifier decodes them first and raises on a body that is
    not UTF-8, so the same HMAC is computed here on the bytes as they came.
    """
    ts, sig = headers.get("X-Slack-Request-Timestamp", ""), headers.get("X-Slack-Signature", "")
    if secret is None or not (ts.isascii() and ts.isdigit()) or not sig.isascii():
        return False
    if abs(time.time() - int(ts)) > MAX_REQUEST_AGE:
        return False
    mac = hmac.new(secret, b"v0:" + ts.encode() + b":" + raw, hashlib.sha256)
    return hmac.compare_digest("v0=" + mac.hexdigest(), sig)


def bolt_request(raw: bytes, request: web.Request) -> AsyncBoltRequest | str:
    """A signed body as Bolt reads it (JSON, or a form with a JSON ``payload``), or what is wrong with it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "body is not UTF-8"
    try:
        body = parse_body(text, extract_content_type(build_normalized_headers(dict(request.headers))))
    except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
        return "body is not JSON or a form Slack sends"
    if not isinstance(body, dict):
        return "body is not a JSON object"
    if body.get("type") == "event_callback" and not isinstance(body.get("event_id", ""), str):
        return "event_id is not a string"
    try:
        return AsyncBoltRequest(body=text, query=request.query_string, headers=request.headers)  # type: ignore[arg-type]
    except (AttributeError, TypeError, KeyError, IndexError, ValueError):
        # Bolt reads team, enterprise and authorizations while building its request
        return "body is not shaped like a Slack request"
