"""Ports: what the inside of the bot needs from the outside, as Protocols."""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol, runtime_checkable

from bot.core.records import Member, OutboundMessage, OutboxItem, SendResult


@runtime_checkable
class Gateway(Protocol):
    """Sends to one platform. Implementations live in ``bot/adapters/<platform>/gateway.py``."""

    platform: str

    async def send(self, message: OutboundMessage) -> SendResult: ...


class OutboxPort(Protocol):
    """Where the engine and the features queue what Steward sends (``bot.delivery.outbox.Outbox``;
    a preview run passes a stand-in that records and keeps nothing). Delivery happens elsewhere."""

    #: each platform's gateway, by platform name (moderation acts through them directly)
    gateways: dict[str, Gateway]
    dry_run: bool

    async def submit(self, msg: OutboundMessage, *, playbook_id: str, action: str, reason: str,
                     delay: timedelta | None = None, automated: bool = False,
                     fallback: dict | None = None, deliver_now: bool = True,
                     outreach: bool = False, extra: dict | None = None) -> OutboxItem | None: ...

    def wake(self) -> None:
        """Rows were made due outside ``submit``: the delivery loop looks at once."""


class Directory(Protocol):
    """Looks members up on the platform (cached enrichment, apart from translation)."""

    async def member(self, member_id: str) -> Member | None: ...


class RoleGranter(Protocol):
    async def grant_role(self, member_id: str, role: str) -> SendResult: ...


class RecordingGateway:
    """A real in-process gateway that records what was sent: for replay, demo and tests."""

    def __init__(self, platform: str) -> None:
        self.platform = platform
        self.sent: list[OutboundMessage] = []
        self._n = 0

    async def send(self, message: OutboundMessage) -> SendResult:
        self.sent.append(message)
        self._n += 1
        return SendResult(ok=True, native_id=f"{self.platform}-{self._n}", channel_id=message.channel_id)


class ModerationGateway(Protocol):
    """Optional gateway methods for moderator decisions and ambassador approval.

    A gateway that lacks one of these answers ``SendResult(ok=False, error="unsupported", permanent=True)``
    or simply does not define it; callers check with ``hasattr``.
    """

    async def delete_message(self, channel_id: str, message_id: str) -> SendResult: ...

    async def timeout_member(self, member_id: str, seconds: int, reason: str = "") -> SendResult: ...

    async def remove_from_channel(self, channel_id: str, member_id: str) -> SendResult: ...

    async def grant_role(self, member_id: str, role: str) -> SendResult: ...
