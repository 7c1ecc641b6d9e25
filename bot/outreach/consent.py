"""Consent by reply: replying "stop" to any DM from Steward, or ``/steward optout``, stops every
automated message at once, whatever the playbook and whatever form the message takes (the delivery
policy ``OptOutPolicy`` in bot/delivery/policies.py holds them: DMs and outreach mentions alike).

The reply works where the member reads the hint, on every platform: Discord offers no guild
slash command in a DM, and Slack's DM with the app is where its messages arrive."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from bot.core.events import DirectMessageReceived, Event
from bot.core.records import OutboundMessage
from bot.delivery.policies import COMMAND_PREFIX

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
        if word == "optout" and app.services.webhooks is not None:
            await app.services.webhooks.member_event("member.opted_out", ev.platform, ev.member_id,
                                                     key=ev.message_id or now.isoformat())
        prefs = await app.store.preferences(ev.platform, ev.member_id)
        member = await app.store.get_member(ev.platform, ev.member_id)
        locale = prefs.locale or (member.locale if member else None) or app.settings.default_locale
        context = {"community": {"name": app.settings.community_name, "default_locale": app.settings.default_locale},
                   "platform": ev.platform}
        text = app.templates.render(f"{word}_done", context, locale)
        msg = OutboundMessage(platform=ev.platform, kind="dm", text=text, member_id=ev.member_id,
                              dedupe_key=f"dm-reply:{ev.platform}:{ev.member_id}:{ev.message_id or now.isoformat()}")
        # an answer to the member's own words: it passes the opt-out they just asked for
        await app.outbox.submit(msg, playbook_id=f"{COMMAND_PREFIX}dm-reply", action="send_dm", reason=f"replied {word}")
