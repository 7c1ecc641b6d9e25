"""A small neutral markdown that templates write and each adapter converts.

Syntax: ``**bold**``, ``_italic_``, `` `code` ``, ``[text](url)``, ``<@MEMBER_ID>``,
``<#CHANNEL_ID>``, and ``\\X`` for a literal character X. Member-supplied values are escaped with
``escape()`` so that, whatever the platform, a display name can never ping, link or format.

Only the adapters' own dialects (``to_mrkdwn``, ``to_discord`` and their plain-text forms) make
strings that are sent to a platform; ``to_plain`` is for terminals, reports and tests.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from bot.core.text import neutralise

_SPECIAL = set("\\*_~`[]()<>|#@!&")
_TOKEN = re.compile(
    r"\\(?P<esc>.)"
    r"|`(?P<code>[^`\n]*)`"
    r"|\[(?P<ltext>[^\]\n]*)\]\((?P<url>[^)\s]+)\)"
    r"|<@(?P<mention>[A-Za-z0-9_.:-]+)>"
    r"|<#(?P<channel>[A-Za-z0-9_.:-]+)>"
    r"|(?P<bold>\*\*)"
    r"|(?P<italic>(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))"
    r"|(?P<text>[^\\`\[<*_]+|.)",
    re.S,
)


def escape(value: object) -> str:
    """Neutral-escape a member-supplied value: every special character becomes literal."""
    s = str(value)
    out = []
    for i, ch in enumerate(s):
        if ch in _SPECIAL or (ch == ":" and s.startswith("//", i + 1)):
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


@dataclass(frozen=True)
class Dialect:
    """How one platform writes each piece of the neutral markdown."""

    text: Callable[[str], str]
    literal: Callable[[str], str]
    bold: str
    italic: str
    code: Callable[[str], str]
    link: Callable[[str, str], str]
    mention: Callable[[str], str]
    channel: Callable[[str], str]


def render(src: str, d: Dialect) -> str:
    """Neutral markdown in one platform's dialect. Every outbound string passes here, so this is where
    bidirectional overrides and zero-width characters are taken out of names and quoted text."""
    src = neutralise(src)
    out: list[str] = []
    for m in _TOKEN.finditer(src):
        g = _kind(m)
        if g == "esc":
            out.append(d.literal(m.group("esc")))
        elif g == "code":
            out.append(d.code(m.group("code")))
        elif g == "ltext":
            out.append(d.link(unescape(m.group("ltext")), m.group("url")))
        elif g == "mention":
            out.append(d.mention(m.group("mention")))
        elif g == "channel":
            out.append(d.channel(m.group("channel")))
        elif g == "bold":
            out.append(d.bold)
        elif g == "italic":
            out.append(d.italic)
        else:
            out.append(d.text(m.group("text")))
    return "".join(out)


_KINDS = ("esc", "code", "ltext", "mention", "channel", "bold", "italic", "text")


def _kind(m: re.Match) -> str:
    # lastgroup would name `url` for a link: test the alternatives in order instead
    for k in _KINDS:
        if m.group(k) is not None:
            return k
    return "text"


def unescape(src: str) -> str:
    return re.sub(r"\\(.)", r"\1", src)


def plain_dialect(member_name: Callable[[str], str] = lambda i: i,
                  channel_name: Callable[[str], str] = lambda i: i) -> Dialect:
    """Plain text for terminals, reports and backtests."""
    return Dialect(
        text=lambda s: s,
        literal=lambda c: c,
        bold="",
        italic="",
        code=lambda s: s,
        link=lambda t, u: f"{t} ({u})" if t and t != u else u,
        mention=lambda i: "@" + member_name(i),
        channel=lambda i: "#" + channel_name(i),
    )


def to_plain(src: str, **kw) -> str:
    return render(src, plain_dialect(**kw))


def fit(neutral: str, limit: int, convert: Callable[[str], str]) -> str:
    """``convert(neutral)`` in at most ``limit`` characters. The neutral text is cut, not the result,
    so a cut never leaves half an escape, an entity or a mention behind."""
    out = convert(neutral)
    while len(out) > limit and neutral:
        neutral = neutral[: max(0, len(neutral) - (len(out) - limit) - 1)]
        out = convert(neutral) + "…"
    return out


def mentioned_ids(src: str) -> tuple[str, ...]:
    """Members a neutral text means to address (used for allowed mentions)."""
    return tuple(dict.fromkeys(m.group("mention") for m in _TOKEN.finditer(src) if _kind(m) == "mention"))
