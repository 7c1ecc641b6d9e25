"""Linking accounts and what follows from it.

- ``/steward link`` on one platform answers with a short code (valid 15 minutes, single use);
  ``/steward link CODE`` on the other makes the two accounts one person. ``/steward unlink``
  undoes it. Both are written to the audit log. A CRM row naming both accounts links them too
  (bot/crm/importer.py).
- A newcomer whose other account joined before is not a newcomer: their join is not a first
  join, so the welcome comes once per person.
- ``PersonPolicy``, asked before every send after the opt-out: an opt-out on any of the person's
  accounts holds for all of them; the automated-DM and nudge caps count the DMs to all of their
  accounts; an account without a time zone (Discord gives none) keeps quiet hours in the time
  zone of the person's other account."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.core.events import CommandInvoked, Event, MemberJoined
from bot.core.records import OutboxItem
from bot.delivery.policies import (
    COMMAND_PREFIX,
    COUNTED,
    NUDGE_ACTIONS,
    SEND,
    Decision,
    parse_quiet_hours,
    quiet_until,
)
from bot.storage.repositories import Store

if TYPE_CHECKING:
    from bot.app import App

NAMES = {"slack": "Slack", "discord": "Discord"}


def install(app: App) -> None:
    from bot.commands import commands_for

    cmds = commands_for(app)
    cmds.register("link", _link)
    cmds.register("unlink", _unlink)
    def once(playbook_id: str) -> bool:
        pb = app.engine.playbooks.get(playbook_id)
        return bool(pb is not None and pb.spec.limits.once_per_subject)

    app.outbox.policies.insert(1 if app.outbox.policies else 0, PersonPolicy(app.store, app.settings, once=once))

    async def observe(ev: Event, facts: dict[str, Any]) -> None:
        if isinstance(ev, MemberJoined) and facts.get("first_join"):
            for platform, mid in (await app.store.people.accounts(ev.platform, ev.member_id))[1:]:
                if await app.store.get_member(platform, mid) is not None:
                    # their other account was here first: a second platform, not a new person
                    facts["first_join"] = False
                    facts["person_known"] = f"{platform}:{mid}"
                    return

    app.engine.observers.insert(0, observe)


async def _link(app: App, ev: CommandInvoked):
    from bot.commands import Reply

    now = app.clock.now()
    people = app.store.people
    if not ev.args:
        code = await people.new_code(ev.platform, ev.member_id, now=now)
        other = " or ".join(NAMES[p] for p in NAMES if p != ev.platform)
        return Reply(f"Your link code is `{code[:4]}-{code[4:]}`. Within 15 minutes, type `/steward link {code}` on "
                     f"{other} with your account there: Steward then treats both accounts as one person (one "
                     "welcome, shared limits, one opt-out). `/steward unlink` undoes it.")
    account = await people.take_code(ev.args[0], now=now)
    if account is None:
        return Reply("That code is not valid (codes work once, for 15 minutes). Type `/steward link` on your other "
                     "account for a new one.")
    if account[0] == ev.platform:
        return Reply(f"That code is from {NAMES.get(account[0], account[0])} too: enter it with your account on the "
                     "other platform.")
    await people.link(account, (ev.platform, ev.member_id), now=now, by="code")
    await app.store.audit(at=now, platform=ev.platform, actor=ev.member_id, action="link",
                          target=f"{account[0]}:{account[1]}", detail={"by": "code"})
    return Reply(f"Linked: your {NAMES.get(ev.platform, ev.platform)} and {NAMES.get(account[0], account[0])} "
                 "accounts are one person to Steward now. `/steward unlink` undoes it.")


async def _unlink(app: App, ev: CommandInvoked):
    from bot.commands import Reply

    was = await app.store.people.unlink(ev.platform, ev.member_id)
    if not was:
        return Reply("This account is not linked to another one.")
    await app.store.audit(at=app.clock.now(), platform=ev.platform, actor=ev.member_id, action="unlink",
                          target=", ".join(f"{p}:{m}" for p, m in was))
    return Reply("Unlinked: Steward treats this account on its own again.")


class PersonPolicy:
    """Opt-outs, caps and quiet hours for the person, across their linked accounts (see the module
    docstring). Costs one cached look-up for members who are not linked."""

    def __init__(self, store: Store, settings: Any, *, once=lambda playbook_id: False) -> None:
        self.store = store
        self.settings = settings
        #: ``once(playbook_id)``: the playbook runs once per subject (a welcome): once per person, then
        self.once = once

    async def decide(self, item: OutboxItem, now: datetime) -> Decision:
        msg = item.message
        nudge = item.action in NUDGE_ACTIONS
        target = msg.member_id if msg.kind == "dm" else (msg.mention_ids[0] if nudge and msg.mention_ids else None)
        if not target or msg.platform not in NAMES:
            return SEND
        accounts = await self.store.people.accounts(msg.platform, target)
        others = accounts[1:]
        if not others:
            return SEND
        if not item.playbook_id.startswith(COMMAND_PREFIX):
            for p, m in others:
                if (await self.store.preferences(p, m)).opted_out:
                    return Decision("skip", reason="member opted out (on their linked account)")
        if msg.kind == "dm" and self.once(item.playbook_id) and await self._had(others, item):
            return Decision("skip", reason=f"{item.playbook_id}: once per person, and their linked account had it")
        if not item.automated:
            return SEND
        cfg = self.settings.outreach
        if nudge:
            since = now - timedelta(days=cfg.nudge_period_days)
            n = await self._count(accounts, since, item, actions=NUDGE_ACTIONS)
            if n >= cfg.nudges_per_member:
                return Decision("skip", reason=f"already nudged in the last {cfg.nudge_period_days} days "
                                               "(on a linked account)")
        if msg.kind == "dm":
            since = now - timedelta(days=cfg.automated_dm_period_days)
            if await self._count(accounts, since, item, kind="dm") >= cfg.automated_dms_per_member:
                return Decision("skip", reason=f"{cfg.automated_dms_per_member} automated DMs in "
                                               f"{cfg.automated_dm_period_days} days already (to this person)")
        if parse_quiet_hours(cfg.quiet_hours) is not None:
            mine = await self.store.get_member(msg.platform, target)
            if not (mine and mine.timezone):
                for p, m in others:
                    other = await self.store.get_member(p, m)
                    if other and other.timezone:
                        until = quiet_until(now, other.timezone, cfg.quiet_hours)
                        if until is not None:
                            return Decision("defer", until=until, reason="quiet hours in the member's time zone")
                        break
        return SEND

    async def _count(self, accounts, since: datetime, item: OutboxItem, **kw) -> int:
        return sum([await self.store.outbox_count(p, m, since, statuses=COUNTED, automated_only=True,
                                                  before_id=item.id, **kw) for p, m in accounts])

    async def _had(self, others, item: OutboxItem) -> bool:
        """Whether another account of the person got (or was queued earlier) this playbook's DM."""
        from sqlalchemy import func, or_, select

        from bot.storage.outbox import OB

        cond = [(OB.c.platform == p) & (OB.c.member_id == m) for p, m in others]
        q = select(func.count()).select_from(OB).where(
            OB.c.playbook_id == item.playbook_id, OB.c.kind == "dm", OB.c.action == item.action,
            # sent; or queued before this one (rows claimed together are both "sending" a moment)
            (OB.c.status == "sent") | (OB.c.status.in_(("pending", "sending")) & (OB.c.id < item.id)),
            or_(*cond))
        async with self.store.single(write=False) as conn:
            return bool((await conn.execute(q)).scalar_one())
