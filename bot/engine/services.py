"""The services the app's features and adapters attach, as typed attributes: one object, made by the
app (``bot/app.py``), carried by the engine (``engine.services``) so scans, conditions and actions
reach it through their run context. A field is None until whoever provides it is installed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # type-only: the features sit above the engine and fill these in
    from bot.commands import Commands
    from bot.community.questions import QuestionService
    from bot.moderation.queue import Moderation
    from bot.moderation.windows import RuleState
    from bot.webhooks.queue import WebhookQueue

#: ``await channel_name(platform, channel_id)`` → the name people see (the ID when unknown)
ChannelName = Callable[[str, str], Awaitable[str]]
#: ``async with tick_lock(key) as got``: True on the one instance that runs the tick (bot/storage/locks.py)
TickLock = Callable[[str], AbstractAsyncContextManager[bool]]


class MemberCache(Protocol):
    """Something that holds members in memory and lets go of one after a forget."""

    def forget_member(self, platform: str, member_id: str) -> Any: ...


@dataclass
class Services:
    #: the question tracker (bot/community): detection, conversations, its write-behind buffer
    questions: QuestionService | None = None
    #: the moderation queue (cases, decisions); made on first use so its rules work without install
    moderation: Moderation | None = None
    #: the moderation rules' sliding windows (flood, raid, ...); made on first use
    moderation_state: RuleState | None = None
    #: greetings on hold during a raid alert: {"hold_until": {platform: until}, "open": {platform: ...}}
    greetings: dict[str, dict[str, Any]] | None = None
    #: the platform's channel names (the Slack directory's cache, the demo's table); IDs without it
    channel_name: ChannelName | None = None
    #: the ``/steward`` command table
    commands: Commands | None = None
    #: one instance runs a scheduled tick: ``async with tick_lock(key) as got``
    tick_lock: TickLock | None = None
    #: where features queue webhook events (bot/webhooks): ``await webhooks.emit(type, data, key=...)``
    webhooks: WebhookQueue | None = None
    #: other members-in-memory caches (an adapter's directory) that a forget must clear
    member_caches: list[MemberCache] = field(default_factory=list)
    #: members' interests in the admins' topics (bot/community/interests.py)
    interests: Any = None
    #: onboarding journeys (bot/outreach/journeys.py): what members in a journey did, held dry-run steps
    journeys: Any = None
    #: ``await fit_channel(platform, member_id)`` → {"channel": {id, name}, "topic": name} that fits the
    #: member's interests, or None (bot/outreach/interests.py)
    fit_channel: Callable[[str, str], Awaitable[dict[str, Any] | None]] | None = None
    #: called by the replay as simulated time passes (``await timer(now)``): dry-run work that waits
    #: for a time, such as a journey's later steps
    timers: list[Callable[[Any], Awaitable[None]]] = field(default_factory=list)

    async def channel_display(self, platform: str, channel_id: str) -> str:
        """The channel's name as people see it, or its ID when no adapter knows names."""
        if self.channel_name is None:
            return channel_id
        return await self.channel_name(platform, channel_id)
