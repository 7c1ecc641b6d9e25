"""Event triggers, keyed by the core event name. Each takes (event, filters, facts) -> bool."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bot.core.events import (
    ButtonClicked,
    CommandInvoked,
    MemberJoined,
    MessagePosted,
    ReactionAdded,
)
from bot.engine.registry import NoParams, trigger


class _F(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MemberJoinedFilters(_F):
    first_join: bool | None = Field(None, description="true: only a member's first join, not a rejoin")
    community_only: bool = Field(True, description="ignore joins of single channels")


@trigger("member_joined", MemberJoinedFilters)
def member_joined(ev: MemberJoined, f: MemberJoinedFilters, facts: dict[str, Any]) -> bool:
    """A member joined the workspace / server (or, with community_only false, a channel)."""
    if f.community_only and ev.channel_id and not facts.get("first_join"):
        return False
    if f.first_join is not None and bool(facts.get("first_join")) != f.first_join:
        return False
    return True


@trigger("member_left")
def member_left(ev, f, facts) -> bool:
    """A member left."""
    return True


class MessageFilters(_F):
    channels: list[str] = Field(default_factory=list, description="only these channels (names or IDs)")
    include_bots: bool = False
    include_threads: bool = True


@trigger("message_posted", MessageFilters)
def message_posted(ev: MessagePosted, f: MessageFilters, facts: dict[str, Any]) -> bool:
    """A message was posted."""
    if ev.is_bot and not f.include_bots:
        return False
    if not f.include_threads and ev.thread_id and ev.thread_id != ev.message_id:
        return False
    if f.channels:
        names = {c.lstrip("#") for c in f.channels}
        if ev.channel_id not in names and (ev.channel_name or "") not in names:
            return False
    return True


@trigger("message_edited")
def message_edited(ev, f, facts) -> bool:
    """A message was edited."""
    return True


@trigger("message_deleted")
def message_deleted(ev, f, facts) -> bool:
    """A message was deleted."""
    return True


class ReactionFilters(_F):
    emoji: list[str] = Field(default_factory=list, description="only these emoji names")


@trigger("reaction_added", ReactionFilters)
def reaction_added(ev: ReactionAdded, f: ReactionFilters, facts) -> bool:
    """A reaction was added."""
    return not f.emoji or ev.emoji in f.emoji


@trigger("reaction_removed")
def reaction_removed(ev, f, facts) -> bool:
    """A reaction was removed."""
    return True


class CommandFilters(_F):
    command: str | None = None


@trigger("command_invoked", CommandFilters)
def command_invoked(ev: CommandInvoked, f: CommandFilters, facts) -> bool:
    """A /steward subcommand was used."""
    return f.command is None or ev.command == f.command


class ButtonFilters(_F):
    action: str | None = None


@trigger("button_clicked", ButtonFilters)
def button_clicked(ev: ButtonClicked, f: ButtonFilters, facts) -> bool:
    """A digest button was clicked."""
    return f.action is None or ev.action == f.action


@trigger("message_reported", NoParams)
def message_reported(ev, f, facts) -> bool:
    """A member reported a message to the moderators."""
    return True
