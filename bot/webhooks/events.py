"""The events Steward sends to webhook endpoints, as pydantic models: the payloads are built from
them and ``steward schema webhooks`` prints their JSON Schema (``schema/webhooks.schema.json``).

Every request body is one envelope: ``id`` (the same at every endpoint and on every retry, so a
receiver that has seen it can ignore a repeat), ``type``, ``created_at`` (when it happened), the
community's name and ``data``. Payloads carry IDs, names and times, never what a member wrote,
unless an endpoint asks for it (``include_text``, then only ``text`` fields)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model

from bot.core.clock import iso


class _P(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MemberRef(_P):
    """A member on one platform."""

    platform: Literal["slack", "discord"]
    id: str = Field(description="the platform's member ID (Slack U..., Discord snowflake)")
    display_name: str | None = None


class MemberJoined(_P):
    member: MemberRef
    joined_at: str = Field(description="ISO-8601 UTC")


class MemberOptedOut(_P):
    member: MemberRef


class MemberForgotten(_P):
    member: MemberRef = Field(description="the ID the member had: forget them too")


class FirstContribution(_P):
    member: MemberRef
    channel_id: str
    message_id: str
    text: str | None = Field(None, description="only for endpoints with include_text = true")


class LevelChanged(_P):
    member: MemberRef
    from_: Literal["reader", "contributor"] = Field(alias="from", description="the level before")
    to: Literal["contributor", "creator"] = Field(description="contributor: replied, continued their own "
                                                              "lines or reacted; creator: started a conversation")


class QuestionRef(_P):
    platform: Literal["slack", "discord"]
    channel_id: str
    message_id: str
    author_id: str
    asked_at: str | None = None
    text: str | None = Field(None, description="only for endpoints with include_text = true")


class QuestionUnanswered(_P):
    question: QuestionRef
    reason: str | None = Field(None, description="why it counts as unanswered, in words")


class QuestionResolved(_P):
    question: QuestionRef
    resolved_by: str | None = None


class AmbassadorApproved(_P):
    member: MemberRef
    approved_by: str


class CaseDecided(_P):
    case_id: int
    platform: Literal["slack", "discord"]
    member_id: str
    rule: str
    decision: str
    decided_by: str


class Sample(_P):
    """What ``steward webhooks test`` sends."""

    note: str


#: event type → the model of its ``data``, with what it means
EVENTS: dict[str, tuple[type[_P], str]] = {
    "member.joined": (MemberJoined, "a newcomer joined (first join only)"),
    "member.first_contribution": (FirstContribution, "a member's first message in the community"),
    "member.level_changed": (LevelChanged, "a member rose from reader to contributor or creator, or from "
                                           "contributor to creator (as the health report counts them)"),
    "member.opted_out": (MemberOptedOut, "a member asked Steward to stop messaging them"),
    "member.forgotten": (MemberForgotten, "a member's personal data was erased from Steward"),
    "question.unanswered": (QuestionUnanswered, "a question went unanswered"),
    "question.resolved": (QuestionResolved, "a question was marked resolved"),
    "ambassador.approved": (AmbassadorApproved, "a manager approved a member as ambassador"),
    "case.decided": (CaseDecided, "a moderator decided a moderation case"),
    "webhook.test": (Sample, "a sample sent by steward webhooks test"),
}
EVENT_TYPES: tuple[str, ...] = tuple(EVENTS)


def _envelope(event_type: str, data_model: type[_P], about: str) -> type[BaseModel]:
    fields: dict[str, Any] = {
        "id": (str, Field(description="unique per event; the same on a retry and at every endpoint")),
        "type": (Literal[event_type], Field(description=about)),  # type: ignore[valid-type]
        "created_at": (str, Field(description="when it happened, ISO-8601 UTC")),
        "community": (str, ...),
        "data": (data_model, ...),
    }
    name = "".join(p.capitalize() for p in event_type.replace("_", ".").split(".")) + "Event"
    return create_model(name, __config__=ConfigDict(extra="forbid"), **fields)


_ENVELOPES = [_envelope(t, m, about) for t, (m, about) in EVENTS.items()]
_ANY = TypeAdapter(Annotated[Union[tuple(_ENVELOPES)], Field(discriminator="type")])  # noqa: UP007


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a webhook request body (any event type)."""
    schema = _ANY.json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "Steward webhook event",
            "description": "The body of each POST Steward sends to a webhook endpoint. Verify the "
                           "Steward-Signature header before trusting it (see the README).",
            **schema}


def event_id(key: str) -> str:
    """The event's ID, derived from its unique key: the same however often it is queued."""
    return "evt_" + uuid.uuid5(uuid.NAMESPACE_URL, "steward:" + key).hex


def body(event_type: str, data: dict[str, Any], *, key: str, at: datetime, community: str,
         include_text: bool = False) -> str:
    """The request body of one event, checked against its model (text left out unless asked for)."""
    model, _ = EVENTS[event_type]
    if not include_text:
        data = _without_text(data)
    doc = {"id": event_id(key), "type": event_type, "created_at": iso(at), "community": community,
           "data": model.model_validate(data).model_dump(mode="json", exclude_none=True, by_alias=True)}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def _without_text(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _without_text(x) for k, x in v.items() if k != "text"}
    return v
