"""Greetings in the welcome channel, a wave at a time, and held while a raid alert is open.

``greet`` (a playbook action) puts the newcomer in the channel's open greeting: an outbox row
that has not left yet. A newcomer who arrives when the channel has not been greeted for
``window`` is greeted at once; joins within ``window`` of the last greeting wait for the next one,
which names the first few and counts the rest ("Welcome, @a, @b and 5 others!"). A wave of joins
is one post per window, never a wall of one-liners minutes behind the joins.

While a raid alert is open (bot/moderation/raids.py: ``raid`` holds greetings until the raid has
been quiet for its ``quiet`` period), greetings are ``held``: the rows stay in the outbox and the
delivery worker leaves them alone. The moderators decide with the alert's buttons: *Greet them*
posts the held greeting (one post for the whole wave), *Don't greet* drops it (the rows are kept
as ``skipped``, with the reason). Without a decision nothing is posted: raiders are not greeted,
let alone pinged, unless a moderator says the wave was real.

The open greeting is changed in place with a compare-and-set on its status and text, so a row the
delivery worker claimed meanwhile, or another instance changed, is never overwritten: the join
then starts (or joins) the next greeting.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bot.core.records import OutboundMessage
from bot.engine.actions import dedupe_key, resolve_channel, template_context
from bot.engine.context import RunContext
from bot.engine.durations import parse_duration
from bot.engine.registry import action
from bot.engine.schema import Duration
from bot.storage.base import outbox_payload
from bot.storage.outbox import OpenRow
from bot.storage.repositories import Store

log = logging.getLogger("steward.greetings")

#: the outbox action of a greeting row
GREET = "greet"
#: a greeting on hold while a raid alert is open (the delivery worker claims only ``pending``)
HELD = "held"
DROPPED = "held during a raid alert; the moderators chose not to greet"


class Greet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: str = Field("welcome", description="a channel name from the config's [channels]")
    template: str = Field("welcome_channel", description="gets `newcomers` (named) and `others` (how many more)")
    window: Duration = Field("60s", description="at most one greeting post per window; joins in between wait for it")
    name_up_to: int = Field(5, ge=1, le=50, description="name this many newcomers in one post; count the rest")

    def check(self, ctx) -> list[str]:
        if parse_duration(self.window).total_seconds() < 0:
            return ["window must not be negative"]
        return []


def _state(engine: Any) -> dict[str, Any]:
    st = engine.services.greetings
    if st is None:
        st = engine.services.greetings = {"hold_until": {}, "open": {}}
    return st


def hold(engine: Any, platform: str, until: datetime) -> None:
    """Hold greetings on ``platform`` until ``until`` (a raid alert is open; it moves on with the raid)."""
    holds = _state(engine)["hold_until"]
    holds[platform] = max(until, holds.get(platform, until))


def holding(engine: Any, platform: str, now: datetime) -> bool:
    until = _state(engine)["hold_until"].get(platform)
    return until is not None and now < until


async def hold_waiting(store: Store, platform: str) -> int:
    """Put the greetings not yet sent on ``platform`` on hold (a raid alert just opened)."""
    return await store.move_outbox_status(platform, GREET, "pending", HELD)


async def release(engine: Any, platform: str, now: datetime) -> int:
    """The moderators' *Greet them*: the held greetings go out now, and new joins are greeted again."""
    _state(engine)["hold_until"].pop(platform, None)
    n = await engine.store.move_outbox_status(platform, GREET, HELD, "pending", not_before=now)
    engine.outbox.wake()
    return n


async def drop(engine: Any, platform: str, now: datetime) -> int:
    """The moderators' *Don't greet*: the held greetings are not sent (kept as ``skipped``). Joins
    while the raid goes on are held again, for the same buttons."""
    return await engine.store.move_outbox_status(platform, GREET, HELD, "skipped", error=DROPPED)


async def held_count(store: Store, platform: str) -> int:
    """How many newcomers the held greetings on ``platform`` would greet."""
    payloads = await store.outbox_payloads(platform, GREET, HELD)
    return sum(int((p.get("greet") or {}).get("count", 0)) for p in payloads)


def _is_open(g: OpenRow, now: datetime, held: bool) -> bool:
    # a held greeting takes the joins of its raid alone: a newcomer after the raid (or after a
    # restart, which forgets the raid) is not put on hold with the raiders
    # a dry run records rows at once (status dry_run): one still inside its window takes joins too
    return (g.status == "pending" or (g.status == HELD and held)
            or (g.status == "dry_run" and g.not_before > now))


async def _render(ctx: RunContext, p: Greet, named: list[dict[str, Any]], count: int) -> str:
    context, _ = await template_context(ctx)
    newcomers = [{"id": m["id"], "name": m["name"]} for m in named]
    context.update(newcomers=newcomers, others=max(0, count - len(named)), member=context["member"] | newcomers[0])
    locale = getattr(ctx.engine.settings, "default_locale", None)
    return ctx.engine.templates.render(p.template, context, locale)


@action("greet", Greet)
async def greet(ctx: RunContext, p: Greet) -> None:
    """Greet the subject member in a channel, together with whoever else joins in the same window."""
    member_id = ctx.subject.member_id
    channel_id = resolve_channel(ctx, p.channel)
    if not member_id or not channel_id:
        return
    engine, now = ctx.engine, ctx.now
    store = engine.store
    outbox = ctx.outbox
    window = parse_duration(p.window)
    m = await store.get_member(ctx.platform, member_id)
    # no name known: empty, as in every other template context (bot/engine/actions.py member_view), never the ID
    me = {"id": member_id, "name": (m.display_name if m else "") or ""}
    held = holding(engine, ctx.platform, now)
    # the channel's latest greeting as this process last wrote it: a wave's joins change it without
    # reading it back each time; the compare-and-set says when someone else changed it meanwhile
    cache = _state(engine)["open"]
    key = (ctx.platform, channel_id, ctx.playbook.id)
    if not ctx.preview:  # a preview changes nothing that exists
        for attempt in range(4):
            g = cache.pop(key, None) if attempt == 0 else None
            if g is None:
                g = await store.latest_outbox_row(ctx.platform, channel_id, ctx.playbook.id, GREET)
            if g is None or not _is_open(g, now, held):
                break
            info = dict(g.payload.get("greet") or {"count": 0, "named": []})
            named = list(info.get("named") or [])
            if any(x["id"] == member_id for x in named):
                return  # the same join, run again
            count = int(info.get("count", 0)) + 1
            if len(named) < p.name_up_to:
                named.append(me)
            text = await _render(ctx, p, named, count)
            payload = {**g.payload, "greet": {"count": count, "named": named},
                       "mention_ids": [x["id"] for x in named]}
            status = HELD if held and g.status == "pending" else g.status
            if await store.swap_outbox_row(g, text=text, payload=payload, status=status):
                cache[key] = OpenRow(g.id, status, text, payload, g.not_before)
                return
        else:
            g = None
        last_due = g.not_before if g is not None else None
    else:
        last_due = None
    due = now if last_due is None or now >= last_due + window else last_due + window
    if held:
        due = max(due, now + window)  # not due before it is held (below): no worker can take it first
    text = await _render(ctx, p, [me], 1)
    msg = OutboundMessage(platform=ctx.platform, kind="channel", text=text, channel_id=channel_id,
                          mention_ids=(member_id,), dedupe_key=dedupe_key(ctx))
    extra = {"greet": {"count": 1, "named": [me]}}
    item = await outbox.submit(msg, playbook_id=ctx.playbook.id, action=GREET,
                               reason=ctx.subject.reason or ctx.playbook.spec.description,
                               delay=due - now if due > now else None, deliver_now=not held, extra=extra)
    if item is None or ctx.preview:
        return
    status = item.status
    if held:
        await hold_waiting(store, ctx.platform)
        status = HELD
    cache[key] = OpenRow(item.id, status, text, outbox_payload(msg, None, False, extra), item.not_before)
