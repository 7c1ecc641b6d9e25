"""The dashboard's words, per locale: ``messages/<locale>/dashboard.toml`` beside the bot's message
templates, chosen as the bot chooses a locale (the manager's own, then the community's, then ``en``)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any


class Words:
    """``words.for_locale(code)`` → a ``t(key, **values)`` that falls back to English, then the key."""

    def __init__(self, messages_dir: Path) -> None:
        self.catalogues: dict[str, dict[str, str]] = {}
        if messages_dir.is_dir():
            for d in sorted(messages_dir.iterdir()):
                f = d / "dashboard.toml"
                if f.is_file():
                    self.catalogues[d.name] = _flat(tomllib.loads(f.read_text(encoding="utf-8")))

    def locales(self) -> list[str]:
        return sorted(self.catalogues)

    def pick(self, *wanted: str | None) -> str:
        for code in wanted:
            if code and code.lower() in self.catalogues:
                return code.lower()
            if code and code.split("-")[0].split("_")[0].lower() in self.catalogues:
                return code.split("-")[0].split("_")[0].lower()
        return "en"

    def for_locale(self, locale: str):
        mine, en = self.catalogues.get(locale, {}), self.catalogues.get("en", {})

        def t(key: str, **values: Any) -> str:
            text = mine.get(key) or en.get(key) or key
            return text.format(**values) if values else text

        return t


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in data.items():
        key = f"{prefix}.{k}" if prefix else k
        if isinstance(v, dict):
            out.update(_flat(v, key))
        else:
            out[key] = str(v)
    return out
