"""Queueing webhook events: one outbox row per endpoint that wants the event, keyed by endpoint and
event, so an event handled twice (a redelivery, a retry, a second instance) is queued once. The
delivery worker sends the rows through ``WebhookGateway`` (bot/webhooks/gateway.py)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from bot.core.clock import Clock
from bot.core.records import OutboundMessage
from bot.storage.repositories import Store
from bot.webhooks.events import body
from bot.webhooks.gateway import PLATFORM
from bot.webhooks.options import WebhookOptions

log = logging.getLogger("steward.webhooks")

#: the outbox rows' playbook_id and action
SOURCE = "webhook"


class WebhookQueue:
    def __init__(self, store: Store, options: WebhookOptions, clock: Clock, *, community: str,
                 dry_run: bool = False, wake=None) -> None:
        self.store = store
        self.options = options
        self.clock = clock
        self.community = community
        self.dry_run = dry_run
        #: called after a row is queued (the outbox's ``wake``: the delivery loop looks at once)
        self.wake = wake

    def wanted(self, event_type: str) -> bool:
        return any(e.wants(event_type) for e in self.options.endpoints.values())

    async def emit(self, event_type: str, data: dict[str, Any], *, key: str, member: str | None = None,
                   at: datetime | None = None) -> int:
        """Queue ``event_type`` for every endpoint that wants it; ``key`` names the event uniquely
        (a member's join, a case's decision). ``member``: the member it is about, so that a forget
        finds the row. Returns how many rows were queued (0 for an event already queued)."""
        now = at or self.clock.now()
        queued = 0
        for name, ep in self.options.endpoints.items():
            if not ep.wants(event_type):
                continue
            text = body(event_type, data, key=f"{event_type}:{key}", at=now, community=self.community,
                        include_text=ep.include_text)
            platform = (data.get("member") or {}).get("platform") if isinstance(data.get("member"), dict) else None
            msg = OutboundMessage(platform=PLATFORM, kind="webhook", text=text, channel_id=name,
                                  member_id=member, dedupe_key=f"webhook:{name}:{event_type}:{key}")
            row = await self.store.enqueue(msg, playbook_id=SOURCE, action=event_type,
                                           reason=f"{event_type} for {name}" + (f" ({platform})" if platform else ""),
                                           status="dry_run" if self.dry_run else "pending",
                                           not_before=now, now=now)
            queued += row is not None
        if queued and self.wake is not None:
            self.wake()
        return queued

    async def member_event(self, event_type: str, platform: str, member_id: str, *, key: str) -> int:
        """An event about one member whose data is only who they are (opted out, forgotten)."""
        if not self.wanted(event_type):
            return 0
        return await self.emit(event_type, {"member": {"platform": platform, "id": member_id}},
                               key=f"{platform}:{member_id}:{key}", member=member_id)

    async def drop_pending(self, platform: str, member_id: str) -> int:
        """Before a forget: events about the member not sent yet are not sent (the forget erases
        them; ``member.forgotten`` follows)."""
        from sqlalchemy import update

        from bot.storage.outbox import OB

        about = (OB.c.platform == PLATFORM) & (OB.c.member_id == member_id) & (OB.c.status == "pending") \
            & OB.c.text.contains(f'"platform":"{platform}"', autoescape=True)
        async with self.store.database.begin() as conn:
            res = await conn.execute(update(OB).where(about).values(status="skipped", error="member forgotten"))
        return res.rowcount or 0


def cli_queue(store: Store, settings) -> WebhookQueue | None:
    """A queue for a one-off command (``steward forget``): rows it queues are sent by ``steward run``."""
    from bot.core.clock import SystemClock
    from bot.webhooks.options import webhook_options

    opts = webhook_options(settings)
    if not opts.endpoints:
        return None
    return WebhookQueue(store, opts, SystemClock(), community=settings.community_name)
