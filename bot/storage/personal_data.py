"""A member's personal data across every table: erase it (forget), gather it (export), and prune
message text after the retention window.

Forgetting keeps anonymous counts: rows that make up statistics (messages, reactions, runs, cases)
stay, but their text is erased and the member's ID in them becomes a random pseudonym that nothing
maps back. Two rows keep the real ID, on purpose, holding nothing personal: the ``members`` row as a
tombstone (``forgotten``, every profile field empty, so a rejoin is not a stranger's first join)
and the opt-out preference (so Steward never writes to someone who asked it not to).

Tables that later features add are covered by column name: any column called like a member column
is pseudonymized, any text column in ``ERASE`` is emptied. A feature with other needs adds to
``RULES``.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, String, Table, Text, and_, cast, delete, or_, select, update

from bot.storage.models import Base
from bot.storage.repositories import Store

#: columns that hold a member ID
MEMBER_COLUMNS = ("member_id", "author_id", "reporter_id", "message_author_id", "resolved_by", "decided_by",
                  "actor", "helper_id", "user_id", "moderator_id", "target_id")
#: columns that hold free text about or by a member: emptied on forget
ERASE = {
    "members": ("display_name", "locale", "timezone", "roles", "last_active_at"),
    "member_preferences": ("locale",),
    "messages": ("text",),
    "outbox": ("text", "payload"),
    "moderation_cases": ("excerpt", "reason"),
    "audit_log": ("detail",),
}
#: columns whose text may mention a member ID among other words
CONTAINS = {
    "messages": ("mentions", "text", "linked_to"),
    "playbook_runs": ("subject", "run_key"),
    "outbox": ("dedupe_key",),
    "audit_log": ("target",),
}
#: JSON lists of member IDs
LISTS = {"questions": ("answered_by",)}
#: rows that exist only because of the member and mean nothing without them (scores, their dashboard
#: links and sessions, what a CRM said about them, their links to their other accounts, their interests
#: and their part in introductions)
DELETE = ("ambassadors", "dashboard_logins", "dashboard_sessions", "member_attributes", "member_links",
          "link_codes", "member_interests", "intro_prefs", "intro_members")
#: rows that keep the real ID (see the module docstring)
KEEP_ID = ("members", "member_preferences")


@dataclass
class Rules:
    member_columns: tuple[str, ...] = MEMBER_COLUMNS
    erase: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(ERASE))
    contains: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(CONTAINS))
    lists: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(LISTS))
    delete: tuple[str, ...] = DELETE
    keep_id: tuple[str, ...] = KEEP_ID


RULES = Rules()


def _token_re(member_id: str) -> re.Pattern:
    return re.compile(r"(?<![A-Za-z0-9_])" + re.escape(member_id) + r"(?![A-Za-z0-9_])")


def _member_match(t: Table, platform: str, member_id: str, cols: tuple[str, ...]):
    present = [t.c[c] for c in cols if c in t.c]
    if not present:
        return None
    cond = or_(*(c == member_id for c in present))
    if "platform" in t.c:
        cond = and_(or_(t.c.platform == platform, t.c.platform.is_(None)), cond)
    return cond


@dataclass
class ForgetReport:
    pseudonym: str
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.rows.values())


async def forget(store: Store, platform: str, member_id: str, *, rules: Rules = RULES) -> ForgetReport:
    """Erase one member's personal data in one transaction (all or nothing)."""
    await store.flush()
    pseudo = f"anon-{uuid.uuid4().hex[:12]}"
    token = _token_re(member_id)
    rep = ForgetReport(pseudo)
    tables = Base.metadata.sorted_tables
    async with store.database.begin() as conn:
        # their name, read before the profile is erased, so copies of it elsewhere can go too
        members = Base.metadata.tables["members"]
        display_name = (await conn.execute(select(members.c.display_name).where(
            members.c.platform == platform, members.c.member_id == member_id))).scalar()
        for t in tables:
            name = t.name
            n = 0
            own = _member_match(t, platform, member_id, rules.member_columns)
            if name in rules.delete:
                # only the member's own rows: a manager's decision on someone else's stays theirs
                subject = _member_match(t, platform, member_id, ("member_id",))
                if subject is not None:
                    n += (await conn.execute(delete(t).where(subject))).rowcount or 0
                rep.rows[name] = n
                continue
            if own is not None:
                values: dict[str, Any] = {c: None for c in rules.erase.get(name, ()) if c in t.c}
                if name == "members":
                    values["forgotten"] = True
                if name == "outbox":
                    # anything still queued for them is never sent
                    await conn.execute(update(t).where(own, t.c.status.in_(("pending", "sending")))
                                       .values(status="skipped", error="member forgotten"))
                if name not in rules.keep_id:
                    for c in rules.member_columns:
                        if c in t.c:
                            await conn.execute(update(t).where(own, t.c[c] == member_id).values({c: pseudo}))
                    own = _member_match(t, platform, pseudo, rules.member_columns)
                if values and own is not None:
                    n += (await conn.execute(update(t).where(own).values(**values))).rowcount or 0
            # mentions of the member inside other rows
            for col in rules.contains.get(name, ()):
                if col not in t.c:
                    continue
                pk = list(t.primary_key.columns)[0]
                rows = (await conn.execute(select(pk, t.c[col]).where(t.c[col].like(f"%{member_id}%")))).all()
                for r in rows:
                    new = token.sub(pseudo, r[1])
                    if new != r[1]:
                        await conn.execute(update(t).where(pk == r[0]).values({col: new}))
                        n += 1
            for col in rules.lists.get(name, ()):
                if col not in t.c:
                    continue
                pk = list(t.primary_key.columns)[0]
                for r in (await conn.execute(select(pk, t.c[col]).where(t.c[col].is_not(None)))).all():
                    if member_id in (r[1] or []):
                        new = [pseudo if x == member_id else x for x in r[1]]
                        await conn.execute(update(t).where(pk == r[0]).values({col: new}))
                        n += 1
            if name == "member_preferences" and own is not None:
                # nothing but an opt-out is worth keeping
                n += (await conn.execute(delete(t).where(own, t.c.opted_out.is_not(True)))).rowcount or 0
            if name == "audit_log":
                n += (await conn.execute(update(t).where(t.c.target.like(f"%{pseudo}%")).values(detail=None))
                      ).rowcount or 0
            if name == "outbox":
                # messages about them elsewhere (a greeting that @-mentioned them): text erased
                about = or_(t.c.text.like(f"%{member_id}%"), cast(t.c.payload, Text).like(f"%{member_id}%"))
                n += (await conn.execute(update(t).where(about).values(text=None, payload=None))).rowcount or 0
            rep.rows[name] = n
        # then every other text and JSON column of every table (keys such as a case's incident_key,
        # raw events waiting in the inbox, copies of their name in Steward's own posts): the ID and
        # the display name become the pseudonym wherever they still stand as words
        for t in tables:
            if t.name in rules.keep_id:
                continue
            rep.rows[t.name] = rep.rows.get(t.name, 0) + await _scrub(conn, t, member_id, display_name, pseudo)
    store.forget_cached_member(platform, member_id)
    return rep


_TEXT_TYPES = (String, Text, JSON)


def _replace_all(value: Any, subs: list[tuple[re.Pattern, str]]) -> Any:
    if isinstance(value, str):
        for pattern, repl in subs:
            value = pattern.sub(repl, value)
        return value
    if isinstance(value, list):
        return [_replace_all(v, subs) for v in value]
    if isinstance(value, dict):
        return {_replace_all(k, subs): _replace_all(v, subs) for k, v in value.items()}
    return value


async def _scrub(conn: Any, t: Table, member_id: str, name: str | None, pseudo: str) -> int:
    """Replace the member's ID and name in every text column of ``t``; pending inbox events that
    mention them are dropped (processing one later would write them back)."""
    needles = [member_id] + ([name] if name and len(name) >= 3 else [])
    subs = [(_token_re(x), pseudo) for x in needles]
    cols = [c for c in t.c if isinstance(c.type, _TEXT_TYPES) and c.name != "platform"]
    pk = list(t.primary_key.columns)
    if not cols or not pk:
        return 0
    n = 0
    for col in cols:
        as_text = cast(col, Text) if isinstance(col.type, JSON) else col
        hit = or_(*(as_text.contains(x, autoescape=True) for x in needles))
        rows = (await conn.execute(select(*pk, col).where(hit))).all()
        for r in rows:
            key = and_(*(c == r[i] for i, c in enumerate(pk)))
            if t.name == "event_inbox":
                n += (await conn.execute(delete(t).where(key))).rowcount or 0
                continue
            new = _replace_all(r[-1], subs)
            if new != r[-1]:
                await conn.execute(update(t).where(key).values({col.name: new}))
                n += 1
    return n


def _jsonable(v: Any) -> Any:
    if isinstance(v, datetime | date):
        return v.isoformat()
    return v


async def export(store: Store, platform: str, member_id: str, *, rules: Rules = RULES) -> dict[str, Any]:
    """Everything stored about one member, as JSON-ready data, one list of rows per table."""
    await store.flush()
    out: dict[str, Any] = {"platform": platform, "member_id": member_id, "tables": {}}
    async with store.database.connect() as conn:
        for t in Base.metadata.sorted_tables:
            conds = []
            own = _member_match(t, platform, member_id, rules.member_columns)
            if own is not None:
                conds.append(own)
            # other people's message text that mentions them is theirs, not this member's
            contains = [c for c in rules.contains.get(t.name, ()) if c in t.c and c != "text"]
            for col in contains:
                conds.append(t.c[col].like(f"%{member_id}%"))
            if not conds:
                continue
            rows = (await conn.execute(select(t).where(or_(*conds)))).mappings().all()
            token = _token_re(member_id)
            picked = []
            for r in rows:
                row = {k: _jsonable(v) for k, v in r.items()}
                if own is None or not any(r.get(c) == member_id for c in rules.member_columns):
                    # a LIKE hit: keep it only when the ID stands as a whole word, and without the
                    # free text, which is someone else's (a message that mentions them)
                    if not any(isinstance(r.get(c), str) and token.search(r.get(c)) for c in contains):
                        continue
                    for c in rules.erase.get(t.name, ()):
                        row.pop(c, None)
                picked.append(row)
            for col in rules.lists.get(t.name, ()):
                if col in t.c and isinstance(t.c[col].type, JSON):
                    extra = (await conn.execute(select(t).where(t.c[col].is_not(None)))).mappings().all()
                    seen = {p.get("id") for p in picked}
                    picked += [{k: _jsonable(v) for k, v in r.items()} for r in extra
                               if member_id in (r[col] or []) and r.get("id") not in seen]
            if picked:
                out["tables"][t.name] = picked
    return out


async def prune_text(store: Store, before: datetime) -> dict[str, int]:
    """Erase message text (and the text of finished outbox rows) older than ``before``."""
    from bot.storage.messages import MSG
    from bot.storage.outbox import OB

    await store.flush()
    async with store.database.begin() as conn:
        m = await conn.execute(update(MSG).where(MSG.c.posted_at < before, MSG.c.text.is_not(None)).values(text=None))
        o = await conn.execute(
            update(OB).where(OB.c.created_at < before, OB.c.text.is_not(None),
                             OB.c.status.in_(("sent", "failed", "skipped", "dry_run")))
            .values(text=None)
        )
    return {"messages": m.rowcount or 0, "outbox": o.rowcount or 0}
