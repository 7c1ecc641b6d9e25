"""Tables of the dashboard's sign-in: one-time links and sessions (imported by bot/storage/models.py,
so one metadata holds every table)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.models import Base


class DashboardLoginRow(Base):
    """A one-time dashboard link a manager asked for in chat (only its hash is kept)."""

    __tablename__ = "dashboard_logins"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    member_id: Mapped[str] = mapped_column(String(64))
    #: what the platform reported with the command (roles, admin), carried into the session
    roles: Mapped[list[str] | None] = mapped_column(JSON)
    platform_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class DashboardSessionRow(Base):
    """A dashboard session (the cookie holds the secret, the row only its hash), shared by every instance."""

    __tablename__ = "dashboard_sessions"
    __table_args__ = (Index("ix_dashboard_sessions_member", "platform", "member_id"),)

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    member_id: Mapped[str] = mapped_column(String(64))
    roles: Mapped[list[str] | None] = mapped_column(JSON)
    platform_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
