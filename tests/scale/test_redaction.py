"""Secrets never appear in logs or error messages."""

from __future__ import annotations

import io
import logging

from bot import redaction
from bot.settings import load_settings

TOKEN = "xoxb-1234567890-abcdefghijkl-SECRETSECRET"
SIGNING = "0123456789abcdef0123456789abcdef"


def _capture(monkeypatch, install: bool) -> tuple[logging.Logger, io.StringIO]:
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING)
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    if install:
        settings = load_settings(None, storage={"url": "postgresql://steward:pa55w0rd-xyz@db.internal/steward"})
        handler.addFilter(redaction.RedactingFilter(redaction.Redactor(redaction.secrets_from_settings(settings))))
    log = logging.getLogger(f"steward.test.redaction.{install}")
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.DEBUG)
    return log, out


def _emit(log: logging.Logger) -> None:
    log.debug("Sending a request: headers %s", {"Authorization": f"Bearer {TOKEN}"})
    log.info("signing secret is %s", SIGNING)
    log.warning("connecting to postgresql://steward:pa55w0rd-xyz@db.internal/steward")
    try:
        raise RuntimeError(f"invalid_auth for token {TOKEN}")
    except RuntimeError:
        log.exception("send failed")
    log.error("a Discord token MTIzNDU2Nzg5MDEyMzQ1Njc4.GAbCdE.abcdefghijklmnopqrstuvwxyz012 leaked")


def test_log_lines_and_tracebacks_never_show_a_secret(monkeypatch):
    log, out = _capture(monkeypatch, install=True)
    _emit(log)
    text = out.getvalue()
    for secret in (TOKEN, SIGNING, "pa55w0rd-xyz", "abcdefghijklmnopqrstuvwxyz012"):
        assert secret not in text
    assert "Traceback" in text and "invalid_auth for token [redacted]" in text
    assert "Bearer [redacted]" in text and "postgresql://steward:[redacted]@db.internal" in text


def test_without_the_filter_the_same_lines_would_leak(monkeypatch):
    log, out = _capture(monkeypatch, install=False)
    _emit(log)
    assert TOKEN in out.getvalue()  # the check above is not vacuous
