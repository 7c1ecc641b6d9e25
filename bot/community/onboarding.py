"""Onboarding by join cohort (in health.json and the report): of the newcomers who joined in a month,
how many made a first contribution (a message) within 7 and within 30 days, and how far their
onboarding journey had gone when they did: before its first step, or after which step."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any

DAY = 86_400
#: what the first contribution is counted against: the journey steps sent (or recorded in a dry run)
STEP_STATUSES = ("sent", "dry_run")
NONE_YET = "before any step"


async def onboarding(q) -> list[dict[str, Any]]:
    """``q``: the health computation's bound queries (bot/community/health.py ``_Q``)."""
    j = q.e("h.joined_at")
    rows = await q.all(f"""
        SELECT h.platform, h.member_id, {j} AS joined, MIN({q.e('g.posted_at')}) AS first_post
        FROM ({q.humans}) h
        LEFT JOIN ({q.msgs}) g ON g.platform = h.platform AND g.author_id = h.member_id
        WHERE h.joined_at IS NOT NULL AND h.joined_at >= :start
        GROUP BY h.platform, h.member_id, h.joined_at""")
    if not rows:
        return []
    steps: dict[tuple[str, str], list[tuple[float, str]]] = defaultdict(list)
    plat = "AND o.platform = :platform" if "platform" in q.params else ""
    sent_at = q.e("COALESCE(o.sent_at, o.not_before)")
    for r in await q.all(f"""
            SELECT o.platform, o.member_id, {sent_at} AS at, o.payload FROM outbox o
            WHERE o.action = 'journey_step' AND o.status IN ('sent', 'dry_run') {plat}"""):
        payload = r.payload if isinstance(r.payload, dict) else json.loads(r.payload or "{}")
        meta = payload.get("meta") or {}
        steps[(r.platform, r.member_id)].append((float(r.at), meta.get("name") or f"step{meta.get('step', 0) + 1}"))
    end = q.params["end_e"]
    cohorts: dict[str, dict[str, Any]] = {}
    for r in rows:
        joined = float(r.joined)
        month = datetime.fromtimestamp(joined, UTC).strftime("%Y-%m")
        c = cohorts.setdefault(month, {"cohort": month, "joined": 0, "eligible_7d": 0, "contributed_7d": 0,
                                       "eligible_30d": 0, "contributed_30d": 0, "at_step": Counter()})
        c["joined"] += 1
        first = float(r.first_post) if r.first_post is not None else None
        for days in (7, 30):
            if joined + days * DAY <= end:
                c[f"eligible_{days}d"] += 1
                if first is not None and first <= joined + days * DAY:
                    c[f"contributed_{days}d"] += 1
        if first is not None and first <= joined + 30 * DAY:
            before = [name for at, name in sorted(steps.get((r.platform, r.member_id), ())) if at <= first]
            c["at_step"][f"after {before[-1]}" if before else NONE_YET] += 1
    out = []
    for month in sorted(cohorts):
        c = cohorts[month]
        for days in (7, 30):
            e = c[f"eligible_{days}d"]
            c[f"rate_{days}d"] = round(c[f"contributed_{days}d"] / e, 3) if e else None
        c["at_step"] = dict(sorted(c["at_step"].items()))
        out.append(c)
    return out
