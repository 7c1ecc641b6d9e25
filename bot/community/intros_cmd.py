"""``/steward intros``: members say yes (on), pause or leave (off); managers see the pairings, how
many answered "did you meet?" and how many met. Members answer that question with yes or no in
the DM where it was asked."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bot.commands import Reply, is_manager
from bot.community.intros_store import IntroStore
from bot.core.events import ButtonClicked, CommandInvoked, DirectMessageReceived, Event
from bot.core.records import OutboundMessage
from bot.core.roles import CLICK_ANSWER
from bot.delivery.policies import COMMAND_PREFIX
from bot.messaging.markdown import escape

if TYPE_CHECKING:
    from bot.app import App

#: how long ``/steward intros pause`` pauses
PAUSE = timedelta(days=28)
YES = frozenset({"yes", "y", "yes we met", "we met", "ja", "jazeker", "ja hoor"})
NO = frozenset({"no", "n", "not yet", "nope", "nee", "nog niet"})
_NOISE = re.compile(r"[\s.!,;:'\"`*_~/]+")


async def intros_cmd(app: App, ev: CommandInvoked) -> Reply:
    store = IntroStore(app.store)
    now = app.clock.now()
    verb = (ev.args[0].lower() if ev.args else "")
    if verb in ("on", "yes", "join"):
        return Reply(await opt_in(app, ev.platform, ev.member_id, via="command"))
    if verb in ("off", "stop", "leave"):
        await store.set_status(ev.platform, ev.member_id, "off", now=now)
        return Reply("Done: no more introductions. `/steward intros on` brings them back.")
    if verb == "pause":
        await store.set_status(ev.platform, ev.member_id, "paused", now=now, paused_until=now + PAUSE)
        return Reply(f"Paused for {PAUSE.days} days; after that introductions start again. "
                     "`/steward intros off` stops them for good.")
    if verb and verb != "stats":
        return Reply("Usage: `/steward intros on|off|pause`.")
    if await is_manager(app, ev):
        return Reply(await manager_view(app, ev.platform))
    status, until = await store.status(ev.platform, ev.member_id)
    said = {"on": "on: you may be introduced to a member who shares your interests",
            "paused": f"paused until {until:%Y-%m-%d}" if until else "paused",
            "off": "off"}.get(status, status)
    return Reply(f"Introductions are {said}. `/steward intros on|off|pause` changes that.")


IN_NOW = ("You're in: now and then Steward introduces you to a member who shares your interests "
          "(`/steward interests` shows them). `/steward intros pause` or `off` whenever you like.")
ALREADY_IN = ("You're already in: Steward will introduce you to a member who shares your interests. "
              "`/steward intros pause` or `off` whenever you like.")


async def opt_in(app: App, platform: str, member_id: str, *, via: str) -> str:
    """A member says yes to introductions (``/steward intros on`` or the welcome DM's button): one
    path, audited once (``intros:on``); saying yes again changes nothing and says so."""
    store = IntroStore(app.store)
    status, _ = await store.status(platform, member_id)
    if status == "on":
        return ALREADY_IN
    now = app.clock.now()
    await store.set_status(platform, member_id, "on", now=now)
    await app.store.audit(at=now, platform=platform, actor=member_id, action="intros:on", target=member_id,
                          detail={"via": via, "was": status})
    return IN_NOW


class IntroButton:
    """The welcome DM's "Introduce me to someone": the clicker opts in, as with ``/steward intros on``
    (the button's value names only the platform; nobody opts anyone else in). The answer goes back
    to the clicker privately (the adapters show ``CLICK_ANSWER``)."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def observe(self, ev: Event, facts: dict[str, Any]) -> None:
        if not isinstance(ev, ButtonClicked) or ev.action != "intros_on" or not ev.member_id:
            return
        facts[CLICK_ANSWER] = await opt_in(self.app, ev.platform, ev.member_id, via="button")


def _pct(n: int, d: int) -> str:
    return f"{100 * n / d:.0f}%" if d else "-"


async def manager_view(app: App, platform: str) -> str:
    s = await IntroStore(app.store).stats(platform)
    opted = s["opted"]
    lines = ["**Introductions**",
             f"members taking part: {opted.get('on', 0)} (paused {opted.get('paused', 0)}, left {opted.get('off', 0)})",
             f"pairings: {s['pairs']}; asked \"did you meet?\": {s['asked']}",
             f"acceptance (pairs where someone answered): {s['answered_pairs']} of {s['asked']} "
             f"({_pct(s['answered_pairs'], s['asked'])})",
             f"met (pairs where someone said yes): {s['met_pairs']} of {s['answered_pairs']} answered "
             f"({_pct(s['met_pairs'], s['answered_pairs'])})"]
    if s["recent"]:
        lines.append("latest pairings:")
        for r in s["recent"]:
            who = " and ".join(f"<@{m}>" + (f" ({a})" if a else "") for m, a in r["members"])
            lines.append(f"- {r['at']:%Y-%m-%d} {who}" + (f", {escape(r['topic'])}" if r["topic"] else ""))
    return "\n".join(lines)


def answer_word(text: str) -> str | None:
    words = _NOISE.sub(" ", (text or "").lower()).strip()
    return "yes" if words in YES else "no" if words in NO else None


class MetReplies:
    """Records "yes" / "no" written in the DM after "did you meet?" (and answers it)."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def observe(self, ev: Event, facts: dict[str, Any]) -> None:
        if not isinstance(ev, DirectMessageReceived) or not ev.member_id:
            return
        word = answer_word(ev.text)
        if word is None:
            return
        app = self.app
        if not await IntroStore(app.store).answer(ev.platform, ev.member_id, word, app.clock.now()):
            return
        prefs = await app.store.preferences(ev.platform, ev.member_id)
        locale = prefs.locale or app.settings.default_locale
        text = app.templates.render("intro_answer_done", {"answer": word, "community": {
            "name": app.settings.community_name, "default_locale": app.settings.default_locale}}, locale)
        msg = OutboundMessage(platform=ev.platform, kind="dm", text=text, member_id=ev.member_id,
                              dedupe_key=f"intro-answer:{ev.platform}:{ev.member_id}:{ev.message_id}")
        await app.outbox.submit(msg, playbook_id=f"{COMMAND_PREFIX}intro-answer", action="send_dm",
                                reason=f"answered {word}")
