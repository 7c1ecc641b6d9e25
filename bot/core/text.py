"""What a member's text is made of, the same answer for every rule and scan: code (inline and fenced,
where nothing is a link or a mention), links outside code, and the invisible characters that make a
name or a quote read differently from what it is (bidirectional overrides, zero-width characters).

Both platforms write code the same way: ``` fenced ``` blocks and `inline` spans.
"""

from __future__ import annotations

import re

#: fenced blocks first (a fence holds backticks), then inline spans; an unclosed fence is not code
CODE = re.compile(r"```.*?```|`[^`]*`", re.S)
#: a link as the platforms make one: scheme://… or www.… (Slack wraps them in <…|label>)
URL = re.compile(r"\bhttps?://[^\s<>|`]+|(?<![\w./])(?:www\.)[^\s<>|`]+", re.I)

#: bidirectional embeddings, overrides, isolates and marks (U+202A-U+202E, U+2066-U+2069,
#: U+200E/F, U+061C), and zero-width characters (U+200B-U+200D, U+2060, U+FEFF)
_BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
INVISIBLE = re.compile(f"[{_BIDI}{_ZERO_WIDTH}]")
_ZWJ = "\u200d"


def without_code(text: str) -> str:
    """The text with its code spans and blocks blanked out (each replaced by a space)."""
    return CODE.sub(" ", text) if "`" in text else text


def lower_twin(rx: re.Pattern[str]) -> re.Pattern[str]:
    """``rx`` (case-insensitive) without ``IGNORECASE``, for ASCII text already lowercased, where
    the two find the same (case-insensitive matching is the slower): its letters are all lowercase
    outside escapes (``\\S``, ``\\W``), which is checked here."""
    if not rx.flags & re.I or re.search(r"[A-Z]|\(\?[a-zA-Z]*i", re.sub(r"\\.", "", rx.pattern)):
        raise ValueError(f"not a case-insensitive pattern in lowercase: {rx.pattern!r}")
    return re.compile(rx.pattern, rx.flags & ~re.I)


def links(text: str) -> list[str]:
    """The links a member posted: URLs outside code (a URL in a code block is text, not a link)."""
    if "://" not in text and "www." not in text.lower():
        return []
    return URL.findall(without_code(text))


def _pictographic(ch: str) -> bool:
    o = ord(ch)
    return o >= 0x1F000 or 0x2600 <= o <= 0x27BF or o in (0xFE0F, 0x2640, 0x2642, 0x2695, 0x2708)


def neutralise(text: str) -> str:
    """Remove the characters that reorder or hide text: a name with U+202E cannot show reversed,
    and none can hide a word from a reader. A zero-width joiner inside an emoji sequence (👩‍💻)
    is kept: there it joins pictures, it cannot reorder or hide letters."""
    if not INVISIBLE.search(text):
        return text

    def drop(m: re.Match[str]) -> str:
        if m.group() == _ZWJ:
            i = m.start()
            if 0 < i < len(text) - 1 and _pictographic(text[i - 1]) and _pictographic(text[i + 1]):
                return _ZWJ
        return ""

    return INVISIBLE.sub(drop, text)
