"""What every repository shares: the database handle (``Db``) and the conversions between rows and
core records."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.core.clock import as_utc
from bot.core.records import Button, Member, OutboundMessage, OutboxItem


class Db:
    """One SQLAlchemy engine and what the repositories over it share."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.is_postgres = engine.dialect.name == "postgresql"
        #: PostgreSQL: the same pool in autocommit, for operations that are one statement (a
        #: statement is its own transaction: no BEGIN and COMMIT round trips around it)
        self._auto = engine.execution_options(isolation_level="AUTOCOMMIT") if self.is_postgres else None
        #: batch writes (the store's and the features') take turns: on SQLite two writers at once
        #: would make one of them sleep in the busy handler
        self.batch_lock = asyncio.Lock()

    def single(self, *, write: bool = True):
        """A connection for ONE statement: autocommit on PostgreSQL; on SQLite a transaction for
        writes (reads need none). Never use it for two statements that must commit together."""
        if self._auto is not None:
            return self._auto.connect()
        return self.engine.begin() if write else self.engine.connect()

    def dialect_insert(self, table):
        """The dialect's INSERT (with ``on_conflict_do_nothing`` / ``on_conflict_do_update``)."""
        if self.is_postgres:
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        return insert(table)

    async def insert_ignore(self, conn: AsyncConnection, table, rows: list[dict], keys: Sequence[str]) -> None:
        """Insert, skipping rows whose natural key exists (a redelivered event is not a new one).
        Rows may name different columns (one batch can hold a question asked and one asked and
        resolved): a column a row leaves out gets the column's default, as a one-row insert would."""
        rows = _same_columns(table, rows)
        await conn.execute(self.dialect_insert(table).on_conflict_do_nothing(index_elements=list(keys)), rows)


def _same_columns(table, rows: list[dict]) -> list[dict]:
    """``rows`` with one set of keys (an executemany binds every row by the first row's keys)."""
    if len(rows) < 2:
        return rows
    first = rows[0].keys()
    if all(r.keys() == first for r in rows):
        return rows
    names: dict[str, None] = {}
    for r in rows:
        names.update(dict.fromkeys(r))
    fill = {}
    for name in names:
        d = table.c[name].default
        fill[name] = d.arg if d is not None and d.is_scalar else None
    return [r if r.keys() == names.keys() else {**fill, **r} for r in rows]


_SURROGATE = re.compile("[\ud800-\udfff]")


def storable_text(text: str | None) -> str | None:
    """Text both databases accept: lone surrogates (JSON can carry them) and NUL (PostgreSQL refuses
    it) would fail a whole batch of messages, so they become U+FFFD."""
    if not text:
        return text
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = _SURROGATE.sub("\ufffd", text)
    return text


def utc_or_none(dt: datetime | None) -> datetime | None:
    return as_utc(dt) if dt is not None else None


def sqlite_time(dt: datetime | None) -> str | None:
    """A datetime as SQLAlchemy writes it into SQLite (wall time, microseconds always)."""
    if dt is None:
        return None
    return (f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d} "
            f"{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}.{dt.microsecond:06d}")


def member_from_row(r: Any) -> Member:
    return Member(
        platform=r.platform,
        member_id=r.member_id,
        display_name=r.display_name or "",
        locale=r.locale,
        timezone=r.timezone,
        joined_at=utc_or_none(r.joined_at),
        is_bot=bool(r.is_bot),
        is_staff=bool(r.is_staff),
        roles=tuple(r.roles or ()),
        last_active_at=utc_or_none(r.last_active_at),
        left_at=utc_or_none(r.left_at),
    )


def outbox_from_row(r: Any) -> OutboxItem:
    payload = r.payload or {}
    msg = OutboundMessage(
        platform=r.platform,
        kind=r.kind,
        text=r.text or "",
        member_id=r.member_id,
        channel_id=r.channel_id,
        thread_id=r.thread_id,
        emoji=payload.get("emoji"),
        digest=_digest_from(payload.get("digest")),
        mention_ids=tuple(payload.get("mention_ids") or ()),
        dedupe_key=r.dedupe_key,
        buttons=tuple(Button(*b) for b in payload.get("buttons") or ()),
    )
    return OutboxItem(
        id=r.id,
        dedupe_key=r.dedupe_key,
        message=msg,
        status=r.status,
        playbook_id=r.playbook_id,
        action=r.action,
        reason=r.reason or "",
        not_before=as_utc(r.not_before),
        created_at=as_utc(r.created_at),
        attempts=r.attempts,
        error=r.error,
        sent_at=utc_or_none(r.sent_at),
        native_id=r.native_id,
        fallback=payload.get("fallback"),
        automated=bool(getattr(r, "automated", False)),
        outreach=bool(payload.get("outreach")),
        unsure=bool(getattr(r, "unsure", False)),
        meta=payload.get("meta"),
    )


def outbox_payload(msg: OutboundMessage, fallback: dict | None, outreach: bool,
                   extra: dict | None = None) -> dict[str, Any]:
    """What an outbox row keeps beside its columns (the same in every store)."""
    payload: dict[str, Any] = {"emoji": msg.emoji, "digest": _digest_to(msg.digest),
                               "mention_ids": list(msg.mention_ids), "fallback": fallback}
    if msg.buttons:
        payload["buttons"] = [[b.action, b.label, b.value, b.style] for b in msg.buttons]
    if outreach:
        payload["outreach"] = True
    if extra:
        payload.update(extra)
    return payload


def _digest_to(d) -> dict | None:
    if d is None:
        return None
    return {
        "title": d.title,
        "footer": d.footer,
        "items": [
            {"text": i.text, "buttons": [[b.action, b.label, b.value, b.style] for b in i.buttons]}
            for i in d.items
        ],
    }


def _digest_from(d: dict | None):
    from bot.core.records import Button, Digest, DigestItem

    if not d:
        return None
    return Digest(
        title=d["title"],
        footer=d.get("footer", ""),
        items=tuple(
            DigestItem(text=i["text"], buttons=tuple(Button(*b) for b in i.get("buttons", ())))
            for i in d["items"]
        ),
    )
