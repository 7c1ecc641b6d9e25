"""Raids: many joins in a short window alert the moderators once per wave (the ``raid`` condition and
the ``alert_moderators`` action); while the alert is open, greetings are held."""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

from pydantic import Field, field_validator

from bot.core.events import MemberJoined
from bot.core.records import Button, Digest, DigestItem, OutboundMessage
from bot.engine.actions import dedupe_key, render
from bot.engine.context import RunContext
from bot.engine.durations import parse_duration
from bot.engine.registry import action, condition
from bot.engine.schema import Duration
from bot.moderation.rules import _P, _dur
from bot.moderation.windows import state
from bot.outreach import greetings


class Raid(_P):
    joins: int = Field(10, ge=2, description="this many joins ...")
    window: Duration = Field("60s", description="... within this window is a raid")
    quiet: Duration = Field("10m", description="the raid is over after this long without a new join")

    @field_validator("window", "quiet")
    @classmethod
    def _durations(cls, v: Duration) -> Duration:
        return _dur(v)


@condition("raid", Raid)
def raid(ctx: RunContext, p: Raid) -> bool:
    """Many members joined in a short window: true once per raid, on the join that tips it."""
    ev = ctx.event
    if not isinstance(ev, MemberJoined) or ctx.facts.get("channel_join"):
        return False
    st = state(ctx.engine)
    dq = st.joins.get(ev.platform)
    if dq is None:
        dq = st.joins[ev.platform] = deque(maxlen=max(p.joins * 4, 64))
    now = ev.at.timestamp()
    if dq and dq[-1] == (now, ev.member_id):
        return False  # the same join, delivered twice
    dq.append((now, ev.member_id))
    quiet = parse_duration(p.quiet).total_seconds()
    if now < st.raid_until.get(ev.platform, float("-inf")):
        st.raid_until[ev.platform] = now + quiet  # still the same raid: no second alert
        greetings.hold(ctx.engine, ev.platform, ev.at + timedelta(seconds=quiet))
        return False
    start = now - parse_duration(p.window).total_seconds()
    recent = [m for t, m in dq if t >= start]
    if len(recent) < p.joins:
        return False
    st.raid_until[ev.platform] = now + quiet
    # no greetings while the alert is open: the moderators decide with its buttons
    greetings.hold(ctx.engine, ev.platform, ev.at + timedelta(seconds=quiet))
    ctx.facts["raid"] = {"count": len(recent), "window": str(p.window), "member_ids": recent[-20:],
                         "first_at": datetime.fromtimestamp(min(t for t, _ in dq if t >= start), ev.at.tzinfo)}
    return True


#: the raid alert's buttons: post the held greetings, or drop them (bot/outreach/greetings.py)
RAID_GREET = "raid_greet"
RAID_QUIET = "raid_quiet"


class AlertModerators(_P):
    template: str = "raid_alert"


@action("alert_moderators", AlertModerators)
async def alert_moderators(ctx: RunContext, p: AlertModerators) -> None:
    """Post an alert in the moderators' channel (with the raid's numbers when a raid tipped it)."""
    resolve = getattr(ctx.engine.settings, "channel_id", None)
    channel_id = resolve("moderators", ctx.platform) if callable(resolve) else None
    if not channel_id:
        return
    raw = ctx.facts.get("raid") or {"count": 0, "window": "", "member_ids": [], "first_at": ctx.now}
    members = [{"id": m, "name": (await _name(ctx, m))} for m in raw["member_ids"]]
    extra = {"raid": {**{k: v for k, v in raw.items() if k != "member_ids"}, "members": members}}
    text, _ = await render(ctx, p.template, extra)
    digest = None
    if ctx.facts.get("raid") is not None:
        if not ctx.preview:
            await greetings.hold_waiting(ctx.engine.store, ctx.platform)
        digest = Digest(title="Possible raid", items=(DigestItem(text, (
            Button(RAID_GREET, "Greet them", ctx.platform, "primary"),
            Button(RAID_QUIET, "Don't greet", ctx.platform))),))
    msg = OutboundMessage(platform=ctx.platform, kind="channel", text=text, channel_id=channel_id,
                          mention_ids=(), dedupe_key=dedupe_key(ctx), digest=digest)
    await ctx.outbox.submit(msg, playbook_id=ctx.playbook.id, action="alert_moderators",
                            reason=f"{raw['count']} joins in {raw['window']}")


async def _name(ctx: RunContext, member_id: str) -> str:
    m = await ctx.engine.store.get_member(ctx.platform, member_id)
    return (m.display_name if m else "") or member_id
