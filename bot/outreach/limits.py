"""Restraint for automated outreach, as engine conditions (so a scan does not spend a run on
someone who will not be messaged) and as ``steward check`` warnings. The same caps are enforced where
messages leave, by the delivery policy ``OutreachLimits`` (bot/delivery/policies.py).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.delivery.policies import COUNTED, NUDGE_ACTIONS, parse_quiet_hours
from bot.engine.context import RunContext
from bot.engine.registry import condition

# --------------------------------------------------------------------------- engine conditions


@condition("no_open_case")
async def no_open_case(ctx: RunContext, p) -> bool:
    """The member has no open moderation case."""
    if not ctx.subject.member_id:
        return True
    return not await ctx.engine.store.has_open_case(ctx.platform, ctx.subject.member_id)


@condition("within_outreach_caps")
async def within_outreach_caps(ctx: RunContext, p) -> bool:
    """The member has room under the nudge and automated-DM caps ([outreach] in the config)."""
    if not ctx.subject.member_id:
        return True
    cfg = ctx.engine.settings.outreach
    store, plat, mid = ctx.engine.store, ctx.platform, ctx.subject.member_id
    nudged_since = ctx.now - timedelta(days=cfg.nudge_period_days)
    nudges = await store.outbox_count(plat, mid, nudged_since, statuses=COUNTED, actions=NUDGE_ACTIONS)
    if nudges >= cfg.nudges_per_member:
        return False
    dms = await store.automated_dms_since(plat, mid, ctx.now - timedelta(days=cfg.automated_dm_period_days))
    return dms < cfg.automated_dms_per_member


# --------------------------------------------------------------------------- steward check


def _sends_dms(pb) -> bool:
    for step in pb.actions:
        if step.name in ("send_nudge", "journey"):
            return True
        if step.name == "send_dm" and getattr(step.params, "automated", True):
            return True
    return False


def check_outreach_caps(settings: Any, playbooks: dict[str, Any]) -> list:
    """Warn when a playbook that DMs members could send more than the caps allow (Discord's developer
    policy forbids frequent unsolicited DMs), and when lurker DMs are on for Discord."""
    from bot.core.errors import Problem
    from bot.engine.durations import parse_duration

    cfg = settings.outreach
    out = []
    try:
        parse_quiet_hours(cfg.quiet_hours)
    except ValueError as e:
        out.append(Problem(settings.source or "config", 1, "-", f"outreach: {e}"))
    for pb in playbooks.values():
        if not _sends_dms(pb):
            continue
        lim = pb.spec.limits
        nudges = any(s.name == "send_nudge" for s in pb.actions)
        cap = cfg.nudges_per_member if nudges else cfg.automated_dms_per_member
        period_days = cfg.nudge_period_days if nudges else cfg.automated_dm_period_days
        bounded = lim.once_per_subject and cap >= 1
        if lim.per_subject is not None:
            per = parse_duration(lim.per_subject.period).total_seconds() / 86400
            bounded = bounded or (lim.per_subject.count * max(1.0, period_days / max(per, 1e-9)) <= cap)
        if not bounded:
            out.append(Problem(pb.file, pb.line, pb.id,
                               f"could DM a member more than {cap} time(s) per {period_days} days "
                               f"([outreach] caps); add limits: once_per_subject or per_subject", "warning"))
        unsolicited = nudges or pb.spec.trigger.kind != "event"
        if lim.per_hour is not None and lim.per_hour > cfg.hourly_budget and unsolicited:
            out.append(Problem(pb.file, pb.line, pb.id,
                               f"could send more DMs per hour than the [outreach] hourly_budget "
                               f"({cfg.hourly_budget}); the surplus waits for the next hour", "warning"))
        if nudges and "discord" in pb.spec.platforms and getattr(settings.discord, "lurker_dms", False):
            out.append(Problem(pb.file, pb.line, pb.id,
                               "nudges go out as DMs on Discord ([discord] lurker_dms = true); Discord's "
                               "developer policy forbids frequent unsolicited DMs", "warning"))
    return out
