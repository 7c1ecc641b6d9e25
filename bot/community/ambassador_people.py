"""Ambassador evidence by person: a candidate whose account is linked to one on another platform
(bot/people) is scored on what they did on both. The other platform's ranking is read for the
linked accounts; an account that does not rank there (below its shortlist) adds nothing, since
what it did is too little to change a score much."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.storage.repositories import Store


async def merge_people(store: Store, platform: str, out: list[Any], *, now: datetime, cfg: Any,
                       weights: Any, rank) -> list[Any]:
    """``out`` (this platform's candidates) with each linked person's evidence from their other
    accounts added, rescored and sorted again. ``rank(platform)``: that platform's candidates."""
    from bot.community.ambassadors import score_of

    linked = {}
    for c in out:
        others = (await store.people.accounts(platform, c.member_id))[1:]
        if others:
            linked[c.member_id] = others
    if not linked:
        return out
    ranked: dict[tuple[str, str], Any] = {}
    for p in sorted({p for accounts in linked.values() for p, _ in accounts}):
        for o in await rank(p):
            ranked[(p, o.member_id)] = o
    window = int(cfg.window_days)
    for c in out:
        for acct in linked.get(c.member_id, ()):
            o = ranked.get(acct)
            if o is None:
                continue
            c.helped += o.helped
            c.answers += o.answers
            c.answered += o.answered
            c.newcomers += o.newcomers
            c.reactors += o.reactors
            c.days_active = min(window, c.days_active + o.days_active)
            c.channels += o.channels
            c.tenure_days = max(c.tenure_days or 0, o.tenure_days or 0) or c.tenure_days
            c.evidence = {**c.evidence, "members_helped": c.helped, "questions_answered": c.answers,
                          "members_answered": c.answered, "newcomers_helped": c.newcomers,
                          "reactions_from_members": c.reactors, "days_active": c.days_active,
                          "channels": c.channels, "tenure_days": c.tenure_days,
                          "linked_accounts": [*c.evidence.get("linked_accounts", []), f"{acct[0]}:{acct[1]}"]}
            c.score = score_of(c, weights)
    out.sort(key=lambda c: (-c.score, -c.helped, c.member_id))
    return out
