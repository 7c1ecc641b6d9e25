"""Admins' regular expressions, run on RE2 (no backreferences or lookaround, so matching time stays
linear in the text): compiled once, tried together in one pass, then one by one for which matched."""

from __future__ import annotations

import functools
from typing import Any

import re2


def _options(case_sensitive: bool) -> re2.Options:
    o = re2.Options()
    o.case_sensitive = case_sensitive
    o.max_mem = 8 << 20  # a pattern that needs more than this is refused at check time
    o.log_errors = False
    return o


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: str, case_sensitive: bool):
    # compiled for UTF-8 bytes: the text is encoded once for all patterns, and the str wrapper's
    # offset bookkeeping is skipped (only the matched text is needed)
    return re2.compile(pattern.encode("utf-8", "replace"), _options(case_sensitive))


@functools.lru_cache(maxsize=64)
def _any_of(patterns: tuple[str, ...], case_sensitive: bool):
    """All the patterns that compile, as one expression: one pass tells whether any matches."""
    ok = []
    for pat in patterns:
        try:
            compile_pattern(pat, case_sensitive)
        except re2.error:
            continue
        ok.append(pat)
    if len(ok) < 2:
        return None
    try:
        return compile_pattern("|".join(f"(?:{pat})" for pat in ok), case_sensitive)
    except re2.error:  # too big together: the patterns run one by one
        return None


def search_patterns(p: Any, text: str) -> tuple[int, str] | None:
    """The first of a patterns rule's expressions (``p.patterns``) that matches: (index, matched text)."""
    # lone surrogates (JSON allows them) are not UTF-8, which RE2 needs: replaced
    data = text.encode("utf-8", "replace")
    combined = _any_of(tuple(p.patterns), p.case_sensitive)
    if combined is not None and not combined.search(data):
        return None
    for i, pat in enumerate(p.patterns):
        try:
            rx = compile_pattern(pat, p.case_sensitive)
        except re2.error:
            continue  # steward check reports it; a broken pattern never stops the others
        m = rx.search(data)
        if m:
            return i, m.group(0).decode("utf-8", "replace")
    return None
