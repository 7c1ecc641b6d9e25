"""Delivery policies: asked before every send (and at queueing in dry-run), each answers send,
defer until a time, or skip with a reason. The first answer that is not "send" decides.

- ``OptOutPolicy``: a member who opted out (``/steward optout``, or "stop" in reply to a DM) gets
  nothing from playbooks, on every platform: no DM, and no outreach mention either (a nudge posted
  in a channel, Discord's default for lurkers).
- ``OutreachLimits``: restraint for automated outreach. Defaults come from ``[outreach]``
  (bot/settings.py ``Outreach``): at most one nudge per member per 30 days, two automated DMs per
  member per 30 days in all, quiet hours 21:00-09:00 in the member's own time zone (the community's,
  ``[community] timezone``, when the platform gives none), a global hourly budget for unsolicited
  DMs (nudges, invitations; not welcomes, which answer a member's own action), and never a nudge to
  staff or to a member with an open moderation case. The same caps are also engine conditions
  (bot/outreach/limits.py), so a scan does not spend a run on someone who will not be messaged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import text

from bot.core.records import OutboxItem
from bot.core.roles import Roles
from bot.storage.outbox import COUNTED_STATUSES
from bot.storage.repositories import Store


@dataclass(frozen=True)
class Decision:
    """A delivery policy's answer: send, defer until ``until``, or skip for ``reason``."""

    verdict: str = "send"  # send | defer | skip
    until: datetime | None = None
    reason: str = ""
    #: send: this message instead of the row's (a policy brought its text up to date); None: as queued
    message: Any = None


SEND = Decision()


class DeliveryPolicy(Protocol):
    async def decide(self, item: OutboxItem, now: datetime) -> Decision: ...


#: outbox actions that are nudges (one per member per nudge period); their mentions are outreach to
#: the mentioned member
NUDGE_ACTIONS = ("send_nudge",)
COUNTED = COUNTED_STATUSES
#: an outbox row whose ``playbook_id`` starts with this answers someone's own command (a member's
#: "stop" confirmed, a moderator's warning, a button pressed), not a playbook: opt-out does not hold it
COMMAND_PREFIX = "command:"


class OptOutPolicy:
    """Opted-out members get no DM and no outreach mention from playbooks, on every platform, from
    the moment they ask. Answers to someone's own command (``COMMAND_PREFIX`` rows) still go."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def decide(self, item: OutboxItem, now: datetime) -> Decision:
        msg = item.message
        if item.playbook_id.startswith(COMMAND_PREFIX):
            return SEND
        if msg.kind == "dm":
            targets: tuple[str, ...] = (msg.member_id,) if msg.member_id else ()
        elif item.action in NUDGE_ACTIONS:
            targets = msg.mention_ids
        else:
            return SEND
        for mid in targets:
            if (await self.store.preferences(msg.platform, mid)).opted_out:
                return Decision("skip", reason="member opted out")
        return SEND


def parse_quiet_hours(spec: str) -> tuple[time, time] | None:
    """``"21:00-09:00"`` → (21:00, 09:00); empty or ``off`` → None."""
    spec = (spec or "").strip().lower()
    if not spec or spec in ("off", "none"):
        return None
    try:
        a, b = (x.strip() for x in spec.split("-", 1))
        return time.fromisoformat(a), time.fromisoformat(b)
    except ValueError as e:
        raise ValueError(f"quiet_hours {spec!r} is not HH:MM-HH:MM") from e


def _zone(name: str | None) -> ZoneInfo | None:
    try:
        return ZoneInfo(name) if name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def quiet_until(now: datetime, tz_name: str | None, spec: str, default_tz: str | None = None) -> datetime | None:
    """When ``now`` falls in the member's quiet hours, the UTC time they end; else None. A member
    without a (valid) time zone of their own is in ``default_tz``, the community's."""
    window = parse_quiet_hours(spec)
    if window is None:
        return None
    tz = _zone(tz_name) or _zone(default_tz) or ZoneInfo("UTC")
    local = now.astimezone(tz)
    start, end = window
    t = local.time()
    inside = (start <= t or t < end) if start > end else (start <= t < end)
    if not inside:
        return None
    end_day = local.date() if t < end else local.date() + timedelta(days=1)
    return datetime.combine(end_day, end, tzinfo=tz).astimezone(now.tzinfo)


_DM_COUNTS = text("""
SELECT r.i, (SELECT count(*) FROM outbox o
             WHERE o.platform = r.p AND o.member_id = r.m AND o.kind = 'dm' AND o.automated
               AND o.created_at >= r.since AND o.status = ANY(CAST(:st AS text[])) AND o.id < r.id) AS n
FROM unnest(CAST(:i AS int[]), CAST(:p AS text[]), CAST(:m AS text[]), CAST(:since AS timestamptz[]),
            CAST(:id AS int[])) AS r(i, p, m, since, id)
""")


class OutreachLimits:
    """Delivery policy for automated DMs (and channel nudges): caps, quiet hours, budget, exclusions.

    Asked before every send, so it costs few round trips: whether a message is automated or
    unsolicited travels on the outbox item, the member's time zone is looked up only when quiet hours
    are on, and the hourly budget is asked only for unsolicited DMs."""

    def __init__(self, store: Store, settings: Any, roles: Roles | None = None) -> None:
        self.store = store
        self.settings = settings
        self.roles = roles or Roles(settings, store)
        #: PostgreSQL: the DM-cap counts of the rows a worker claimed together, in one statement
        self._dm_counts = None
        if store.is_postgres:
            from bot.storage.coalesce import Coalescer

            self._dm_counts = Coalescer(self._dm_counts_many, self._dm_count_one)

    @property
    def cfg(self):
        return self.settings.outreach

    async def _count_before(self, item: OutboxItem, since: datetime, *, nudges: bool) -> int:
        """Automated DMs (or nudges) to this member queued before this one since ``since``."""
        if not nudges and self._dm_counts is not None:
            return await self._dm_counts((item, since))
        return await self._count_one(item, since, nudges=nudges)

    async def _dm_count_one(self, req: tuple[OutboxItem, datetime]) -> int:
        return await self._count_one(req[0], req[1], nudges=False)

    async def _dm_counts_many(self, reqs: list[tuple[OutboxItem, datetime]]) -> list[int]:
        params = {"i": list(range(len(reqs))), "p": [r[0].message.platform for r in reqs],
                  "m": [r[0].message.member_id for r in reqs], "since": [r[1] for r in reqs],
                  "id": [r[0].id for r in reqs], "st": list(COUNTED)}
        async with self.store.single(write=False) as conn:
            rows = (await conn.execute(_DM_COUNTS, params)).all()
        got = {r.i: int(r.n) for r in rows}
        return [got.get(i, 0) for i in range(len(reqs))]

    async def _count_one(self, item: OutboxItem, since: datetime, *, nudges: bool) -> int:
        msg = item.message
        if nudges:
            return await self.store.outbox_count(msg.platform, msg.member_id, since, statuses=COUNTED,
                                                 actions=NUDGE_ACTIONS, automated_only=True, before_id=item.id)
        return await self.store.outbox_count(msg.platform, msg.member_id, since, statuses=COUNTED, kind="dm",
                                             automated_only=True, before_id=item.id)

    async def decide(self, item: OutboxItem, now: datetime) -> Decision:
        msg = item.message
        nudge = item.action in NUDGE_ACTIONS
        target = msg.member_id or (msg.mention_ids[0] if nudge and msg.mention_ids else None)
        if not target or (msg.kind != "dm" and not nudge):
            return SEND
        cfg = self.cfg
        # a later message of a sequence (a journey's day-3 step): not counted in the caps (its first
        # message took the sequence's one place there), otherwise held like any automated DM
        taken = bool(item.meta and item.meta.get("cap_taken"))
        if not item.automated and not taken:
            return await self._budget(item, now)
        if nudge:
            if await self.roles.is_staff(msg.platform, target):
                return Decision("skip", reason="staff are never nudged")
            if await self.store.has_open_case(msg.platform, target):
                return Decision("skip", reason="member has an open moderation case")
            if msg.kind != "dm":
                return SEND  # a channel mention: once per member by the playbook; no DM caps
            since = now - timedelta(days=cfg.nudge_period_days)
            if await self._count_before(item, since, nudges=True) >= cfg.nudges_per_member:
                return Decision("skip", reason=f"already nudged in the last {cfg.nudge_period_days} days")
        since = now - timedelta(days=cfg.automated_dm_period_days)
        if not taken and await self._count_before(item, since, nudges=False) >= cfg.automated_dms_per_member:
            return Decision("skip", reason=f"{cfg.automated_dms_per_member} automated DMs in "
                                           f"{cfg.automated_dm_period_days} days already")
        if parse_quiet_hours(cfg.quiet_hours) is not None:
            m = await self.store.get_member(msg.platform, target)
            until = quiet_until(now, m.timezone if m else None, cfg.quiet_hours,
                                getattr(self.settings, "default_timezone", None))
            if until is not None:
                return Decision("defer", until=until, reason="quiet hours in the member's time zone")
        return await self._budget(item, now)

    async def _budget(self, item: OutboxItem, now: datetime) -> Decision:
        """Unsolicited DMs (nudges, invitations) take a place in the community's hourly budget, last,
        after everything that could still skip or defer them; answers to a member's own action (a
        welcome) do not wait for it. The place is taken atomically (``Store.take_budget``), so
        workers sending at once cannot overrun it."""
        if not item.outreach or item.message.kind != "dm":
            return SEND
        until = await self.store.take_budget(item.id, now=now, budget=self.cfg.hourly_budget)
        if until is not None:
            return Decision("defer", until=until, reason="hourly outreach budget spent")
        return SEND
