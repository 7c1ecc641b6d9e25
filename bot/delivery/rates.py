"""The platforms' published rate limits as data, and the buckets a send or a request takes a slot in.

A bucket is a GCRA limiter (see bot/delivery/pacing.py): one per target channel, per API method or
message kind, and per platform. ``DEFAULT_LIMITS`` holds the published limits; a config overrides
them field by field (``[features.delivery.limits.X]``, ``merged_limits``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from bot.core.records import OutboundMessage


class Rate(BaseModel):
    """``per_s`` sends a second on average, at most ``burst`` at once."""

    model_config = ConfigDict(extra="forbid")
    per_s: float = Field(gt=0)
    burst: int = Field(1, ge=1)

    @property
    def interval(self) -> float:
        return 1.0 / self.per_s


class PlatformLimits(BaseModel):
    """One platform's limits, as data: defaults below, overridable in ``[features.delivery.limits.X]``."""

    model_config = ConfigDict(extra="forbid")
    #: per target channel (a DM counts as the member's channel)
    per_channel: Rate | None = None
    #: reactions have their own, stricter per-channel route on some platforms
    reaction_per_channel: Rate | None = None
    #: per API method (``conversations.open``: every call of it) or per message kind (``dm``,
    #: ``channel``, ``thread``, ``ephemeral``, ``reaction``: every outbox message of that kind),
    #: across the workspace or bot
    methods: dict[str, Rate] = Field(default_factory=dict)
    #: the API method each message kind is sent with, so that a message counts in that method's bucket
    kind_methods: dict[str, str] = Field(default_factory=dict)
    #: every request of this platform together
    global_rate: Rate | None = None


#: Slack's Web API tiers: calls a minute, per method and workspace
SLACK_TIERS = {1: 1, 2: 20, 3: 50, 4: 100}
#: the tier of each Slack method Steward calls. chat.postMessage is not here: its limit is about
#: one a second per channel (``per_channel``); auth.test and apps.connections.open are rare.
SLACK_METHOD_TIERS = {
    "chat.postEphemeral": 4, "chat.update": 3, "chat.delete": 3, "reactions.add": 3,
    "conversations.open": 3, "conversations.info": 3, "conversations.history": 3, "conversations.replies": 3,
    "conversations.kick": 3, "conversations.members": 4, "users.info": 4, "users.list": 2,
    "usergroups.users.list": 2, "usergroups.users.update": 2,
}


def _tier(n: int) -> Rate:
    # one at a time: with a burst, a minute could hold a call or two more than the tier allows
    return Rate(per_s=SLACK_TIERS[n] / 60, burst=1)


#: Published limits. Slack: chat.postMessage about 1/s per channel, the other methods their
#: tier's calls a minute. Discord: five messages per five seconds per channel, in a window that
#: opens with the first: paced as one a second, never a burst (a burst of five refills one a
#: second, and the sixth would come a second after the fifth, inside the window); reactions 1 /
#: 0.25 s per channel; 50 requests a second over all routes per bot, paced at 45 without a burst
#: so that any one second holds fewer than 50 whichever way the server counts it.
DEFAULT_LIMITS: dict[str, PlatformLimits] = {
    "slack": PlatformLimits(
        per_channel=Rate(per_s=1.0, burst=1),
        methods={m: _tier(t) for m, t in SLACK_METHOD_TIERS.items()},
        kind_methods={"dm": "chat.postMessage", "channel": "chat.postMessage", "thread": "chat.postMessage",
                      "group": "chat.postMessage", "ephemeral": "chat.postEphemeral", "reaction": "reactions.add"},
    ),
    "discord": PlatformLimits(
        per_channel=Rate(per_s=1.0, burst=1),
        reaction_per_channel=Rate(per_s=4.0, burst=1),
        global_rate=Rate(per_s=45.0, burst=1),
    ),
}


def merged_limits(overrides: dict[str, PlatformLimits]) -> dict[str, PlatformLimits]:
    """The published limits with a config's overrides on top, field by field (a config that sets
    one method's rate keeps every other limit of that platform). ``per_s = inf`` lifts a limit (a
    proxy or a test server that does not enforce it)."""
    out = dict(DEFAULT_LIMITS)
    for plat, over in overrides.items():
        base = out.get(plat) or PlatformLimits()
        update = {k: getattr(over, k) for k in over.model_fields_set}
        for k in ("methods", "kind_methods"):
            if k in update:
                update[k] = {**getattr(base, k), **update[k]}
        if "methods" in update:
            update["methods"] = {m: r for m, r in update["methods"].items() if math.isfinite(r.per_s)}
        for k in ("per_channel", "reaction_per_channel", "global_rate"):
            r = update.get(k)
            if r is not None and not math.isfinite(r.per_s):
                update[k] = None
        out[plat] = base.model_copy(update=update)
    return out


@dataclass(frozen=True)
class Bucket:
    key: str
    interval: float
    burst: int
    #: slots taken at once (a send that makes several requests counted in this bucket)
    cost: int = 1


def combined(buckets: Sequence[Bucket]) -> list[Bucket]:
    """Buckets with the same key become one, their costs added."""
    out: dict[str, Bucket] = {}
    for b in buckets:
        seen = out.get(b.key)
        out[b.key] = b if seen is None else Bucket(b.key, b.interval, b.burst, seen.cost + b.cost)
    return list(out.values())



def buckets_for(msg: OutboundMessage, limits: PlatformLimits) -> list[Bucket]:
    """The buckets one outbound message takes a slot in, most likely to be full first."""
    out: list[Bucket] = []
    p = msg.platform
    target = msg.channel_id if msg.kind != "dm" else f"dm:{msg.member_id}"
    per_chan = limits.reaction_per_channel if msg.kind == "reaction" and limits.reaction_per_channel \
        else limits.per_channel
    if per_chan is not None and target:
        kind = "react" if msg.kind == "reaction" and limits.reaction_per_channel else "chan"
        out.append(Bucket(f"{p}:{kind}:{target}", per_chan.interval, per_chan.burst))
    for name in dict.fromkeys((msg.kind, limits.kind_methods.get(msg.kind))):
        method = limits.methods.get(name) if name else None
        if method is not None:
            out.append(Bucket(f"{p}:method:{name}", method.interval, method.burst))
    if limits.global_rate is not None:
        out.append(Bucket(f"{p}:global", limits.global_rate.interval, limits.global_rate.burst))
    return out


def request_buckets(platform: str, method: str, limits: PlatformLimits) -> list[Bucket]:
    """The buckets one API request takes a slot in: its method's (Slack's tiers) and the platform's."""
    out: list[Bucket] = []
    rate = limits.methods.get(method)
    if rate is not None:
        out.append(Bucket(f"{platform}:method:{method}", rate.interval, rate.burst))
    if limits.global_rate is not None:
        out.append(Bucket(f"{platform}:global", limits.global_rate.interval, limits.global_rate.burst))
    return out

