"""Tables of what a CRM says about members and which accounts are one person (bot/crm, bot/people)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.models import Base


class MemberAttributeRow(Base):
    """What a CRM says about a member (``steward crm import``): membership type, region, language,
    interests, their own start date ... as one JSON object per member account."""

    __tablename__ = "member_attributes"
    __table_args__ = (UniqueConstraint("platform", "member_id", name="uq_member_attributes"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    member_id: Mapped[str] = mapped_column(String(64))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: where they came from (``crm:<file name>``)
    source: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime]


class MemberLinkRow(Base):
    """One person's accounts on several platforms: every account of a person has the same
    ``person_id`` (linked by the member with ``/steward link``, or by a CRM row naming both)."""

    __tablename__ = "member_links"
    __table_args__ = (UniqueConstraint("platform", "member_id", name="uq_member_links_account"),
                      Index("ix_member_links_person", "person_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[str] = mapped_column(String(40))
    platform: Mapped[str] = mapped_column(String(16))
    member_id: Mapped[str] = mapped_column(String(64))
    linked_at: Mapped[datetime]
    #: how: "code" (the member, on both platforms) or "crm:<file>"
    linked_by: Mapped[str | None] = mapped_column(String(200))


class LinkCodeRow(Base):
    """A short-lived code from ``/steward link`` on one platform, to be entered on the other."""

    __tablename__ = "link_codes"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    member_id: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
