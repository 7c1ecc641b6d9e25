"""Rate limits as the platforms count them, for the fakes: what a request is refused for, and how
busy a stretch of recorded calls was.

Three shapes cover what Slack and Discord publish:

- ``SlidingWindow(limit, seconds)``: at most ``limit`` accepted requests in any ``seconds``
  (Discord's global 50 a second; Slack's method tiers, so many a minute);
- ``FixedWindow(limit, seconds)``: Discord's per-route buckets: the window opens with its first
  request, takes ``limit`` requests and resets ``seconds`` later (``X-RateLimit-Remaining`` and
  ``X-RateLimit-Reset-After`` describe it, and discord.py paces itself by them);
- ``TokenBucket(rate, burst)``: Slack's chat.postMessage, about one a second per channel with
  short bursts.

Each has ``wait(now)`` (0: the request may go; else seconds until it could) and ``take(now)``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable


class SlidingWindow:
    def __init__(self, limit: int, seconds: float) -> None:
        self.limit = limit
        self.seconds = seconds
        self.times: deque[float] = deque()

    def _drop(self, now: float) -> None:
        while self.times and self.times[0] <= now - self.seconds:
            self.times.popleft()

    def wait(self, now: float) -> float:
        self._drop(now)
        if len(self.times) < self.limit:
            return 0.0
        return self.times[len(self.times) - self.limit] + self.seconds - now

    def take(self, now: float) -> None:
        self.times.append(now)

    def remaining(self, now: float) -> int:
        self._drop(now)
        return max(0, self.limit - len(self.times))

    def reset_after(self, now: float) -> float:
        self._drop(now)
        return self.times[0] + self.seconds - now if self.times else self.seconds


class FixedWindow:
    def __init__(self, limit: int, seconds: float) -> None:
        self.limit = limit
        self.seconds = seconds
        self.opened = float("-inf")
        self.used = 0

    def _roll(self, now: float) -> None:
        if now >= self.opened + self.seconds:
            self.opened, self.used = now, 0

    def wait(self, now: float) -> float:
        self._roll(now)
        return 0.0 if self.used < self.limit else self.opened + self.seconds - now

    def take(self, now: float) -> None:
        self._roll(now)
        self.used += 1

    def remaining(self, now: float) -> int:
        self._roll(now)
        return self.limit - self.used

    def reset_after(self, now: float) -> float:
        self._roll(now)
        return self.opened + self.seconds - now


class TokenBucket:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.at = float("-inf")

    def _fill(self, now: float) -> None:
        if self.at == float("-inf"):
            self.at = now
        self.tokens = min(float(self.burst), self.tokens + (now - self.at) * self.rate)
        self.at = now

    def wait(self, now: float) -> float:
        self._fill(now)
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate

    def take(self, now: float) -> None:
        self._fill(now)
        self.tokens -= 1.0


def most_in_window(times: Iterable[float], seconds: float) -> int:
    """The most of ``times`` that fall within any ``seconds`` (a half-open stretch ``[t, t + seconds)``)."""
    ts = sorted(times)
    best = lo = 0
    for hi, t in enumerate(ts):
        while ts[lo] <= t - seconds:
            lo += 1
        best = max(best, hi - lo + 1)
    return best
