"""Registries keyed by the YAML word: a new trigger, scan, condition, rule or action is one decorated
function. The parameter model (pydantic) is both the validator and the JSON Schema.

A condition answers yes or no; a rule looks at the event and returns what it found (a hit) or None.
The engine runs every rule a playbook lists, and hands their hits to its actions (``ctx.hits``).

The engine's own entries live in bot/engine/{triggers,conditions,actions}.py; a feature's come with
its ``Feature`` (``registers``), which the app's feature list imports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Entry:
    name: str
    fn: Callable[..., Any]
    params: type[BaseModel]
    doc: str


class Registry:
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.entries: dict[str, Entry] = {}

    def __call__(self, name: str, params: type[BaseModel] = NoParams):
        def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
            if name in self.entries and self.entries[name].fn is not fn:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            doc = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
            self.entries[name] = Entry(name, fn, params, doc)
            return fn

        return deco

    def get(self, name: str) -> Entry | None:
        return self.entries.get(name)

    def names(self) -> list[str]:
        return sorted(self.entries)


triggers = Registry("trigger")
scans = Registry("scan")
conditions = Registry("condition")
rules = Registry("rule")
actions = Registry("action")

trigger = triggers
scan = scans
condition = conditions
rule = rules
action = actions

