"""Consent: ``/steward optout`` stops every automated message at once, whatever the playbook and
whatever form the message takes. The outbox's ``OptOutPolicy`` covers DMs; this policy also covers
nudges that take the form of a channel mention (Discord's default for lurkers), so an opted-out
member is never pinged by outreach either."""

from __future__ import annotations

from datetime import datetime

from bot.core.records import OutboxItem
from bot.outreach.outbox import SEND, Decision
from bot.storage.repositories import Store

#: outbox actions whose mentions are outreach to the mentioned member
OUTREACH_MENTIONS = ("send_nudge",)


async def opted_out(store: Store, platform: str, member_id: str) -> bool:
    """True when the member asked Steward to stop messaging them."""
    return (await store.preferences(platform, member_id)).opted_out


class ConsentPolicy:
    """Skips outreach mentions of members who opted out (DMs are the outbox's ``OptOutPolicy``)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def decide(self, item: OutboxItem, now: datetime) -> Decision:
        msg = item.message
        if msg.kind == "dm" or item.action not in OUTREACH_MENTIONS:
            return SEND
        for mid in msg.mention_ids:
            if await opted_out(self.store, msg.platform, mid):
                return Decision("skip", reason="member opted out")
        return SEND
