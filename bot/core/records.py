"""Plain records that repositories return (never ORM rows) and that ports carry."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Member:
    platform: str
    member_id: str
    display_name: str = ""
    locale: str | None = None
    timezone: str | None = None
    joined_at: datetime | None = None
    is_bot: bool = False
    is_staff: bool = False
    roles: tuple[str, ...] = ()
    last_active_at: datetime | None = None
    left_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class MemberListPass:
    """One pass over a platform's member list (a Discord guild's members, a Slack workspace's users),
    loaded page by page: ``cursor`` is where the next page starts (None: at the beginning)."""

    platform: str
    scope: str
    cursor: str | None
    started_at: datetime
    completed_at: datetime | None = None
    members: int = 0


@dataclass(frozen=True, slots=True)
class Channel:
    platform: str
    channel_id: str
    name: str = ""
    kind: str = "text"  # text | forum | thread | dm | voice
    topic: str = ""


@dataclass(frozen=True, slots=True)
class Preferences:
    platform: str
    member_id: str
    opted_out: bool = False
    locale: str | None = None


@dataclass(frozen=True, slots=True)
class Button:
    """A digest button. ``action`` is the core word that comes back in ``ButtonClicked``."""

    action: str
    label: str
    value: str
    style: str = "default"  # default | primary | danger


#: buttons a member clicks for themselves in their own DM (outside the community's channels): the
#: adapters hand these clicks on from a DM, and the core acts on the clicker alone
MEMBER_BUTTONS = frozenset({"intros_on"})


@dataclass(frozen=True, slots=True)
class DigestItem:
    text: str  # neutral markdown
    buttons: tuple[Button, ...] = ()


@dataclass(frozen=True, slots=True)
class Digest:
    title: str
    items: tuple[DigestItem, ...] = ()
    footer: str = ""


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """Everything that leaves the bot is one of these, written to the outbox before it is sent.

    ``kind``: ``dm`` (to ``member_id``), ``channel`` (to ``channel_id``), ``thread`` (reply under
    ``thread_id`` in ``channel_id``), ``ephemeral`` (to ``member_id`` in ``channel_id``),
    ``reaction`` (``emoji`` on ``thread_id`` in ``channel_id``), ``group`` (to the members in
    ``mention_ids`` together: a Slack group DM, a Discord private thread in ``channel_id`` whose
    title is ``thread_id``).
    """

    platform: str
    kind: str
    text: str = ""  # neutral markdown
    member_id: str | None = None
    channel_id: str | None = None
    thread_id: str | None = None
    emoji: str | None = None
    digest: Digest | None = None
    #: members this message means to ping; everyone else is never pinged
    mention_ids: tuple[str, ...] = ()
    dedupe_key: str = ""
    #: buttons under the text (a DM's "Introduce me to someone"); a digest carries its own per item
    buttons: tuple[Button, ...] = ()


@dataclass(frozen=True, slots=True)
class SendResult:
    ok: bool
    native_id: str | None = None
    channel_id: str | None = None
    error: str | None = None
    #: a permanent error is recorded and never retried (cannot_dm_bot, 50007, user_not_found ...)
    permanent: bool = False
    retry_after: float | None = None
    #: the outcome is unknown (a 5xx, a timeout, a connection lost after the request was written):
    #: the platform may have made the message, so it is looked up before it is sent again
    unsure: bool = False


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    dedupe_key: str
    message: OutboundMessage
    status: str
    playbook_id: str
    action: str
    reason: str
    not_before: datetime
    created_at: datetime
    attempts: int = 0
    error: str | None = None
    sent_at: datetime | None = None
    native_id: str | None = None
    fallback: dict[str, Any] | None = field(default=None)
    #: counts against the member's automated-DM caps (carried, so policies need not read it back)
    automated: bool = False
    #: unsolicited (a nudge, an invitation), not an answer to the member's own action: such DMs
    #: count against the community's hourly outreach budget
    outreach: bool = False
    #: the last attempt's outcome is unknown: ask the platform before sending again
    unsure: bool = False
    #: what the feature that queued the row keeps on it for the delivery policies (a journey step:
    #: its journey, step and stop conditions); None for most rows
    meta: dict[str, Any] | None = field(default=None)
