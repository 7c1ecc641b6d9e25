"""Neutral markdown → Discord markdown. Literal characters from member text are backslash-escaped;
``@`` gets a zero-width space so ``@everyone``/``@here`` never ping even outside allowed_mentions.

Message content, embed titles and descriptions are Discord markdown (``to_discord``); embed footers
are shown as written (``to_discord_plain``)."""

from __future__ import annotations

from bot.messaging.markdown import Dialect, fit, plain_dialect, render

ZWSP = "\u200b"


def _literal(c: str) -> str:
    if c == "@":
        return "@" + ZWSP
    if c == ":":
        return ":" + ZWSP  # breaks auto-linking of scheme://
    if c in "\\*_~`|>[]()#<-":
        return "\\" + c
    return c


def _text(s: str) -> str:
    # template text is trusted, but @everyone typed in a template must not ping either
    return s.replace("@everyone", "@" + ZWSP + "everyone").replace("@here", "@" + ZWSP + "here")


DISCORD = Dialect(
    text=_text,
    literal=_literal,
    bold="**",
    italic="_",
    code=lambda s: "`" + s.replace("`", "ˋ") + "`",
    link=lambda t, u: f"[{t.replace(']', '')}](<{u}>)" if t else f"<{u}>",
    mention=lambda i: f"<@{i}>",
    channel=lambda i: f"<#{i}>",
)


def to_discord(neutral: str) -> str:
    return render(neutral, DISCORD)


_PLAIN = plain_dialect()


def to_discord_plain(neutral: str) -> str:
    """For the places Discord shows as written (embed footers): no markup is read there."""
    return render(neutral, _PLAIN)


def cut(neutral: str, limit: int, convert=to_discord) -> str:
    """``convert(neutral)`` in at most ``limit`` characters (see ``fit``)."""
    return fit(neutral, limit, convert)
