"""``[features.delivery]``: how the delivery worker sends (concurrency, leases, pacing, backoff)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bot.delivery.rates import PlatformLimits


class DeliveryOptions(BaseModel):
    """``[features.delivery]`` in the config."""

    model_config = ConfigDict(extra="forbid")
    #: sends in flight at once in this instance
    concurrency: int = Field(32, ge=1, le=1000)
    #: a row ``sending`` for longer than this is presumed abandoned and re-examined
    lease_seconds: float = Field(120.0, gt=0)
    #: a send that takes longer than this is treated like a crash: its outcome is checked
    send_timeout_seconds: float = Field(30.0, gt=0)
    #: wait this long at most for a pacing slot; further away, the row is deferred instead
    horizon_seconds: float = Field(5.0, ge=0)
    #: idle poll for rows that became due (new rows wake the worker at once)
    poll_seconds: float = Field(1.0, gt=0)
    #: per-platform overrides of the published limits (see bot/delivery/rates.py)
    limits: dict[str, PlatformLimits] = Field(default_factory=dict)
    #: pace at this fraction of the limits: a little room for sends that leave a few ms after
    #: their slots (late ones beyond ``late_fraction`` do not go at all, see pacing.py)
    rate_margin: float = Field(0.97, gt=0, le=1)
    #: a send that wakes up later than this share of its lane's interval after its slot started
    #: does not go (the slot stays empty; it takes the next): late sends crowd the ones after them
    late_fraction: float = Field(0.5, gt=0)
    #: false: no pacing at all (a platform proxy does it)
    pacing: bool = True
    #: the first retry after a transient error waits about twice this, doubling per attempt
    backoff_base_seconds: float = Field(1.0, gt=0)


def options_from(settings: Any) -> DeliveryOptions:
    raw = (getattr(settings, "features", None) or {}).get("delivery") or {}
    return DeliveryOptions.model_validate(raw)
