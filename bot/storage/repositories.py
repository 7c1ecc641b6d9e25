"""``Store``: the one object the engine and the features hold, a facade over the per-aggregate
repositories of bot/storage/ (members, channels, messages, preferences, runs, outbox, audit).

Who writes which tables: these repositories write the tables the Store covers (a feature that
changes outbox rows, as held greetings do, asks the outbox repository); bot/storage/ also holds the
event inbox (inbox.py), leases and locks (locks.py) and the forget/export/prune code that reaches
every table (personal_data.py). A feature that owns tables writes them in one place of its own:
moderation's ``Cases`` (bot/moderation/cases.py), the question service (questions, helps and
members' last-active times: bot/community/questions/service.py), the ambassador list
(bot/community/ambassadors.py) and the delivery's rate slots (bot/delivery/slots.py). Everything
returns core records, never ORM rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.events import (
    Event,
    MemberJoined,
    MemberLeft,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    ReactionAdded,
    ReactionRemoved,
)
from bot.core.records import Channel, Member, MemberListPass, OutboundMessage, OutboxItem, Preferences
from bot.storage.attributes import MemberAttributes
from bot.storage.audit import Audit
from bot.storage.base import Db, outbox_payload
from bot.storage.belonging import Belonging
from bot.storage.buffer import Buffer
from bot.storage.channels import Channels
from bot.storage.members import Members
from bot.storage.messages import Messages
from bot.storage.outbox import Enqueue, OpenRow, OutboxRows
from bot.storage.people import People
from bot.storage.preferences import MemberPreferences
from bot.storage.runs import Runs


class Store:
    """Async store over one SQLAlchemy engine.

    Messages and reactions are the hot path: they are buffered and written behind in batches
    (bot/storage/messages.py). ``flush()`` writes everything buffered, the store's and every buffer
    registered with ``register_buffer`` (features that buffer rows of their own), and waits; any
    read that needs the rows comes after it. Everything with a consequence (runs, outbox,
    preferences, audit) commits at once.

    ``scratch=True``: the database is a scratch SQLite file this process alone uses, one thing at a
    time (the backtest's, prepared by ``bot.storage.scratch.prepare``): the repositories of
    bot/storage/scratch.py, which write the same rows with plain ``sqlite3``, are used instead.
    """

    def __init__(self, engine: AsyncEngine, *, batch_size: int = 500, retain_text: bool = True,
                 scratch: bool = False) -> None:
        self._db = Db(engine)
        self.database = engine
        self.is_postgres = self._db.is_postgres
        self.batch_lock = self._db.batch_lock
        self._buffers: list[Buffer] = []
        self._raw = None
        if scratch:
            from bot.storage import scratch as fast

            self._raw = raw = fast.Raw(self._db)
            self._messages: Messages = fast.ScratchMessages(self._db, raw, batch_size=batch_size,
                                                            retain_text=retain_text)
            self._members: Members = fast.ScratchMembers(self._db, raw)
            self._channels: Channels = fast.ScratchChannels(self._db, raw)
            self._preferences: MemberPreferences = fast.ScratchPreferences(self._db, raw)
            self._runs: Runs = fast.ScratchRuns(self._db, raw)
            self._outbox: OutboxRows = fast.ScratchOutbox(self._db, raw)
        else:
            self._messages = Messages(self._db, batch_size=batch_size, retain_text=retain_text)
            self._members = Members(self._db)
            self._channels = Channels(self._db)
            self._preferences = MemberPreferences(self._db)
            self._runs = Runs(self._db)
            self._outbox = OutboxRows(self._db)
        #: keep whom the reply model linked a message to ('' it starts a conversation; see
        #: ``MessageRow.linked_to``): set on its buffered row, written with it (``Messages.linked``)
        self.link_message = self._messages.linked
        self._audit = Audit(self._db)
        #: members' attributes from a CRM (steward crm import)
        self.attributes = MemberAttributes(self._db)
        #: members' activity for journeys, their interests and introductions (bot/storage/belonging.py)
        self.belonging = Belonging(self._db)
        #: one person's accounts across platforms (/steward link, a CRM row naming both)
        self.people = People(self._db)
        self.scratch = scratch

    @property
    def batch_size(self) -> int:
        return self._messages.buffer.batch_size

    @batch_size.setter
    def batch_size(self, n: int) -> None:
        self._messages.buffer.batch_size = n

    def single(self, *, write: bool = True):
        """A connection for ONE statement (see ``Db.single``)."""
        return self._db.single(write=write)

    async def insert_ignore(self, conn, table, rows: list[dict], keys) -> None:
        """Insert, skipping rows whose natural key exists (see ``Db.insert_ignore``)."""
        await self._db.insert_ignore(conn, table, rows, keys)

    # ----------------------------------------------------------------- buffers
    def register_buffer(self, buffer: Buffer) -> None:
        """Have ``flush()`` write ``buffer`` too (after the store's own rows, which it may refer to)."""
        if buffer not in self._buffers:
            self._buffers.append(buffer)

    async def flush(self) -> None:
        """Write every buffered row, the store's and the registered buffers', and wait until it is committed."""
        await self._messages.flush()
        for buffer in list(self._buffers):
            await buffer.flush()

    async def close(self) -> None:
        """Write what is buffered and let go of the database."""
        await self.flush()
        if self._raw is not None:
            self._raw.close()
        await self.database.dispose()

    # ----------------------------------------------------------------- events
    async def record(self, ev: Event) -> dict[str, Any]:
        """Store what an event tells us. Returns facts the engine needs (e.g. ``first_join``)."""
        if isinstance(ev, MessagePosted):
            await self._messages.posted(ev)
        elif isinstance(ev, ReactionAdded):
            await self._messages.reacted(ev)
        elif isinstance(ev, MemberJoined):
            return await self._members.joined(ev)
        elif isinstance(ev, MemberLeft):
            await self._members.left(ev)
        elif isinstance(ev, MessageEdited):
            await self._messages.edited(ev)
        elif isinstance(ev, MessageDeleted):
            await self._messages.deleted(ev)
        elif isinstance(ev, ReactionRemoved):
            await self._messages.unreacted(ev)
        return {}

    # ----------------------------------------------------------------- members and channels
    async def get_member(self, platform: str, member_id: str) -> Member | None:
        return await self._members.get(platform, member_id)

    async def upsert_member(self, m: Member, *, seen_at: datetime | None = None) -> None:
        await self._members.upsert(m, seen_at=seen_at)

    async def add_members_bulk(self, members: Iterable[Member], batch: int = 5000) -> int:
        return await self._members.add_bulk(members, batch)

    def forget_cached_member(self, platform: str, member_id: str) -> None:
        """Drop a member from the in-memory cache (after their row changed behind the store's back)."""
        self._members.forget_cached(platform, member_id)

    async def member_list_pass(self, platform: str, scope: str, *, now: datetime) -> MemberListPass:
        return await self._members.list_pass(platform, scope, now=now)

    async def member_list_page_done(self, platform: str, scope: str, cursor: str | None, members: int, *,
                                    completed_at: datetime | None = None) -> None:
        await self._members.list_page_done(platform, scope, cursor, members, completed_at=completed_at)

    async def member_list(self, platform: str, scope: str) -> MemberListPass | None:
        return await self._members.list_state(platform, scope)

    async def has_open_case(self, platform: str, member_id: str) -> bool:
        return await self._members.has_open_case(platform, member_id)

    async def upsert_channel(self, ch: Channel) -> None:
        await self._channels.upsert(ch)

    async def channels(self, platform: str) -> list[Channel]:
        return await self._channels.all(platform)

    async def message_texts(self, platform: str, keys: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """(channel_id, message_id) → kept text, for those of ``keys`` whose text is kept (flush first)."""
        return await self._messages.texts(platform, keys)

    async def channel_by_name(self, platform: str, name: str) -> Channel | None:
        return await self._channels.by_name(platform, name)

    # ----------------------------------------------------------------- preferences
    async def preferences(self, platform: str, member_id: str) -> Preferences:
        return await self._preferences.get(platform, member_id)

    async def set_preferences(self, platform: str, member_id: str, *, now: datetime,
                              opted_out: bool | None = None, locale: str | None = None) -> Preferences:
        return await self._preferences.set(platform, member_id, now=now, opted_out=opted_out, locale=locale)

    async def member_attributes(self, platform: str, member_id: str) -> dict[str, Any]:
        """What the CRM says about a member (``steward crm import``); {} when nothing."""
        return await self.attributes.get(platform, member_id)

    # ----------------------------------------------------------------- playbook runs
    async def claim_run(self, *, run_key: str, playbook_id: str, platform: str, subject: str,
                        period: str, now: datetime) -> bool:
        """Write the run's unique key; False when this (playbook, subject, period) already ran."""
        return await self._runs.claim(run_key=run_key, playbook_id=playbook_id, platform=platform,
                                      subject=subject, period=period, now=now)

    async def runs_since(self, playbook_id: str, platform: str, subject: str, since: datetime) -> int:
        return await self._runs.since(playbook_id, platform, subject, since)

    async def runs_in_window(self, playbook_id: str, since: datetime) -> int:
        return await self._runs.in_window(playbook_id, since)

    # ----------------------------------------------------------------- outbox
    async def enqueue(self, msg: OutboundMessage, *, playbook_id: str, action: str, reason: str,
                      status: str, not_before: datetime, now: datetime, automated: bool = False,
                      fallback: dict | None = None, outreach: bool = False, extra: dict | None = None) -> int | None:
        """Insert an outbox row. None when the dedupe key exists (it was already queued or sent).
        ``extra``: more for the row's payload (what a feature needs to change the row later)."""
        return await self._outbox.enqueue(Enqueue(msg, outbox_payload(msg, fallback, outreach, extra), {
            "playbook_id": playbook_id, "action": action, "reason": reason, "status": status,
            "not_before": not_before, "now": now, "automated": automated}))

    async def outbox_item(self, item_id: int) -> OutboxItem | None:
        return await self._outbox.item(item_id)

    async def outbox_by_key(self, key: str) -> OutboxItem | None:
        return await self._outbox.by_key(key)

    async def outbox(self, *, status: str | None = None, playbook_id: str | None = None) -> list[OutboxItem]:
        return await self._outbox.list(status=status, playbook_id=playbook_id)

    async def outbox_status_counts(self) -> dict[str, int]:
        return await self._outbox.status_counts()

    async def run_queued_anything(self, run_key: str) -> bool:
        """Whether a playbook run put any message in the outbox."""
        return await self._outbox.run_queued_anything(run_key)

    async def claim_due(self, *, now: datetime, limit: int, worker: str) -> list[OutboxItem]:
        """Claim due rows for sending; instances never claim the same row."""
        return await self._outbox.claim_due(now=now, limit=limit, worker=worker)

    async def claim_stale(self, *, now: datetime, lease_s: float, worker: str,
                          previous_prefix: str | None = None, limit: int = 100) -> list[OutboxItem]:
        return await self._outbox.claim_stale(now=now, lease_s=lease_s, worker=worker,
                                              previous_prefix=previous_prefix, limit=limit)

    async def touch_claim(self, item_id: int, now: datetime) -> None:
        await self._outbox.touch_claim(item_id, now)

    async def release_claim(self, item_id: int, now: datetime) -> None:
        await self._outbox.release(item_id, now)

    async def defer_outbox(self, item_id: int, *, not_before: datetime, error: str | None = None,
                           refund_attempt: bool = True) -> None:
        await self._outbox.defer(item_id, not_before=not_before, error=error, refund_attempt=refund_attempt)

    async def mark_outbox(self, item_id: int, *, status: str, now: datetime, error: str | None = None,
                          native_id: str | None = None, not_before: datetime | None = None,
                          unsure: bool | None = None) -> None:
        await self._outbox.mark(item_id, status=status, now=now, error=error, native_id=native_id,
                                not_before=not_before, unsure=unsure)

    async def move_outbox_status(self, platform: str, action: str, from_status: str, to_status: str,
                                 **values: Any) -> int:
        return await self._outbox.move_status(platform, action, from_status, to_status, **values)

    async def outbox_payloads(self, platform: str, action: str, status: str) -> list[dict[str, Any]]:
        return await self._outbox.payloads(platform, action, status)

    async def latest_outbox_row(self, platform: str, channel_id: str, playbook_id: str, action: str) -> OpenRow | None:
        return await self._outbox.latest(platform, channel_id, playbook_id, action)

    async def set_outbox_text(self, item_id: int, text: str) -> None:
        await self._outbox.set_text(item_id, text)

    async def swap_outbox_row(self, row: OpenRow, *, text: str, payload: dict[str, Any], status: str) -> bool:
        return await self._outbox.swap(row, text=text, payload=payload, status=status)

    async def automated_dms_since(self, platform: str, member_id: str, since: datetime,
                                  playbook_id: str | None = None) -> int:
        return await self._outbox.automated_dms_since(platform, member_id, since, playbook_id)

    async def outbox_count(self, platform: str, member_id: str, since: datetime, *, statuses: tuple[str, ...],
                           actions: tuple[str, ...] = (), kind: str | None = None, automated_only: bool = False,
                           before_id: int | None = None) -> int:
        return await self._outbox.count(platform, member_id, since, statuses=statuses, actions=actions, kind=kind,
                                        automated_only=automated_only, before_id=before_id)

    async def take_budget(self, item_id: int, *, now: datetime, budget: int,
                          window: timedelta = timedelta(hours=1)) -> datetime | None:
        return await self._outbox.take_budget(item_id, now=now, budget=budget, window=window)

    # ----------------------------------------------------------------- audit
    async def audit(self, *, at: datetime, actor: str, action: str, platform: str | None = None,
                    target: str | None = None, detail: dict | None = None) -> None:
        await self._audit.add(at=at, actor=actor, action=action, platform=platform, target=target, detail=detail)

    async def audit_log(self, limit: int = 100) -> list[dict[str, Any]]:
        return await self._audit.log(limit)

    # ----------------------------------------------------------------- counts
    async def count(self, table: str) -> int:
        from bot.storage.models import Base

        await self.flush()
        t = Base.metadata.tables[table]
        async with self.database.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(t))).scalar_one())
