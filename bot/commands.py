"""``/steward`` subcommands, platform-neutral. Adapters turn a slash command or application command
into a ``CommandInvoked`` and send back the ``Reply`` (ephemeral unless it says otherwise)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.core.clock import iso
from bot.core.events import CommandInvoked
from bot.core.records import Digest
from bot.messaging.markdown import escape

if TYPE_CHECKING:
    from bot.app import App

MEMBER_COMMANDS = ("help", "optout", "optin", "language", "report", "link", "unlink", "interests", "intros")
MANAGER_COMMANDS = ("stats", "unanswered", "lurkers", "ambassadors", "nudge", "playbooks", "flags", "forget",
                    "dashboard", "failures")
ALL_COMMANDS = MEMBER_COMMANDS + MANAGER_COMMANDS

HELP = {
    "help": "this list",
    "optout": "stop all messages from Steward",
    "optin": "allow messages from Steward again",
    "language CODE": "the language Steward writes to you in (en, nl)",
    "report": "report a message to the moderators (with a reason)",
    "link [CODE]": "make your Slack and Discord accounts one person to Steward (a code, entered on the other)",
    "unlink": "undo link: this account on its own again",
    "interests [TOPIC ...|clear]": "see, choose or clear the topics you care about",
    "intros on|off|pause": "be introduced to members who share your interests (managers: pairings and rates)",
    "stats": "community health at a glance",
    "unanswered": "questions still waiting for an answer",
    "lurkers": "quiet members who might welcome an invitation",
    "ambassadors": "members who could become ambassadors, with the evidence",
    "nudge @member": "send a personal nudge now (within the usual caps)",
    "playbooks list|reload|enable ID|disable ID|preview ID": "manage playbooks",
    "flags": "open moderation cases",
    "forget @member": "erase a member's personal data",
    "failures": "what Steward gave up on: events, messages and webhooks it could not deliver, with why",
    "dashboard": "a private one-time link to the web dashboard",
}


@dataclass(frozen=True)
class Reply:
    text: str = ""  # neutral markdown
    digest: Digest | None = None
    ephemeral: bool = True


Handler = Callable[["App", CommandInvoked], Awaitable[Reply]]


async def is_manager(app: App, ev: CommandInvoked) -> bool:
    """Whether the member who typed the command is a manager (decided in bot/core/roles.py)."""
    return await app.engine.roles.is_manager(ev.platform, ev.member_id, roles=ev.roles,
                                             platform_admin=ev.platform_admin)


def not_configured(feature: str) -> Reply:
    if feature == "dashboard":
        return Reply("The dashboard is not served here: `steward run` serves it when `[dashboard] enabled` is on "
                     "(see config.example.toml).")
    return Reply(f"The {feature} feature is not configured in this community yet. "
                 "An admin can enable it by adding its playbook.")


class Commands:
    """Dispatches subcommands. Features register handlers with ``register`` as they are installed."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.handlers: dict[str, Handler] = {
            "help": _help, "optout": _optout, "optin": _optin, "language": _language,
            "playbooks": _playbooks,
        }

    def register(self, name: str, handler: Handler) -> None:
        self.handlers[name] = handler

    async def handle(self, ev: CommandInvoked) -> Reply:
        sub = (ev.command or "help").lower()
        if sub not in ALL_COMMANDS:
            return Reply(f"I don't know `{escape(sub)}`. Try `/steward help`.")
        if sub in MANAGER_COMMANDS:
            if not await is_manager(self.app, ev):
                return Reply("Sorry, that command is for community managers. "
                             "`/steward help` lists what you can do.")
            await self.app.store.audit(at=self.app.clock.now(), platform=ev.platform, actor=ev.member_id,
                                       action=f"command:{sub}", target=" ".join(ev.args) or None,
                                       detail={"args": list(ev.args)})
        handler = self.handlers.get(sub)
        if handler is None:
            return not_configured(sub)
        return await handler(self.app, ev)


def commands_for(app: App) -> Commands:
    cmds = app.services.commands
    if cmds is None:
        cmds = app.services.commands = Commands(app)
    return cmds


async def _help(app: App, ev: CommandInvoked) -> Reply:
    manager = await is_manager(app, ev)
    lines = ["**Steward** helps this community welcome newcomers and keep questions answered.", ""]
    for usage, what in HELP.items():
        name = usage.split()[0]
        if name in MEMBER_COMMANDS or manager:
            lines.append(f"- `/steward {usage}`: {what}")
    return Reply("\n".join(lines))


async def _optout(app: App, ev: CommandInvoked) -> Reply:
    await app.store.set_preferences(ev.platform, ev.member_id, now=app.clock.now(), opted_out=True)
    await app.store.audit(at=app.clock.now(), platform=ev.platform, actor=ev.member_id, action="optout")
    if app.services.webhooks is not None:
        await app.services.webhooks.member_event("member.opted_out", ev.platform, ev.member_id, key=iso(ev.at))
    return Reply("Done: Steward won't send you any more messages. `/steward optin` undoes this.")


async def _optin(app: App, ev: CommandInvoked) -> Reply:
    await app.store.set_preferences(ev.platform, ev.member_id, now=app.clock.now(), opted_out=False)
    await app.store.audit(at=app.clock.now(), platform=ev.platform, actor=ev.member_id, action="optin")
    return Reply("Welcome back: Steward may send you the occasional message again. `/steward optout` stops them.")


async def _language(app: App, ev: CommandInvoked) -> Reply:
    locales = app.templates.locales()
    if not ev.args:
        prefs = await app.store.preferences(ev.platform, ev.member_id)
        return Reply(f"Your language is `{prefs.locale or app.settings.default_locale}`. "
                     f"Available: {', '.join(locales)}.")
    code = ev.args[0].lower()
    if code not in locales:
        return Reply(f"I can't write in `{escape(code)}` yet. Available: {', '.join(locales)}.")
    await app.store.set_preferences(ev.platform, ev.member_id, now=app.clock.now(), locale=code)
    return Reply(f"From now on I'll write to you in `{code}`.")


async def _playbooks(app: App, ev: CommandInvoked) -> Reply:
    eng = app.engine
    args = list(ev.args) or ["list"]
    verb = args[0]
    target = args[1] if len(args) > 1 else None
    if verb == "list":
        lines = ["**Playbooks**"]
        for pb in sorted(eng.playbooks.values(), key=lambda p: p.id):
            state = "on" if eng.active(pb) else "off"
            t = pb.spec.trigger
            when = t.event or (f"cron {t.schedule.cron} {t.schedule.timezone}" if t.schedule else
                               f"every {t.interval.every}")
            lines.append(f"- `{pb.id}` ({state}, {escape(when)}): {escape(pb.spec.description)}")
        for p in eng.problems:
            if p.severity == "error":
                lines.append(f"- disabled: {escape(str(p))}")
        return Reply("\n".join(lines))
    if verb == "reload":
        res = await eng.reload()
        errs = res.errors
        msg = f"Reloaded {len(res.playbooks)} playbook(s)."
        if errs:
            msg += " Problems:\n" + "\n".join(f"- {escape(str(p))}" for p in errs)
        return Reply(msg)
    if verb in ("enable", "disable") and target:
        if not eng.set_enabled(target, verb == "enable"):
            return Reply(f"There is no playbook `{escape(target)}`.")
        return Reply(f"Playbook `{escape(target)}` is now {'on' if verb == 'enable' else 'off'}.")
    if verb == "preview" and target:
        return await _preview(app, ev, target)
    return Reply("Usage: `/steward playbooks list|reload|enable ID|disable ID|preview ID`")


async def _preview(app: App, ev: CommandInvoked, playbook_id: str) -> Reply:
    """Run a scheduled playbook's scan now and say what it would do, sending nothing."""
    from bot.messaging.markdown import to_plain

    eng = app.engine
    pb = eng.playbooks.get(playbook_id)
    if pb is None:
        return Reply(f"There is no playbook `{escape(playbook_id)}`.")
    if pb.spec.trigger.kind == "event" and any(s.name == "journey" for s in pb.actions):
        return await _preview_journey(app, ev, playbook_id)
    if pb.spec.trigger.kind == "event":
        return Reply(f"`{playbook_id}` runs on `{pb.spec.trigger.event}` events; a preview works on scheduled playbooks.")
    preview = await preview_schedule(app, playbook_id, ev.platform)
    if not preview:
        return Reply(f"`{playbook_id}` would do nothing right now.")
    lines = [f"`{playbook_id}` would now:"]
    for item in preview[:10]:
        lines.append(f"- {item['action']} → {escape(item['to'])}: {escape(to_plain(item['text'])[:200])}")
    if len(preview) > 10:
        lines.append(f"… and {len(preview) - 10} more")
    return Reply("\n".join(lines))


async def _preview_journey(app: App, ev: CommandInvoked, playbook_id: str) -> Reply:
    """Each step of a journey as you would read it had you just joined; nothing is sent."""
    from bot.messaging.markdown import to_plain
    from bot.outreach.journeys import preview_journey

    steps = await preview_journey(app, playbook_id, ev.platform, ev.member_id)
    lines = [f"`{playbook_id}` is a journey of {len(steps)} step(s); as you would read them had you just joined:"]
    for s in steps:
        after = s["after"]
        when = _after(after.total_seconds()) if after is not None else "at once"
        lines.append(f"- {escape(s['step'])} ({when}): {escape(to_plain(s['text'])[:300])}")
    return Reply("\n".join(lines))


def _after(seconds: float) -> str:
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= n and seconds % n == 0:
            return f"after {int(seconds // n)}{unit}"
    return f"after {int(seconds)}s"


class _Capture:
    """Stands in for the outbox during a preview: records, keeps nothing, sends nothing."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    async def submit(self, msg, **kw):
        self.items.append({"action": kw.get("action", ""), "to": msg.member_id or msg.channel_id or "",
                           "text": msg.text})
        return None


async def preview_schedule(app: App, playbook_id: str, platform: str) -> list[dict[str, Any]]:
    """What a scheduled playbook would send now; nothing is written or sent."""
    cap = _Capture()
    await app.engine.fire_schedule(playbook_id, app.engine.clock.now(), platform, force=True, preview=cap)
    return cap.items
