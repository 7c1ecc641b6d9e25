"""Neutral markdown → Slack mrkdwn, with Slack's escaping (``&``, ``<``, ``>``).

Slack has no backslash escape for ``*``, ``_``, ``~`` and `````; literal ones from member text are
written as look-alikes (or split with a zero-width space) so they can never start formatting.

Slack reads ``mrkdwn`` text objects and a message's top-level ``text`` (its notification and
fallback) as mrkdwn: both are made with ``to_mrkdwn``. ``plain_text`` objects (headers, button
labels) are shown as written and made with ``to_slack_plain``.
"""

from __future__ import annotations

from bot.messaging.markdown import Dialect, fit, plain_dialect, render

ZWSP = "\u200b"
_LOOKALIKE = {"*": "\u2217", "~": "\u223c", "`": "\u02cb", "_": ZWSP + "_"}


def _text(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _literal(c: str) -> str:
    if c in _LOOKALIKE:
        return _LOOKALIKE[c]
    if c == ":":
        return ":" + ZWSP  # breaks auto-linking of scheme://
    return _text(c)


SLACK = Dialect(
    text=_text,
    literal=_literal,
    bold="*",
    italic="_",
    code=lambda s: "`" + _text(s) + "`",
    link=lambda t, u: f"<{u}|{_text(t).replace('|', '/')}>" if t else f"<{u}>",
    mention=lambda i: f"<@{i}>",
    channel=lambda i: f"<#{i}>",
)


def to_mrkdwn(neutral: str) -> str:
    return render(neutral, SLACK)


_PLAIN = plain_dialect()


def to_slack_plain(neutral: str) -> str:
    """For ``plain_text`` objects, which Slack never parses for markup."""
    return render(neutral, _PLAIN)


def cut(neutral: str, limit: int, convert=to_mrkdwn) -> str:
    """``convert(neutral)`` in at most ``limit`` characters (see ``fit``)."""
    return fit(neutral, limit, convert)
