"""In-memory sliding windows of the moderation rules (per process: a flood is a burst, seconds
long): each member's recent messages, each platform's recent joins, who spoke where lately."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

WINDOW_CAP = 256
SPEAKERS_CAP = 2048
#: the windows of members who went quiet are dropped every this many messages
PRUNE_EVERY = 1000


@dataclass
class _Entry:
    t: float
    message_id: str
    dup: int
    mentions: int
    links: int


@dataclass
class RuleState:
    """In-memory sliding windows (per process: a flood is a burst, seconds long). Each keeps only as
    far back as the longest window a rule asked for, so memory follows the members active in that
    window, not the traffic."""

    windows: dict[tuple[str, str], deque[_Entry]] = field(default_factory=dict)
    joins: dict[str, deque[tuple[float, str]]] = field(default_factory=dict)
    raid_until: dict[str, float] = field(default_factory=dict)
    #: per channel, when each member last posted (newest last), to tell replies from pings
    spoke: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)
    seen: int = 0
    #: the longest flood window and the longest reply window any rule uses (seconds)
    keep_s: float = 0.0
    reply_keep_s: float = 0.0

    def prune(self, now: float) -> None:
        """Drop members whose last message is older than every window, and speakers older than
        every reply window."""
        old = now - self.keep_s
        for k in [k for k, dq in self.windows.items() if not dq or dq[-1].t < old]:
            del self.windows[k]
        old = now - self.reply_keep_s
        for k in list(self.spoke):
            d = self.spoke[k]
            while d:
                first = next(iter(d))
                if d[first] >= old:
                    break
                del d[first]
            if not d:
                del self.spoke[k]

    def forget_member(self, platform: str, member_id: str) -> None:
        """A forgotten member leaves no trace here: their window, their joins, when they spoke."""
        self.windows.pop((platform, member_id), None)
        dq = self.joins.get(platform)
        if dq is not None and any(m == member_id for _, m in dq):
            self.joins[platform] = deque(((t, m) for t, m in dq if m != member_id), maxlen=dq.maxlen)
        for (plat, _), d in self.spoke.items():
            if plat == platform:
                d.pop(member_id, None)

    def posted(self, platform: str, channel_id: str, member_id: str, t: float) -> None:
        d = self.spoke.setdefault((platform, channel_id), {})
        d.pop(member_id, None)
        d[member_id] = t
        if len(d) > SPEAKERS_CAP:
            del d[next(iter(d))]

    def replies(self, platform: str, channel_id: str, member_ids: set[str], since: float) -> int:
        """How many of these members posted in the channel since ``since`` (a mention of them answers them)."""
        d = self.spoke.get((platform, channel_id)) or {}
        return sum(1 for m in member_ids if d.get(m, float("-inf")) >= since)


def state(engine: Any) -> RuleState:
    st = engine.services.moderation_state
    if st is None:
        st = engine.services.moderation_state = RuleState()
    return st
