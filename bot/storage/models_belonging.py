"""Tables of members' interests and introductions (imported by bot/storage/models.py, so one
metadata holds every table)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.models import Base


class MemberInterestRow(Base):
    """A member's interest in an admin-defined topic: ``chosen`` by them, ``terms`` (topic words in
    what they wrote, counted as they post), or the mark ``cleared`` (topic ``*``: they cleared theirs,
    nothing is inferred for them until they choose again)."""

    __tablename__ = "member_interests"
    __table_args__ = (UniqueConstraint("platform", "member_id", "topic", "source", name="uq_member_interests"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    member_id: Mapped[str] = mapped_column(String(64))
    topic: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))
    score: Mapped[float] = mapped_column(Float, default=0.0)
    updated_at: Mapped[datetime]


class IntroPrefRow(Base):
    """Whether a member takes part in introductions: on, paused (until ``paused_until``) or off."""

    __tablename__ = "intro_prefs"
    __table_args__ = (UniqueConstraint("platform", "member_id", name="uq_intro_prefs"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    member_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    paused_until: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class IntroRow(Base):
    """One introduction of two members (their rows are in ``intro_members``)."""

    __tablename__ = "intros"
    __table_args__ = (Index("ix_intros_followup", "platform", "followup_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    round_at: Mapped[datetime]
    topic: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    #: when to ask "did you meet?"; None once asked
    followup_at: Mapped[datetime | None]


class IntroMemberRow(Base):
    """A member of an introduction, and their answer to "did you meet?" (yes / no / None)."""

    __tablename__ = "intro_members"
    __table_args__ = (UniqueConstraint("intro_id", "member_id", name="uq_intro_members"),
                      Index("ix_intro_members_member", "platform", "member_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    intro_id: Mapped[int] = mapped_column(Integer)
    platform: Mapped[str] = mapped_column(String(16))
    member_id: Mapped[str] = mapped_column(String(64))
    #: yes | no | None (not answered)
    answer: Mapped[str | None] = mapped_column(String(8))
    answered_at: Mapped[datetime | None]
