"""Term lists and the normalisation that makes them hard to dodge.

A message and every term go through the same ``skeleton()``: invisible characters and markdown
markers removed, compatibility forms folded (fullwidth, math letters), accents stripped, look-alike
letters from other scripts mapped to Latin (Unicode's confusables data, via ``confusable_homoglyphs``),
lower-cased, long letter runs shortened and leetspeak read as letters. Terms then match on word
boundaries of the skeleton, so ``Scunthorpe`` never hits a four-letter term inside it.

Every step is a C-level pass (``re``, ``str.translate``, ``unicodedata``) over a text capped at
``MAX_CHARS``, so the cost per message is linear and small even for hostile input.
"""

from __future__ import annotations

import functools
import json
import re
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import re2

TERMS_DIR = Path(__file__).resolve().parent / "terms"

#: Slack's and Discord's own limits are 40,000 and 4,000 characters; past this nothing is scanned
MAX_CHARS = 50_000

# zero-width and other invisible characters (format controls, variation selectors, tag characters,
# Hangul fillers) that split a word without showing
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f"
    "\u3164\ufe00-\ufe0f\ufeff\uffa0\U000e0000-\U000e0fff]"
)
# combining marks left after NFKD (accents, and the stacks of "zalgo" text)
_MARKS = re.compile("[\u0300-\u036f\u0483-\u0489\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+")
# markdown markers inside a word (**f**oo, f_o_o, ||spoiler||) and escapes
_MARKUP = re.compile(r"\|\||[*_~`\\]")
_MARKUP_CHARS = "|*_~`\\"
# a letter repeated three times or more (fuuuuck), shortened to one; each position is tried once and
# a run is consumed whole, so the pass stays linear
_RUNS = re.compile(r"([a-z!|@$])\1{2,}")
#: whether there is such a run (the same answer, without the repeat's bookkeeping at every letter)
_HAS_RUN = re.compile(r"([a-z!|@$])\1\1")

# leetspeak digits, and the letter they are ambiguous with collapsed to one (l and 1 read as i)
_LEET = str.maketrans({"0": "o", "1": "i", "l": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g"})
# every ASCII character in the table (the others as themselves): a character missing from a
# translate table costs a KeyError inside str.translate, once per distinct character and call
_LEET = {i: i for i in range(128)} | _LEET
# punctuation read as a letter only inside a word (sh!t, $hit), never at its end (kys!)
_PUNCT = {"|": "i", "!": "i", "@": "a", "$": "s", "+": "t", "€": "e"}
_PUNCT_LEET = re.compile(r"[|!@$+€](?=[|!@$+€]{0,3}\w)")  # bounded look-ahead: linear


@functools.cache
def _confusables() -> dict[int, str]:
    """Non-Latin look-alikes mapped to the ASCII letter or digit they imitate."""
    table: dict[int, str] = {}
    try:
        import confusable_homoglyphs

        data = json.loads((Path(confusable_homoglyphs.__file__).parent / "confusables.json").read_text("utf-8"))
    except (ImportError, OSError, ValueError):  # pragma: no cover - the package is a dependency
        return table
    for ch, glyphs in data.items():
        if len(ch) != 1:
            continue
        if ch.isascii() and ch.isalnum():
            # ASCII letter -> its look-alikes: map each look-alike back to it
            for g in glyphs:
                c = g.get("c", "")
                if len(c) == 1 and not c.isascii():
                    table.setdefault(ord(c), ch.lower())
        elif not ch.isascii():
            for g in glyphs:
                c = g.get("c", "")
                if len(c) == 1 and c.isascii() and c.isalnum():
                    table.setdefault(ord(ch), c.lower())
                    break
    # the data pairs some letters in one case only (Cyrillic К ~ K, but not к ~ k): cover both cases
    for code, target in list(table.items()):
        for variant in (chr(code).lower(), chr(code).upper()):
            if len(variant) == 1 and not variant.isascii():
                table.setdefault(ord(variant), target)
    return table


def skeleton(text: str) -> str:
    """The form that terms are matched in (see the module docstring)."""
    s = text[:MAX_CHARS]
    if not s.isascii():
        # lone surrogates (JSON may carry them) are not text: RE2 needs valid UTF-8
        s = s.encode("utf-8", "replace").decode("utf-8")
        s = _INVISIBLE.sub("", s)
        s = unicodedata.normalize("NFKD", s)
        s = _MARKS.sub("", s)
        s = s.translate(_confusables())
    # (most messages hold no markup and no punctuation read as a letter: the passes are skipped)
    if any(c in s for c in _MARKUP_CHARS):
        s = _MARKUP.sub("", s)
    s = s.lower()
    if _HAS_RUN.search(s):
        s = _RUNS.sub(r"\1", s)
    if any(c in s for c in _PUNCT):
        s = _PUNCT_LEET.sub(_punct, s)
    s = s.translate(_LEET)
    return " ".join(s.split())


def _punct(m: re.Match) -> str:
    return _PUNCT[m.group(0)]


@dataclass(frozen=True)
class Term:
    text: str
    #: a trailing ``*`` in the list: also matches longer words that start with it
    prefix: bool
    source: str


def parse_terms(lines: Iterable[str], source: str) -> list[Term]:
    """One term per line; ``#`` starts a comment; ``word*`` also matches words starting with it."""
    out: list[Term] = []
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        prefix = line.endswith("*")
        out.append(Term(line.rstrip("*").strip(), prefix, source))
    return out


def list_path(locale: str) -> Path:
    return TERMS_DIR / f"{locale}.txt"


def available_locales() -> list[str]:
    return sorted(p.stem for p in TERMS_DIR.glob("*.txt"))


@functools.cache
def _load_file(path: str, mtime: float) -> tuple[Term, ...]:
    p = Path(path)
    return tuple(parse_terms(p.read_text(encoding="utf-8").splitlines(), p.name))


def load_list(path: Path) -> tuple[Term, ...]:
    """A term file, re-read when it changes (admins edit these)."""
    return _load_file(str(path), path.stat().st_mtime)


def _compile_alternation(alts: list[str]):
    """One RE2 automaton for all terms: a single linear pass however long the list. RE2's ``\\b`` is
    ASCII, which is what skeletons are made of; a list too large for RE2's memory budget falls back
    to ``re`` (escaped literals only, so still no backtracking blow-up)."""
    body = "|".join(alts)
    opts = re2.Options()
    opts.max_mem = 64 << 20
    opts.log_errors = False
    try:
        # compiled and run on UTF-8 bytes: the str wrapper's offset bookkeeping is not needed here
        return re2.compile((r"\b(?:" + body + r")\b").encode("utf-8"), opts)
    except re2.error:  # pragma: no cover - needs tens of thousands of terms
        return re.compile(r"(?<!\w)(?:" + body + r")(?!\w)")


class TermMatcher:
    """All terms of some lists compiled into one alternation over skeletons, with word boundaries."""

    def __init__(self, terms: Iterable[Term], allow: Iterable[str] = ()) -> None:
        allowed = {skeleton(a) for a in allow}
        by_form: dict[str, Term] = {}
        for t in terms:
            form = skeleton(t.text).strip()
            if form and form not in allowed:
                key = form + ("*" if t.prefix else "")
                by_form.setdefault(key, t)
        self.terms = by_form
        # longest first so a phrase wins over a word inside it
        alts = []
        for key in sorted(by_form, key=len, reverse=True):
            form = key.rstrip("*")
            pat = re.escape(form).replace(r"\ ", " ")
            alts.append(pat + (r"\w*" if key.endswith("*") else ""))
        self._rx = _compile_alternation(alts) if alts else None

    def find(self, text: str, limit: int = 5) -> list[str]:
        """The distinct terms a text contains (as written in the list), at most ``limit``."""
        if self._rx is None or not text:
            return []
        found: list[str] = []
        sk = skeleton(text)
        rx = self._rx
        if isinstance(rx.pattern, bytes):
            hits = (m.group(0).decode("utf-8", "replace") for m in rx.finditer(sk.encode("utf-8", "replace")))
        else:
            hits = (m.group(0) for m in rx.finditer(sk))
        for n, hit in enumerate(hits):
            if n >= 50:  # a text that repeats one term a thousand times needs no thousand look-ups
                break
            term = self.terms.get(hit) or self._prefix_term(hit)
            word = term.text if term else hit
            if word not in found:
                found.append(word)
                if len(found) >= limit:
                    break
        return found

    def _prefix_term(self, hit: str) -> Term | None:
        for key, t in self.terms.items():
            if key.endswith("*") and hit.startswith(key[:-1]):
                return t
        return None


# ---------------------------------------------------------------------------------------------- a rule's matcher
def resolve_file(f: str, settings: Any) -> Path:
    """A term file named in a playbook, relative to the config's folder when there is one."""
    if settings is not None and hasattr(settings, "path"):
        return settings.path(f)
    return Path(f)


@functools.lru_cache(maxsize=32)
def _matcher(key: tuple) -> TermMatcher:
    lists, extra, allow = key
    terms = [t for path, _mtime in lists for t in load_list(Path(path))]
    terms += parse_terms(extra, "playbook")
    return TermMatcher(terms, allow)


#: how often a rule looks at its term files' modification times (the message path is hot)
RECHECK_S = 5.0
_recent: dict[tuple, tuple[float, TermMatcher]] = {}
#: the same, looked up by the rule's parameters object (kept in the value, so a reused id never matches)
_by_params: dict[int, tuple[Any, Any, float, TermMatcher]] = {}


def matcher_for(p: Any, settings: Any = None) -> TermMatcher:
    """The compiled matcher of a terms rule; rebuilt when a list file changes (noticed within
    ``RECHECK_S`` seconds, so every message does not stat the files)."""
    now = time.monotonic()
    quick = _by_params.get(id(p))
    if quick is not None and quick[0] is p and quick[1] is settings and now - quick[2] < RECHECK_S:
        return quick[3]
    rule_key = (tuple(p.locales), tuple(p.files), tuple(p.extra), tuple(p.allow), id(settings))
    hit = _recent.get(rule_key)
    if hit is not None and now - hit[0] < RECHECK_S:
        _by_params[id(p)] = (p, settings, hit[0], hit[1])
        return hit[1]
    paths = [list_path(loc) for loc in p.locales] + [resolve_file(f, settings) for f in p.files]
    lists = tuple((str(q), q.stat().st_mtime) for q in paths if q.is_file())
    m = _matcher((lists, tuple(p.extra), tuple(p.allow)))
    if len(_recent) > 256:
        _recent.clear()
        _by_params.clear()
    _recent[rule_key] = (now, m)
    _by_params[id(p)] = (p, settings, now, m)
    return m
