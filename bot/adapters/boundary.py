"""The edge of the community: events, commands and clicks from another Slack workspace or Discord
server than the configured one are refused before anything reads them.

One Steward serves one community (one store, one ``[managers]`` list): an install of the same app in
a second workspace, or the bot invited to a second server, must not feed its members, messages and
clicks (and its admins' roles) into this one. Each refusal is one short log line, at most one a
minute per foreign workspace or server and kind (with how many were refused meanwhile), so a busy foreign
server cannot fill the log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

log = logging.getLogger("steward.boundary")

LOG_EVERY_S = 60.0
_MAX_TRACKED = 1000


class Boundary:
    """Which workspace / server IDs are ours; ``allows`` answers and logs refusals."""

    def __init__(self, platform: str, what: str, allowed: Iterable[str] = (), *,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.platform = platform
        self.what = what  # "workspace" / "server", for the log line
        self.allowed: set[str] = {str(a) for a in allowed if a}
        self.now = now
        self._logged: dict[tuple[str, str], tuple[float, int]] = {}

    def set(self, ids: Iterable[str]) -> None:
        self.allowed = {str(a) for a in ids if a}

    def allows(self, found: str | int | None, kind: str) -> bool:
        """Whether something of ``kind`` carrying ``found`` may go in (refusals are logged)."""
        if found is not None and str(found) in self.allowed:
            return True
        self._refused(str(found) if found is not None else "none", kind)
        return False

    def _refused(self, found: str, kind: str) -> None:
        t = self.now()
        key = (found, kind.split()[0])
        last, skipped = self._logged.get(key, (None, 0))
        if last is not None and t - last < LOG_EVERY_S:
            self._logged[key] = (last, skipped + 1)
            return
        if len(self._logged) >= _MAX_TRACKED:
            self._logged.clear()
        self._logged[key] = (t, 0)
        more = f" ({skipped} more refused in the last minute)" if skipped else ""
        ours = ", ".join(sorted(self.allowed)) or "none yet"
        log.warning("%s: refused %s from %s %s (this Steward serves %s)%s", self.platform, kind, self.what,
                    found, ours, more)
