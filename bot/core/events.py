"""Core events: one frozen dataclass per thing that happens, platform-neutral.

Identity is platform-neutral but keeps the native ID (Slack ``U...`` / message ``ts``; Discord
snowflakes) so every output can name things the way the platform does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal

Platform = Literal["slack", "discord"]
PLATFORMS: tuple[str, ...] = ("slack", "discord")


@dataclass(frozen=True, slots=True)
class Event:
    """Base of every core event. ``at`` is timezone-aware UTC."""

    name: ClassVar[str] = "event"
    platform: str
    at: datetime


@dataclass(frozen=True, slots=True)
class MemberJoined(Event):
    name: ClassVar[str] = "member_joined"
    member_id: str = ""
    display_name: str = ""
    is_bot: bool = False
    #: channel joined (Slack ``member_joined_channel``); None for joining the workspace/guild
    channel_id: str | None = None
    locale: str | None = None
    timezone: str | None = None


@dataclass(frozen=True, slots=True)
class MemberLeft(Event):
    name: ClassVar[str] = "member_left"
    member_id: str = ""
    channel_id: str | None = None


@dataclass(frozen=True, slots=True)
class MessagePosted(Event):
    name: ClassVar[str] = "message_posted"
    channel_id: str = ""
    message_id: str = ""
    author_id: str = ""
    text: str = ""
    #: root of the thread this message belongs to (Slack ``thread_ts``, Discord thread channel)
    thread_id: str | None = None
    #: message this one explicitly replies to (Discord ``message.reference``)
    reply_to: str | None = None
    mentions: tuple[str, ...] = ()
    is_bot: bool = False
    #: the author's display name when the platform sends it with the message
    author_name: str | None = None
    channel_name: str | None = None
    #: "forum" for a forum post's opening message, "me" for /me messages, else None
    kind: str | None = None

    @property
    def posted_at(self) -> datetime:
        return self.at


@dataclass(frozen=True, slots=True)
class MessageEdited(Event):
    name: ClassVar[str] = "message_edited"
    channel_id: str = ""
    message_id: str = ""
    author_id: str = ""
    text: str = ""


@dataclass(frozen=True, slots=True)
class MessageDeleted(Event):
    name: ClassVar[str] = "message_deleted"
    channel_id: str = ""
    message_id: str = ""


@dataclass(frozen=True, slots=True)
class ReactionAdded(Event):
    name: ClassVar[str] = "reaction_added"
    channel_id: str = ""
    message_id: str = ""
    member_id: str = ""
    emoji: str = ""
    #: author of the message reacted to, when the platform says
    message_author_id: str | None = None


@dataclass(frozen=True, slots=True)
class ReactionRemoved(Event):
    name: ClassVar[str] = "reaction_removed"
    channel_id: str = ""
    message_id: str = ""
    member_id: str = ""
    emoji: str = ""


@dataclass(frozen=True, slots=True)
class CommandInvoked(Event):
    """``/steward <sub> args`` from a member. ``reply`` target is adapter-specific and opaque."""

    name: ClassVar[str] = "command_invoked"
    member_id: str = ""
    channel_id: str | None = None
    command: str = ""
    args: tuple[str, ...] = ()
    #: roles / groups of the invoker as the platform reports them (for manager checks)
    roles: tuple[str, ...] = ()
    #: True when the platform itself says the member may manage the community
    platform_admin: bool = False


@dataclass(frozen=True, slots=True)
class ButtonClicked(Event):
    """A click on a digest button: ``action`` is e.g. ``approve``, ``not_now``, ``resolve``."""

    name: ClassVar[str] = "button_clicked"
    member_id: str = ""
    action: str = ""
    value: str = ""
    channel_id: str | None = None
    message_id: str | None = None
    #: the platform's ID of this click (Slack ``trigger_id``, Discord interaction ID): a click
    #: delivered again carries the same one, and is acted on once
    click_id: str = ""
    #: roles / groups of the clicker as the platform reports them, and whether the platform says
    #: they may manage the community (bot/core/roles.py decides what that allows)
    roles: tuple[str, ...] = ()
    platform_admin: bool = False


@dataclass(frozen=True, slots=True)
class MessageReported(Event):
    """A member reported a message to the moderators."""

    name: ClassVar[str] = "message_reported"
    reporter_id: str = ""
    channel_id: str = ""
    message_id: str = ""
    author_id: str = ""
    text: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class DirectMessageReceived(Event):
    """A member wrote to Steward in a direct message: a reply to one of its DMs, such as "stop".
    Not community activity: it is not stored as a message."""

    name: ClassVar[str] = "direct_message"
    member_id: str = ""
    channel_id: str = ""
    message_id: str = ""
    text: str = ""


@dataclass(frozen=True, slots=True)
class ScheduleFired(Event):
    name: ClassVar[str] = "schedule_fired"
    playbook_id: str = ""
    #: the tick's scheduled time (not the wall clock when it ran): part of dedupe keys
    scheduled_for: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


EVENT_TYPES: dict[str, type[Event]] = {
    cls.name: cls
    for cls in (
        MemberJoined,
        MemberLeft,
        MessagePosted,
        MessageEdited,
        MessageDeleted,
        ReactionAdded,
        ReactionRemoved,
        CommandInvoked,
        ButtonClicked,
        MessageReported,
        DirectMessageReceived,
        ScheduleFired,
    )
}
