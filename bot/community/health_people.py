"""Health's weekly figures and retention cohorts by person: the account figures of
bot/community/health.py, corrected for the accounts linked into one person (``member_links``), as
the member and participation figures are there. Only linked accounts are read again (a few, through
the links' and the messages' indexes), so the figures of a community without links cost nothing more.

A person counts once a week however many of their accounts wrote; a person is new in the week (and
of the month's cohort) of their first account's join, and retained when any of their accounts wrote
30 / 90 days after that first join."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

_MONDAY, _WEEK, _DAY = 345_600, 604_800, 86_400


#: one linked account: its join (epoch seconds), the week and month of it as the account figures
#: have them (from the same SQL), its latest message in the window, whether it joined in the window
Account = tuple[float | None, int | None, str | None, float | None, bool]


def _week_start(wk: int) -> str:
    return datetime.fromtimestamp(_MONDAY + wk * _WEEK, UTC).date().isoformat()


async def linked_accounts(q) -> dict[str, list[Account]]:
    """Person → their accounts among the members, for people with more than one."""
    month = ("to_char(h.joined_at AT TIME ZONE 'UTC', 'YYYY-MM')" if q.d == "postgresql"
             else "strftime('%Y-%m', h.joined_at)")
    rows = await q.all(f"""
        SELECT l.person_id, {q.e('h.joined_at')},
          CAST(({q.e('h.joined_at')} - {_MONDAY}) / {_WEEK} AS INTEGER), {month},
          (SELECT MAX({q.e('g.posted_at')}) FROM ({q.msgs}) g
             WHERE g.platform = h.platform AND g.author_id = h.member_id),
          CASE WHEN h.joined_at >= :start THEN 1 ELSE 0 END
        FROM ({q.humans}) h JOIN member_links l ON l.platform = h.platform AND l.member_id = h.member_id""")
    people: dict[str, list[Account]] = {}
    for person, joined, wk, mon, last, new in rows:
        people.setdefault(person, []).append((None if joined is None else float(joined),
                                              None if wk is None else int(wk), mon,
                                              None if last is None else float(last), bool(new)))
    return {p: accts for p, accts in people.items() if len(accts) > 1}


def _first(accts: list[Account]) -> Account | None:
    """The account that joined first (None: no join known)."""
    return min((a for a in accts if a[0] is not None), key=lambda a: a[0], default=None)


async def people_weekly(q, weekly: list[dict[str, Any]], linked: dict[str, list[Account]]) -> list[dict[str, Any]]:
    """``active_members`` and ``new_members`` a week, by person."""
    weeks = {w["week"]: dict(w) for w in weekly}
    # the weeks in which a person wrote from more than one account: they are one active member there
    rows = await q.all(f"""
        SELECT l.person_id, CAST(({q.e('g.posted_at')} - {_MONDAY}) / {_WEEK} AS INTEGER) AS wk,
               COUNT(DISTINCT g.platform || ':' || g.author_id)
        FROM member_links l JOIN ({q.msgs}) g ON g.platform = l.platform AND g.author_id = l.member_id
        GROUP BY 1, 2""")
    for _person, wk, accounts in rows:
        if int(accounts) > 1 and _week_start(int(wk)) in weeks:
            weeks[_week_start(int(wk))]["active_members"] -= int(accounts) - 1
    # a person is new once: in the week their first account joined (when that is in the window)
    for accts in linked.values():
        for joined, wk, _mon, _last, new in accts:
            if joined is not None and new and _week_start(wk) in weeks:
                weeks[_week_start(wk)]["new_members"] -= 1
        first = _first(accts)
        if first is not None and first[4]:
            key = _week_start(first[1])
            weeks.setdefault(key, {"week": key, "messages": 0, "active_members": 0, "new_members": 0})
            weeks[key]["new_members"] += 1
    # a week left with nothing (only a linked account's join, now the person's earlier one) goes
    return [weeks[k] for k in sorted(weeks) if weeks[k]["messages"] or weeks[k]["new_members"]]


def people_retention(q, retention: list[dict[str, Any]], linked: dict[str, list[Account]]) -> list[dict[str, Any]]:
    """Cohorts by person: each person in the month of their first join, retained once."""
    cohorts = {c["cohort"]: dict(c) for c in retention}
    end = q.params["end_e"]

    def add(month: str, joined: float, last: float | None, sign: int) -> None:
        c = cohorts.setdefault(month, {"cohort": month, "joined": 0, "eligible_30d": 0, "retained_30d": 0,
                                       "eligible_90d": 0, "retained_90d": 0})
        c["joined"] += sign
        for days in (30, 90):
            if joined + days * _DAY <= end:
                c[f"eligible_{days}d"] += sign
                if last is not None and last >= joined + days * _DAY:
                    c[f"retained_{days}d"] += sign

    for accts in linked.values():
        for joined, _wk, month, last, new in accts:  # out go the accounts, each counted in its own cohort
            if joined is not None and new:
                add(month, joined, last, -1)
        first = _first(accts)
        if first is not None and first[4]:  # in comes the person, from their first join
            add(first[2], first[0], max((a[3] for a in accts if a[3] is not None), default=None), +1)
    out = []
    for key in sorted(cohorts):
        c = cohorts[key]
        if c["joined"] <= 0:
            continue
        for days in (30, 90):
            e, r = c[f"eligible_{days}d"], c[f"retained_{days}d"]
            c[f"rate_{days}d"] = round(r / e, 3) if e else None
        out.append({k: c[k] for k in ("cohort", "joined", "eligible_30d", "retained_30d", "rate_30d",
                                      "eligible_90d", "retained_90d", "rate_90d")})
    return out
