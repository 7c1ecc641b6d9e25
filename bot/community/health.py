"""Community health metrics, computed in SQL over the store for any time window.

Member figures leave out bots, staff and forgotten members. ``messages`` counts messages written
by non-bot members (join and leave notices are never stored as messages). Works on SQLite and
PostgreSQL: the only dialect-specific parts are turning a timestamp into epoch seconds and
formatting a month.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.clock import iso
from bot.storage.links import REPLIES_SQL as REPLIES  # what replies and what starts a conversation
from bot.storage.links import STARTS_SQL as STARTS

#: a week starts on Monday: epoch second 345600 is Monday 1970-01-05 00:00 UTC
_MONDAY = 345_600
_WEEK = 604_800
_DAY = 86_400


def _epoch(dialect: str, col: str) -> str:
    if dialect == "postgresql":
        return f"EXTRACT(EPOCH FROM {col})"
    return f"((julianday({col}) - 2440587.5) * 86400.0)"


def _iso(ts: float | None) -> str | None:
    """Epoch seconds from SQL as an ISO time (bot/core/clock.py ``iso``)."""
    if ts is None:
        return None
    # julianday() arithmetic is good to well under a millisecond: round to the millisecond
    return iso(datetime.fromtimestamp(round(float(ts), 3), UTC))


def _bound(dt: datetime | None, default: datetime) -> datetime:
    d = dt or default
    return d if d.tzinfo else d.replace(tzinfo=UTC)


class _Q:
    """Binds the window and the platform filter once for every query of one health computation."""

    def __init__(self, engine: AsyncEngine, platform: str | None, start: datetime, end: datetime,
                 staff: tuple[str, ...]) -> None:
        self.engine = engine
        self.d = engine.dialect.name
        self.params: dict[str, Any] = {"start": start, "end": end, "start_e": start.timestamp(),
                                       "end_e": end.timestamp()}
        self.plat_m = "AND m.platform = :platform" if platform else ""
        self.plat_msg = "AND g.platform = :platform" if platform else ""
        if platform:
            self.params["platform"] = platform
        staff_sql = ""
        if staff:
            names = []
            for i, s in enumerate(staff):
                self.params[f"staff{i}"] = s
                names.append(f":staff{i}")
            staff_sql = f"AND m.member_id NOT IN ({', '.join(names)})"
        # the members every member figure is about
        self.humans = (f"SELECT m.platform, m.member_id, m.joined_at FROM members m "
                       f"WHERE m.is_bot = :f AND m.is_staff = :f AND m.forgotten = :f {self.plat_m} {staff_sql} "
                       f"AND (m.joined_at IS NULL OR m.joined_at < :end)")
        self.params["f"] = False
        # messages written by non-bot members in the window
        self.msgs = (f"SELECT g.* FROM messages g WHERE g.is_bot = :f AND g.deleted = :f {self.plat_msg} "
                     f"AND g.posted_at >= :start AND g.posted_at < :end AND NOT EXISTS ("
                     f"SELECT 1 FROM members b WHERE b.platform = g.platform AND b.member_id = g.author_id "
                     f"AND b.is_bot = :t)")
        self.params["t"] = True

    def e(self, col: str) -> str:
        return _epoch(self.d, col)

    async def all(self, sql: str) -> list[Any]:
        async with self.engine.connect() as conn:
            return list((await conn.execute(text(sql), self.params)).all())

    async def one(self, sql: str) -> Any:
        rows = await self.all(sql)
        return rows[0] if rows else None


async def compute_health(store, *, platform: str | None = None, start: datetime | None = None,
                         end: datetime | None = None, staff_ids: tuple[str, ...] = ()) -> dict[str, Any]:
    """Health of the community in ``[start, end)`` (default: all time). Returns a JSON-ready dict."""
    await store.flush()
    q = _Q(store.database, platform, _bound(start, datetime(1970, 1, 2, tzinfo=UTC)),
           _bound(end, datetime.now(UTC) + timedelta(days=1)), tuple(staff_ids))
    H, MSG = q.humans, q.msgs
    members = (await q.one(f"SELECT COUNT(*) FROM ({H}) h"))[0]
    messages = (await q.one(f"SELECT COUNT(*) FROM ({MSG}) g"))[0]

    # who did what in the window: a "creator" starts conversations (a message the reply model linked
    # to no earlier line, outside threads and platform replies); a "contributor" only replies,
    # continues their own lines or reacts
    activity = f"""
        SELECT h.platform, h.member_id, COALESCE(s.started, 0) AS started, COALESCE(s.posted, 0) AS posted,
               COALESCE(r.reacted, 0) AS reacted
        FROM ({H}) h
        LEFT JOIN (SELECT g.platform, g.author_id, COUNT(*) AS posted,
                     SUM(CASE WHEN {STARTS} THEN 1 ELSE 0 END) AS started
                   FROM ({MSG}) g GROUP BY g.platform, g.author_id) s
          ON s.platform = h.platform AND s.author_id = h.member_id
        LEFT JOIN (SELECT r.platform, r.member_id, COUNT(*) AS reacted FROM reactions r
                   WHERE r.removed = :f AND r.at >= :start AND r.at < :end GROUP BY r.platform, r.member_id) r
          ON r.platform = h.platform AND r.member_id = h.member_id"""
    row = await q.one(f"""
        SELECT SUM(CASE WHEN started > 0 THEN 1 ELSE 0 END),
               SUM(CASE WHEN started = 0 AND (posted > 0 OR reacted > 0) THEN 1 ELSE 0 END),
               SUM(CASE WHEN posted = 0 AND reacted = 0 THEN 1 ELSE 0 END),
               SUM(CASE WHEN posted > 0 OR reacted > 0 THEN 1 ELSE 0 END)
        FROM ({activity}) a""")
    creators, contributors, readers, active = (int(x or 0) for x in row)
    if platform is None:  # both platforms: one person's linked accounts count once (bot/people)
        members, creators, contributors, readers, active = await _people(
            q, activity, (int(members), creators, contributors, readers, active))

    questions = await _questions(q)
    retention = await _retention(q)
    weekly = await _weekly(q)
    if platform is None:  # the weekly figures and the cohorts by person too (bot/community/health_people.py)
        from bot.community.health_people import linked_accounts, people_retention, people_weekly

        linked = await linked_accounts(q)
        retention = people_retention(q, retention, linked)
        weekly = await people_weekly(q, weekly, linked)
    from bot.community.onboarding import onboarding

    first_steps = await onboarding(q)
    return {
        "window": {"start": _iso(q.params["start_e"]) if start else None,
                   "end": _iso(q.params["end_e"]) if end else None, "platform": platform},
        "members": int(members),
        "active_members": active,
        "messages": int(messages),
        **questions,
        "participation": {
            "creators": creators, "contributors": contributors, "readers": readers,
            "creators_pct": _pct(creators, members), "contributors_pct": _pct(contributors, members),
            "readers_pct": _pct(readers, members),
        },
        "retention": retention,
        "onboarding": first_steps,
        "weekly": weekly,
    }


async def _people(q: _Q, activity: str, counts: tuple[int, int, int, int, int]) -> tuple[int, int, int, int, int]:
    """Member counts by person: each person with several accounts among the members counts once, at
    the highest level any of their accounts reached (a creator on Slack who only reads on Discord is
    one creator)."""
    rows = await q.all(f"""SELECT l.person_id, a.started, a.posted, a.reacted FROM ({activity}) a
                           JOIN member_links l ON l.platform = a.platform AND l.member_id = a.member_id""")
    people: dict[str, list[int]] = {}
    for person, started, posted, reacted in rows:
        level = 2 if started else 1 if (posted or reacted) else 0
        people.setdefault(person, []).append(level)
    members, creators, contributors, readers, active = counts
    for levels in people.values():
        if len(levels) < 2:
            continue
        members -= len(levels) - 1
        per = [levels.count(2), levels.count(1), levels.count(0)]
        top = max(levels)
        creators += (top == 2) - per[0]
        contributors += (top == 1) - per[1]
        readers += (top == 0) - per[2]
        active += (top > 0) - (per[0] + per[1])
    return members, creators, contributors, readers, active


def _pct(n: int, d: int) -> float | None:
    return round(100.0 * n / d, 1) if d else None


async def _questions(q: _Q) -> dict[str, Any]:
    plat = "AND qu.platform = :platform" if "platform" in q.params else ""
    base = (f"SELECT qu.*, ({q.e('qu.first_response_at')} - {q.e('qu.asked_at')}) AS wait FROM questions qu "
            f"WHERE qu.asked_at >= :start AND qu.asked_at < :end {plat} AND NOT EXISTS ("
            f"SELECT 1 FROM members b WHERE b.platform = qu.platform AND b.member_id = qu.author_id "
            f"AND b.is_bot = :t)")
    row = await q.one(f"SELECT COUNT(*), SUM(CASE WHEN first_response_at IS NOT NULL OR status IN "
                      f"('answered', 'resolved') THEN 1 ELSE 0 END) FROM ({base}) x")
    asked, answered = int(row[0] or 0), int(row[1] or 0)
    # percentiles by rank: portable across SQLite and PostgreSQL
    ranked = await q.all(f"""
        SELECT wait, ROW_NUMBER() OVER (ORDER BY wait) AS rn, COUNT(*) OVER () AS n
        FROM ({base}) x WHERE first_response_at IS NOT NULL""")
    waits = [float(r[0]) for r in ranked]

    def pct(p: float) -> float | None:
        if not waits:
            return None
        k = max(0, min(len(waits) - 1, int(round(p * (len(waits) - 1)))))
        return round(waits[k], 1)

    buckets = [("under 5 min", 300), ("5-30 min", 1800), ("30 min-2 h", 7200), ("2-24 h", 86400),
               ("over a day", None)]
    dist = []
    lo = 0.0
    for label, hi in buckets:
        n = sum(1 for w in waits if w >= lo and (hi is None or w < hi))
        dist.append({"bucket": label, "questions": n})
        lo = float(hi or 0)
    return {
        "questions": asked,
        "answered": answered,
        "unanswered": asked - answered,
        "answered_rate": round(answered / asked, 3) if asked else None,
        "median_time_to_first_response_s": pct(0.5),
        "p90_time_to_first_response_s": pct(0.9),
        "time_to_first_response": dist,
    }


async def _retention(q: _Q) -> list[dict[str, Any]]:
    """Newcomers by join month: of those who joined, how many posted again 30 / 90 days after."""
    month = ("to_char(h.joined_at AT TIME ZONE 'UTC', 'YYYY-MM')" if q.d == "postgresql"
             else "strftime('%Y-%m', h.joined_at)")
    j = q.e("h.joined_at")
    later = (f"EXISTS (SELECT 1 FROM ({q.msgs}) g WHERE g.platform = h.platform AND g.author_id = h.member_id "
             f"AND {q.e('g.posted_at')} >= {j} + {{days}} * {_DAY})")
    rows = await q.all(f"""
        SELECT {month} AS cohort, COUNT(*),
          SUM(CASE WHEN {j} + 30 * {_DAY} <= :end_e THEN 1 ELSE 0 END),
          SUM(CASE WHEN {j} + 30 * {_DAY} <= :end_e AND {later.format(days=30)} THEN 1 ELSE 0 END),
          SUM(CASE WHEN {j} + 90 * {_DAY} <= :end_e THEN 1 ELSE 0 END),
          SUM(CASE WHEN {j} + 90 * {_DAY} <= :end_e AND {later.format(days=90)} THEN 1 ELSE 0 END)
        FROM ({q.humans}) h
        WHERE h.joined_at IS NOT NULL AND h.joined_at >= :start
        GROUP BY {month} ORDER BY 1""")
    out = []
    for cohort, joined, e30, r30, e90, r90 in rows:
        e30, r30, e90, r90 = (int(x or 0) for x in (e30, r30, e90, r90))
        out.append({
            "cohort": cohort, "joined": int(joined),
            "eligible_30d": e30, "retained_30d": r30, "rate_30d": round(r30 / e30, 3) if e30 else None,
            "eligible_90d": e90, "retained_90d": r90, "rate_90d": round(r90 / e90, 3) if e90 else None,
        })
    return out


async def _weekly(q: _Q) -> list[dict[str, Any]]:
    week = f"CAST(({q.e('{col}')} - {_MONDAY}) / {_WEEK} AS INTEGER)"
    msg_rows = await q.all(f"""
        SELECT {week.format(col='g.posted_at')} AS wk, COUNT(*), COUNT(DISTINCT g.author_id)
        FROM ({q.msgs}) g GROUP BY 1""")
    join_rows = await q.all(f"""
        SELECT {week.format(col='h.joined_at')} AS wk, COUNT(*) FROM ({q.humans}) h
        WHERE h.joined_at IS NOT NULL AND h.joined_at >= :start GROUP BY 1""")
    weeks: dict[int, dict[str, Any]] = {}
    for wk, n, authors in msg_rows:
        weeks[int(wk)] = {"messages": int(n), "active_members": int(authors), "new_members": 0}
    for wk, n in join_rows:
        weeks.setdefault(int(wk), {"messages": 0, "active_members": 0, "new_members": 0})["new_members"] = int(n)
    out = []
    for wk in sorted(weeks):
        start = datetime.fromtimestamp(_MONDAY + wk * _WEEK, UTC).date().isoformat()
        out.append({"week": start, **weeks[wk]})
    return out


async def newcomers(store, *, platform: str, end: datetime, days: int = 30) -> list[dict[str, Any]]:
    """Members (not bots or staff) who joined in the ``days`` before ``end``, with how they began."""
    await store.flush()
    start = end - timedelta(days=days)
    q = _Q(store.database, platform, start, end, ())
    rows = await q.all(f"""
        SELECT h.member_id, {q.e('h.joined_at')},
          (SELECT MIN({q.e('g.posted_at')}) FROM ({q.msgs}) g
             WHERE g.platform = h.platform AND g.author_id = h.member_id),
          (SELECT COUNT(*) FROM ({q.msgs}) g WHERE g.platform = h.platform AND g.author_id = h.member_id),
          (SELECT COUNT(*) FROM outbox o WHERE o.platform = h.platform AND o.member_id = h.member_id)
        FROM ({q.humans}) h
        WHERE h.joined_at IS NOT NULL AND h.joined_at >= :start
        ORDER BY h.joined_at, h.member_id""")
    return [
        {"kind": "newcomer", "member": mid, "joined_at": _iso(j), "first_message_at": _iso(first),
         "messages": int(n), "status": "posted" if n else "silent", "direct_messages": int(dms)}
        for mid, j, first, n, dms in rows
    ]


async def member_engagement(store, *, platform: str | None = None, now: datetime | None = None,
                            include_opted_out: bool = False) -> list[dict[str, Any]]:
    """Per-member engagement for a CRM: first seen, last active, messages, replies given, questions
    asked and answered, level. Bots and forgotten members are never included; members who opted out
    are left out unless ``include_opted_out``."""
    await store.flush()
    now = _bound(now, datetime.now(UTC))
    q = _Q(store.database, platform, datetime(1970, 1, 2, tzinfo=UTC), now, ())
    optout = "" if include_opted_out else (
        "AND NOT EXISTS (SELECT 1 FROM member_preferences p WHERE p.platform = m.platform "
        "AND p.member_id = m.member_id AND p.opted_out = :t)")
    rows = await q.all(f"""
        SELECT m.platform, m.member_id, m.display_name, m.is_staff, {q.e('m.joined_at')},
               s.posted, s.replies, s.started, {q.e('s.first_at')}, {q.e('s.last_at')}, {q.e('r.last_at')}, r.reacted,
               qa.asked
        FROM members m
        LEFT JOIN (SELECT g.platform, g.author_id, COUNT(*) AS posted,
                     SUM(CASE WHEN {REPLIES} THEN 1 ELSE 0 END) AS replies,
                     SUM(CASE WHEN {STARTS} THEN 1 ELSE 0 END) AS started, MIN(g.posted_at) AS first_at, MAX(g.posted_at) AS last_at
                   FROM ({q.msgs}) g GROUP BY g.platform, g.author_id) s
          ON s.platform = m.platform AND s.author_id = m.member_id
        LEFT JOIN (SELECT platform, member_id, COUNT(*) AS reacted, MAX(at) AS last_at FROM reactions
                   WHERE removed = :f GROUP BY platform, member_id) r
          ON r.platform = m.platform AND r.member_id = m.member_id
        LEFT JOIN (SELECT platform, author_id, COUNT(*) AS asked FROM questions GROUP BY platform, author_id) qa
          ON qa.platform = m.platform AND qa.author_id = m.member_id
        WHERE m.is_bot = :f AND m.forgotten = :f {q.plat_m} {optout}
        ORDER BY m.platform, m.member_id""")
    answered: dict[tuple[str, str], int] = {}
    plat = "WHERE platform = :platform" if platform else ""
    for p, by in await q.all(f"SELECT platform, answered_by FROM questions {plat}"):
        if isinstance(by, str):
            by = json.loads(by)
        for mid in set(by or ()):
            answered[(p, mid)] = answered.get((p, mid), 0) + 1
    out = []
    recent = now.timestamp() - 30 * _DAY
    for (plat_, mid, name, staff, joined, posted, replies, started, first_msg, last_msg, last_react, reacted,
         asked) in rows:
        posted, replies, reacted = int(posted or 0), int(replies or 0), int(reacted or 0)
        first_seen = min([t for t in (joined, first_msg) if t is not None], default=None)
        last_active = max([t for t in (last_msg, last_react) if t is not None], default=None)
        if staff:
            level = "staff"
        elif joined is not None and joined >= recent:
            level = "newcomer"
        elif started:
            level = "creator"
        elif posted or reacted:
            level = "contributor"
        else:
            level = "reader"
        out.append({
            "platform": plat_, "member_id": mid, "display_name": name or "",
            "first_seen": _iso(first_seen), "last_active": _iso(last_active), "messages": posted,
            "replies_given": replies, "reactions_given": reacted, "questions_asked": int(asked or 0),
            "questions_answered": answered.get((plat_, mid), 0), "level": level,
        })
    return out


async def display_names(store, platform: str) -> dict[str, str]:
    """Member ID → display name for one platform (to put names beside IDs in reports)."""
    q = _Q(store.database, platform, datetime(1970, 1, 2, tzinfo=UTC), datetime.now(UTC), ())
    rows = await q.all("SELECT m.member_id, m.display_name FROM members m "
                       f"WHERE m.display_name IS NOT NULL {q.plat_m}")
    return {mid: name for mid, name in rows if name}
