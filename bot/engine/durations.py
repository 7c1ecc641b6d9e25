"""Durations in playbooks: ``90s``, ``10m``, ``2h``, ``30d``, ``1w`` or a number of seconds."""

from __future__ import annotations

import functools
import re
from datetime import timedelta

_RX = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@functools.lru_cache(maxsize=512)
def parse_duration(value: str | int | float) -> timedelta:
    if isinstance(value, (int, float)):
        return timedelta(seconds=float(value))
    m = _RX.match(str(value))
    if not m:
        raise ValueError(f"not a duration: {value!r} (use e.g. 90s, 10m, 2h, 30d, 1w)")
    return timedelta(seconds=float(m.group(1)) * _UNIT[m.group(2)])
