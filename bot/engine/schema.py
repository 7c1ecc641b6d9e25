"""The playbook format as pydantic models. ``steward schema`` prints its JSON Schema."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.engine.durations import parse_duration

Duration = str | int | float


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScheduleSpec(_Strict):
    cron: str = Field(description="Five-field crontab: minute hour day-of-month month day-of-week")
    timezone: str = Field("UTC", description="IANA time zone the cron is read in, e.g. Europe/Amsterdam")


class IntervalSpec(_Strict):
    every: Duration = Field(description="e.g. 15m, 1h, 1d")

    @field_validator("every")
    @classmethod
    def _dur(cls, v: Duration) -> Duration:
        if parse_duration(v).total_seconds() <= 0:
            raise ValueError("interval must be positive")
        return v


class Trigger(_Strict):
    """Exactly one of ``event``, ``schedule``, ``interval``."""

    event: str | None = Field(None, description="Core event name, e.g. member_joined, message_posted")
    filters: dict[str, Any] = Field(default_factory=dict, description="Filters of the event trigger")
    schedule: ScheduleSpec | None = None
    interval: IntervalSpec | None = None

    @model_validator(mode="after")
    def _one(self) -> Trigger:
        n = sum(x is not None for x in (self.event, self.schedule, self.interval))
        if n != 1:
            raise ValueError("trigger needs exactly one of: event, schedule, interval")
        if self.filters and not self.event:
            raise ValueError("filters only apply to event triggers")
        return self

    @property
    def kind(self) -> str:
        return "event" if self.event else "schedule" if self.schedule else "interval"


class ScanSpec(_Strict):
    name: str = Field(description="Registered scan, e.g. unanswered_questions, lurkers, ambassador_candidates")
    params: dict[str, Any] = Field(default_factory=dict)


class Cap(_Strict):
    count: int = Field(ge=1)
    period: Duration

    @field_validator("period")
    @classmethod
    def _dur(cls, v: Duration) -> Duration:
        parse_duration(v)
        return v


class Limits(_Strict):
    once_per_subject: bool = Field(False, description="Run at most once per subject, ever (e.g. a welcome)")
    per_subject: Cap | None = Field(None, description="At most `count` runs per subject per `period`")
    per_hour: int | None = Field(None, ge=1, description="Global budget: at most this many runs per hour")


_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

Item = str | dict[str, Any]


class Playbook(_Strict):
    id: str = Field(description="Unique id: lowercase letters, digits, - and _")
    description: str = ""
    enabled: bool = True
    platforms: list[Literal["slack", "discord"]] = Field(default_factory=lambda: ["slack", "discord"])
    trigger: Trigger
    scan: ScanSpec | None = None
    conditions: list[Item] = Field(default_factory=list)
    rules: list[Item] = Field(default_factory=list, description="Rules, each looking at the event for something "
                              "(e.g. flood, terms): with rules, the actions run only when one found something, "
                              "and they are handed what was found")
    actions: list[Item] = Field(min_length=1)
    limits: Limits = Field(default_factory=Limits)
    vars: dict[str, Any] = Field(default_factory=dict, description="Extra values for this playbook's templates")

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError("id must be lowercase letters, digits, '-' or '_' (at most 64)")
        return v


def item_name_params(item: Item) -> tuple[str, dict[str, Any]]:
    """``- not_bot`` or ``- send_dm: {template: x}`` → (name, params)."""
    if isinstance(item, str):
        return item, {}
    if len(item) != 1:
        raise ValueError(f"each entry is one name with its parameters, got keys {sorted(item)}")
    (name, params), = item.items()
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ValueError(f"parameters of {name!r} must be a mapping")
    return name, params


def json_schema() -> dict[str, Any]:
    """The playbook JSON Schema, with every registered condition, rule, action and scan spelled out."""
    from bot.engine.loader import engine_entries
    from bot.engine.registry import actions, conditions, rules, scans

    engine_entries()  # the features' entries: the caller has imported the app's feature list
    schema = Playbook.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Steward playbook"

    def one_of(reg) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for name in reg.names():
            e = reg.get(name)
            ps = e.params.model_json_schema()
            # nested models' refs point at the root: hoist their definitions there
            schema.setdefault("$defs", {}).update(ps.pop("$defs", {}))
            if not ps.get("properties"):
                out.append({"const": name, "description": e.doc})
            out.append({
                "type": "object",
                "properties": {name: ps},
                "required": [name],
                "additionalProperties": False,
                "description": e.doc,
            })
        return out

    props = schema["properties"]
    props["conditions"] = {"type": "array", "items": {"anyOf": one_of(conditions)}}
    props["rules"] = {"type": "array", "items": {"anyOf": one_of(rules)}, "description": props["rules"]["description"]}
    props["actions"] = {"type": "array", "minItems": 1, "items": {"anyOf": one_of(actions)}}
    scan_names = scans.names()
    if scan_names and "$defs" in schema and "ScanSpec" in schema["$defs"]:
        schema["$defs"]["ScanSpec"]["properties"]["name"]["enum"] = scan_names
    return schema
