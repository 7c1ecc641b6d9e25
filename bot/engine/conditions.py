"""Conditions: predicates named for what must be true."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field

from bot.core.roles import roles_of
from bot.engine.context import RunContext
from bot.engine.registry import condition


class _P(BaseModel):
    model_config = ConfigDict(extra="forbid")


async def _member(ctx: RunContext):
    if not ctx.subject.member_id:
        return None
    return await ctx.engine.store.get_member(ctx.subject.platform, ctx.subject.member_id)


@condition("not_bot")
async def not_bot(ctx: RunContext, p) -> bool:
    """The subject is a person, not a bot (nor Steward itself)."""
    ev_bot = getattr(ctx.event, "is_bot", False)
    m = await _member(ctx)
    return not ev_bot and not (m and m.is_bot)


@condition("not_staff")
async def not_staff(ctx: RunContext, p) -> bool:
    """The subject is not a manager, moderator or admin."""
    if not ctx.subject.member_id:
        return True
    m = await _member(ctx)
    return not await roles_of(ctx.engine).is_staff(ctx.subject.platform, ctx.subject.member_id, member=m)


@condition("not_opted_out")
async def not_opted_out(ctx: RunContext, p) -> bool:
    """The member has not opted out of messages from Steward."""
    if not ctx.subject.member_id:
        return True
    prefs = await ctx.engine.store.preferences(ctx.subject.platform, ctx.subject.member_id)
    return not prefs.opted_out


@condition("first_join")
def first_join(ctx: RunContext, p) -> bool:
    """This is the member's first join (not a rejoin)."""
    return bool(ctx.facts.get("first_join"))


class Days(_P):
    days: float = Field(ge=0)


@condition("joined_at_least", Days)
async def joined_at_least(ctx: RunContext, p: Days) -> bool:
    """The member joined at least `days` ago."""
    m = await _member(ctx)
    return bool(m and m.joined_at and m.joined_at <= ctx.now - timedelta(days=p.days))


@condition("joined_within", Days)
async def joined_within(ctx: RunContext, p: Days) -> bool:
    """The member joined less than `days` ago."""
    m = await _member(ctx)
    return bool(m and m.joined_at and m.joined_at > ctx.now - timedelta(days=p.days))


class Channels(_P):
    channels: list[str] = Field(min_length=1)


@condition("in_channels", Channels)
def in_channels(ctx: RunContext, p: Channels) -> bool:
    """The event happened in one of these channels (config names or native IDs)."""
    ch = ctx.subject.channel_id
    if ch is None:
        return False
    resolve = getattr(ctx.engine.settings, "channel_id", None)
    ids = {resolve(c, ctx.platform) if callable(resolve) else c for c in p.channels}
    return ch in ids or ch in p.channels
