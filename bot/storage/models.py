"""SQLAlchemy 2 typed models. Native platform IDs are kept as strings; times are UTC."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy import text as sql_text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map = {datetime: DateTime(timezone=True), dict[str, Any]: JSON, list[str]: JSON}


class MemberRow(Base):
    __tablename__ = "members"
    __table_args__ = (
        UniqueConstraint("platform", "member_id", name="uq_members_platform_member"),
        Index("ix_members_activity", "platform", "last_active_at"),
        # the lurker scan: members with a join date who went quiet, most recently active first ...
        Index("ix_members_lapsed", "platform", "last_active_at", sqlite_where=sql_text("joined_at IS NOT NULL"),
              postgresql_where=sql_text("joined_at IS NOT NULL")),
        # ... and members who never posted, newest first
        Index("ix_members_never", "platform", "joined_at", sqlite_where=sql_text("last_active_at IS NULL"),
              postgresql_where=sql_text("last_active_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    member_id: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str | None] = mapped_column(String(200))
    locale: Mapped[str | None] = mapped_column(String(16))
    timezone: Mapped[str | None] = mapped_column(String(64))
    joined_at: Mapped[datetime | None]
    first_joined_at: Mapped[datetime | None]
    left_at: Mapped[datetime | None]
    last_active_at: Mapped[datetime | None]
    is_bot: Mapped[bool] = mapped_column(Boolean, default=False)
    is_staff: Mapped[bool] = mapped_column(Boolean, default=False)
    roles: Mapped[list[str] | None] = mapped_column(JSON)
    join_count: Mapped[int] = mapped_column(Integer, default=0)
    forgotten: Mapped[bool] = mapped_column(Boolean, default=False)


class MemberListRow(Base):
    """Loading a platform's member list page by page (Discord guild members, Slack ``users.list``):
    where the current pass is, so that a restart continues it rather than starting again."""

    __tablename__ = "member_lists"

    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    #: what is listed: a Discord guild ID, a Slack team ID
    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: the platform's cursor for the next page (None: the first); cleared when the pass completes
    cursor: Mapped[str | None] = mapped_column(String(500))
    started_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
    #: members offered to the store in this pass so far
    members: Mapped[int] = mapped_column(Integer, default=0)


class ChannelRow(Base):
    __tablename__ = "channels"
    __table_args__ = (UniqueConstraint("platform", "channel_id", name="uq_channels_platform_channel"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    channel_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), default="text")
    topic: Mapped[str | None] = mapped_column(Text)


class ChannelMemberRow(Base):
    """Who is in which channel (joins as the platform reports them)."""

    __tablename__ = "channel_members"
    __table_args__ = (
        UniqueConstraint("platform", "channel_id", "member_id", name="uq_channel_members"),
        Index("ix_channel_members_member", "platform", "member_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    channel_id: Mapped[str] = mapped_column(String(64))
    member_id: Mapped[str] = mapped_column(String(64))
    joined_at: Mapped[datetime | None]
    left_at: Mapped[datetime | None]


class MessageRow(Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("platform", "channel_id", "message_id", name="uq_messages_native"),
        Index("ix_messages_author_time", "platform", "author_id", "posted_at"),
        Index("ix_messages_channel_time", "platform", "channel_id", "posted_at"),
        Index("ix_messages_thread", "platform", "thread_id"),
        Index("ix_messages_reply_to", "platform", "reply_to"),
        Index("ix_messages_posted_at", "posted_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    channel_id: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[str] = mapped_column(String(64))
    author_id: Mapped[str] = mapped_column(String(64))
    #: kept for the retention window only; metadata stays
    text: Mapped[str | None] = mapped_column(Text)
    posted_at: Mapped[datetime]
    thread_id: Mapped[str | None] = mapped_column(String(64))
    reply_to: Mapped[str | None] = mapped_column(String(64))
    #: space-separated member IDs mentioned
    mentions: Mapped[str | None] = mapped_column(Text)
    is_bot: Mapped[bool] = mapped_column(Boolean, default=False)
    is_question: Mapped[bool] = mapped_column(Boolean, default=False)
    kind: Mapped[str | None] = mapped_column(String(16))
    edited_at: Mapped[datetime | None]
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    #: the member the reply-link model linked it to: '' it starts a conversation, the author's own id
    #: it continues their line, '*' someone (rows from before the model's decision was kept, which
    #: mentioned someone or replied); NULL the model did not decide (bots)
    linked_to: Mapped[str | None] = mapped_column(String(64))


class ReactionRow(Base):
    __tablename__ = "reactions"
    __table_args__ = (
        # one row per member, message and emoji: a reaction delivered twice is one reaction
        Index("uq_reactions_native", "platform", "channel_id", "message_id", "member_id", "emoji", unique=True),
        Index("ix_reactions_message", "platform", "channel_id", "message_id"),
        Index("ix_reactions_member", "platform", "member_id"),
        Index("ix_reactions_author", "platform", "message_author_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    channel_id: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[str] = mapped_column(String(64))
    member_id: Mapped[str] = mapped_column(String(64))
    message_author_id: Mapped[str | None] = mapped_column(String(64))
    emoji: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime]
    removed: Mapped[bool] = mapped_column(Boolean, default=False)


class PlaybookRunRow(Base):
    """One row per (playbook, subject, period): written before anything is sent."""

    __tablename__ = "playbook_runs"
    __table_args__ = (
        UniqueConstraint("run_key", name="uq_playbook_runs_key"),
        Index("ix_playbook_runs_subject", "playbook_id", "platform", "subject", "created_at"),
        # a playbook's latest runs (the dashboard)
        Index("ix_playbook_runs_recent", "playbook_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_key: Mapped[str] = mapped_column(String(300))
    playbook_id: Mapped[str] = mapped_column(String(100))
    platform: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(200))
    period: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]


class OutboxRow(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("dedupe_key", name="uq_outbox_dedupe"),
        Index("ix_outbox_due", "status", "not_before"),
        Index("ix_outbox_member", "platform", "member_id", "kind", "created_at"),
        Index("ix_outbox_budget", "budget_at", sqlite_where=sql_text("budget_at IS NOT NULL"),
              postgresql_where=sql_text("budget_at IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(300))
    platform: Mapped[str] = mapped_column(String(16))
    playbook_id: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(50))
    kind: Mapped[str] = mapped_column(String(16))
    member_id: Mapped[str | None] = mapped_column(String(64))
    channel_id: Mapped[str | None] = mapped_column(String(64))
    thread_id: Mapped[str | None] = mapped_column(String(64))
    text: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)
    #: pending | sending | sent | failed | dry_run | skipped
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[datetime | None]
    native_id: Mapped[str | None] = mapped_column(String(64))
    #: True for automated outreach DMs (counted against the member's caps)
    automated: Mapped[bool] = mapped_column(Boolean, default=False)
    #: when this row took a place in the hourly budget of unsolicited DMs ([outreach] hourly_budget)
    budget_at: Mapped[datetime | None]
    #: the last attempt's outcome is unknown (5xx, timeout, connection lost after the request was
    #: written): the platform is asked whether the message exists before it is sent again
    unsure: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class PreferenceRow(Base):
    __tablename__ = "member_preferences"
    __table_args__ = (UniqueConstraint("platform", "member_id", name="uq_prefs_member"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    member_id: Mapped[str] = mapped_column(String(64))
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    opted_out_at: Mapped[datetime | None]
    locale: Mapped[str | None] = mapped_column(String(16))
    updated_at: Mapped[datetime | None]


class AuditRow(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime]
    platform: Mapped[str | None] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(100))
    target: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class QuestionRow(Base):
    """State of a detected question: answered / escalated / resolved."""

    __tablename__ = "questions"
    __table_args__ = (
        UniqueConstraint("platform", "channel_id", "message_id", name="uq_questions_native"),
        Index("ix_questions_status", "status", "asked_at"),
        Index("ix_questions_open", "platform", "status", "tier", "asked_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    channel_id: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[str] = mapped_column(String(64))
    author_id: Mapped[str] = mapped_column(String(64))
    asked_at: Mapped[datetime]
    #: open | answered | resolved
    status: Mapped[str] = mapped_column(String(16), default="open")
    answered_by: Mapped[list[str] | None] = mapped_column(JSON)
    first_response_at: Mapped[datetime | None]
    tier: Mapped[int] = mapped_column(Integer, default=0)
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    resolved_at: Mapped[datetime | None]
    #: why it was decided answered or not, in words ("answered by @x 2 min later (addressed @y)")
    reason: Mapped[str | None] = mapped_column(String(200))


class AmbassadorRow(Base):
    """Ambassador candidate state: kept so the list is stable and decisions stick."""

    __tablename__ = "ambassadors"
    __table_args__ = (UniqueConstraint("platform", "member_id", name="uq_ambassadors_member"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    member_id: Mapped[str] = mapped_column(String(64))
    score: Mapped[float] = mapped_column(Float, default=0.0)
    listed_since: Mapped[datetime | None]
    below_since: Mapped[datetime | None]
    #: None | approved | not_now
    decision: Mapped[str | None] = mapped_column(String(16))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None]
    snooze_until: Mapped[datetime | None]
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class ModerationCaseRow(Base):
    __tablename__ = "moderation_cases"
    __table_args__ = (
        Index("ix_cases_member", "platform", "member_id", "status"),
        UniqueConstraint("incident_key", name="uq_cases_incident"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    member_id: Mapped[str] = mapped_column(String(64))
    #: merges repeated hits on one incident into one case
    incident_key: Mapped[str] = mapped_column(String(300))
    rule: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text)
    reporter_id: Mapped[str | None] = mapped_column(String(64))
    channel_id: Mapped[str | None] = mapped_column(String(64))
    message_ids: Mapped[list[str] | None] = mapped_column(JSON)
    excerpt: Mapped[str | None] = mapped_column(Text)
    #: open | dismissed | warned | deleted | timed_out | removed | ban_suggested
    status: Mapped[str] = mapped_column(String(16), default="open")
    auto_action: Mapped[str | None] = mapped_column(String(50))
    hits: Mapped[int] = mapped_column(Integer, default=1)
    opened_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None]
    decision: Mapped[str | None] = mapped_column(String(32))


class LeaseRow(Base):
    """Named leases (leader election / per-job locks on SQLite; PostgreSQL uses advisory locks)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime]


class RateSlotRow(Base):
    """Send pacing shared by instances: per bucket, the time (epoch seconds, the database's clock)
    at which its next slot starts (GCRA's theoretical arrival time)."""

    __tablename__ = "rate_slots"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    tat: Mapped[float] = mapped_column(Float)


class HelpRow(Base):
    """One member answering another's question (inferred or explicit): what ambassador scores and
    "who answered similar questions before" are computed from."""

    __tablename__ = "helps"
    __table_args__ = (
        Index("ix_helps_time", "platform", "at", "helper_id", "member_id"),
        Index("ix_helps_helper", "platform", "helper_id", "at"),
        Index("ix_helps_channel", "platform", "channel_id", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    helper_id: Mapped[str] = mapped_column(String(64))
    #: the member who asked
    member_id: Mapped[str] = mapped_column(String(64))
    channel_id: Mapped[str] = mapped_column(String(64))
    #: the question's message ID
    question_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    evidence: Mapped[str | None] = mapped_column(String(64))


class EventInboxRow(Base):
    """An incoming platform event, written before it is acknowledged and deleted once processed:
    an instance that dies after answering leaves the row for any instance to process."""

    __tablename__ = "event_inbox"
    __table_args__ = (Index("ix_event_inbox_claim", "claimed_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    #: the platform's event ID (a redelivery is stored again: the run keys make it harmless)
    event_id: Mapped[str | None] = mapped_column(String(128))
    body: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_at: Mapped[datetime | None]
    #: failed attempts so far; a transient failure leaves the row for another try at ``not_before``
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    not_before: Mapped[datetime | None]
    #: the playbooks a retry runs (comma-separated; those that failed), None: the whole event
    retry_playbooks: Mapped[str | None] = mapped_column(Text)
    #: the last failure, and when the event was given up on (kept for managers: steward failures)
    error: Mapped[str | None] = mapped_column(Text)
    failed_at: Mapped[datetime | None]


# in Base.metadata too (migrations, forget, export, copy): the CRM attributes and the people's links,
# members' interests and introductions, the dashboard's links and sessions
import bot.storage.crm_models  # noqa: E402,F401
from bot.storage import models_belonging, models_dashboard  # noqa: E402,F401
