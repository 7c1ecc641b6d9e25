"""Reading a CRM file (CSV or JSON Lines) into checked rows, or every problem with its line.

Each row names a member by ``slack_id``, ``discord_id`` and/or ``email`` (at least one) and gives
attributes: ``membership``, ``region``, ``language`` (a language code: it becomes the member's
language), ``interests`` (a list; in CSV separated by ``;``), ``start_date`` (YYYY-MM-DD, the member's
own) and any other column whose name is a plain word (letters, digits, ``_``), usable in templates
and conditions as ``member.attributes.NAME``. The e-mail is used to find the member and is not kept.
A file with any problem is refused whole: nothing of it is written."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.core.errors import Problem

#: the columns that say who a row is about (not stored)
KEYS = ("slack_id", "discord_id", "email")
#: the largest file read (a CRM export of a large association is a few MB)
MAX_BYTES = 50 * 1024 * 1024
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
Value = str | int | float | bool | list[str]


class CrmRow(BaseModel):
    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    slack_id: str | None = Field(None, pattern=r"^[UW][A-Z0-9]{2,30}$")
    discord_id: str | None = Field(None, pattern=r"^[0-9]{15,21}$")
    email: str | None = Field(None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    membership: str | None = Field(None, max_length=100)
    region: str | None = Field(None, max_length=100)
    language: str | None = Field(None, pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
    interests: list[str] | None = Field(None, max_length=50)
    start_date: date | None = None

    @field_validator("interests", mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        if isinstance(v, str):
            return [x.strip() for x in v.split(";") if x.strip()]
        return v

    @field_validator("interests")
    @classmethod
    def _short(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and any(len(x) > 100 for x in v):
            raise ValueError("an interest is at most 100 characters")
        return v


@dataclass
class Row:
    """One checked row: where it is, whom it names, what it says."""

    line: int
    slack_id: str | None
    discord_id: str | None
    email: str | None
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def locale(self) -> str | None:
        """The member's language as templates are chosen by (``nl-BE`` → ``nl``)."""
        lang = self.attributes.get("language")
        return re.split(r"[-_]", lang)[0].lower() if isinstance(lang, str) and lang else None


def read(path: Path) -> tuple[list[Row], list[Problem]]:
    """The rows of a ``.csv`` or ``.jsonl`` file, or the problems that make it unusable."""
    where = str(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        return [], [Problem(where, 0, "-", f"cannot read the file: {e.strerror or e}")]
    if len(raw) > MAX_BYTES:
        return [], [Problem(where, 0, "-", f"the file is larger than {MAX_BYTES // 1024 // 1024} MB")]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        return [], [Problem(where, line, "-", "not UTF-8 text (save the export as UTF-8)")]
    if path.suffix.lower() in (".jsonl", ".ndjson") or (path.suffix.lower() == ".json" and text.lstrip()[:1] == "{"):
        records = _jsonl(where, text)
    elif path.suffix.lower() == ".csv":
        records = _csv(where, text)
    else:
        return [], [Problem(where, 0, "-", "say what the file is by its name: .csv or .jsonl (JSON Lines)")]
    rows: list[Row] = []
    problems: list[Problem] = [p for p in records if isinstance(p, Problem)]
    for rec in records:
        if isinstance(rec, Problem):
            continue
        line, data = rec
        row, errs = _check(where, line, data)
        problems += errs
        if row is not None:
            rows.append(row)
    problems.sort(key=lambda p: p.line)
    if not rows and not problems:
        problems.append(Problem(where, 0, "-", "no rows"))
    return rows, problems


def _csv(where: str, text: str) -> list[Any]:
    reader = csv.reader(io.StringIO(text, newline=""))
    out: list[Any] = []
    try:
        header = next(reader, None)
        if header is None:
            return [Problem(where, 1, "-", "empty file")]
        header = [h.strip() for h in header]
        bad = [h for h in header if not _NAME.fullmatch(h)]
        if bad:
            return [Problem(where, 1, "-", f"column name(s) {', '.join(repr(b) for b in bad)}: a name is a plain "
                                           "word (letters, digits and _), used as member.attributes.NAME")]
        dup = sorted({h for h in header if header.count(h) > 1})
        if dup:
            return [Problem(where, 1, "-", f"column(s) {', '.join(dup)} appear more than once")]
        if not set(header) & set(KEYS):
            return [Problem(where, 1, "-", "no column says who a row is about: slack_id, discord_id or email")]
        start = reader.line_num + 1
        for cells in reader:
            line, start = start, reader.line_num + 1
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                out.append(Problem(where, line, "-", f"{len(cells)} value(s) where the header has {len(header)}"))
                continue
            out.append((line, {h: c for h, c in zip(header, cells, strict=True) if c.strip()}))
    except csv.Error as e:
        out.append(Problem(where, reader.line_num, "-", f"not valid CSV: {e}"))
    return out


def _jsonl(where: str, text: str) -> list[Any]:
    out: list[Any] = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except ValueError as e:
            out.append(Problem(where, i, "-", f"not valid JSON: {e}"))
            continue
        if not isinstance(doc, dict):
            out.append(Problem(where, i, "-", "each line is one JSON object"))
            continue
        # an ID written as a JSON number is still an ID
        out.append((i, {k: (str(v) if k in KEYS and isinstance(v, int) else v) for k, v in doc.items()
                        if v not in (None, "")}))
    return out


def _check(where: str, line: int, data: dict[str, Any]) -> tuple[Row | None, list[Problem]]:
    problems = []
    for k, v in data.items():
        if not isinstance(k, str) or not _NAME.fullmatch(k):
            problems.append(Problem(where, line, str(k), "a name is a plain word (letters, digits and _)"))
        elif k not in CrmRow.model_fields and not _plain(v):
            problems.append(Problem(where, line, k, "a value is text, a number, true/false or a list of texts "
                                                    "(at most 500 characters)"))
    try:
        m = CrmRow.model_validate(data)
    except ValidationError as e:
        for err in e.errors():
            col = str(err["loc"][0]) if err["loc"] else "-"
            problems.append(Problem(where, line, col, _say(col, err["msg"])))
        return None, problems
    if not (m.slack_id or m.discord_id or m.email):
        problems.append(Problem(where, line, "-", "says nobody: give slack_id, discord_id or email"))
    if problems:
        return None, problems
    attrs = {k: v for k, v in m.model_dump(mode="json", exclude_none=True).items() if k not in KEYS}
    return Row(line, m.slack_id, m.discord_id, (m.email or "").lower() or None, attrs), []


def _plain(v: Any) -> bool:
    if isinstance(v, list):
        return len(v) <= 50 and all(isinstance(x, str) and len(x) <= 500 for x in v)
    return isinstance(v, (int, float, bool)) or (isinstance(v, str) and len(v) <= 500)


def _say(col: str, msg: str) -> str:
    hints = {"slack_id": "a Slack member ID such as U0123ABCD", "discord_id": "a Discord user ID (digits)",
             "email": "an e-mail address", "language": "a language code such as en, nl or pt-BR",
             "start_date": "a date as YYYY-MM-DD"}
    return f"not {hints[col]}" if col in hints else msg
