"""Consent: replying "stop" to any DM from Steward, or ``/steward optout``, stops every automated
message at once, whatever the playbook and whatever form the message takes. The outbox's
``OptOutPolicy`` covers DMs; this policy also covers nudges that take the form of a channel mention
(Discord's default for lurkers), so an opted-out member is never pinged by outreach either.

The reply works where the member reads the hint, on every platform: Discord offers no guild
slash command in a DM, and Slack's DM with the app is where its messages arrive."""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.core.events import DirectMessageReceived, Event
from bot.core.records import OutboundMessage, OutboxItem
from bot.outreach.outbox import SEND, Decision
from bot.storage.repositories import Store

if TYPE_CHECKING:
    from bot.app import App

#: what a member may write back to stop Steward's messages, or to allow them again (en, nl);
#: the command's own words too, for whoever types the slash command as text where it is not offered
STOP_WORDS = frozenset({"stop", "stopp", "unsubscribe", "optout", "opt out", "opt-out", "steward optout",
                        "afmelden", "uitschrijven", "stoppen"})
START_WORDS = frozenset({"start", "optin", "opt in", "opt-in", "steward optin", "aanmelden"})
_NOISE = re.compile(r"[\s.!,;:'\"`*_~/]+")


def reply_keyword(text: str) -> str | None:
    """``"STOP!"`` → ``"optout"``, ``"start"`` → ``"optin"``; anything else (a sentence that merely
    contains the word) → None."""
    words = _NOISE.sub(" ", (text or "").lower()).strip()
    if len(words) > 20:
        return None
    if words in STOP_WORDS:
        return "optout"
    if words in START_WORDS:
        return "optin"
    return None

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


class DirectReplies:
    """Answers "stop" and "start" written to Steward in a DM (``DirectMessageReceived``): the
    preference is set at once, written to the audit log, and confirmed in the same DM."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def observe(self, ev: Event, facts: dict[str, Any]) -> None:
        if not isinstance(ev, DirectMessageReceived) or not ev.member_id:
            return
        word = reply_keyword(ev.text)
        if word is None:
            return
        app = self.app
        now = app.clock.now()
        await app.store.set_preferences(ev.platform, ev.member_id, now=now, opted_out=word == "optout")
        await app.store.audit(at=now, platform=ev.platform, actor=ev.member_id, action=word, detail={"via": "dm"})
        prefs = await app.store.preferences(ev.platform, ev.member_id)
        member = await app.store.get_member(ev.platform, ev.member_id)
        locale = prefs.locale or (member.locale if member else None) or app.settings.default_locale
        context = {"community": {"name": app.settings.community_name, "default_locale": app.settings.default_locale},
                   "platform": ev.platform}
        text = app.templates.render(f"{word}_done", context, locale)
        msg = OutboundMessage(platform=ev.platform, kind="dm", text=text, member_id=ev.member_id,
                              dedupe_key=f"dm-reply:{ev.platform}:{ev.member_id}:{ev.message_id or now.isoformat()}")
        # an answer to the member's own words: "command:" rows pass the opt-out they just asked for
        await app.outbox.submit(msg, playbook_id="command:dm-reply", action="send_dm", reason=f"replied {word}")
