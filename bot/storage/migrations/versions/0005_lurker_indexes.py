"""lurker scan: partial indexes for quiet members with a join date and members who never posted

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 22:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_members_lapsed', 'members', ['platform', 'last_active_at'], unique=False,
                    sqlite_where=sa.text('joined_at IS NOT NULL'), postgresql_where=sa.text('joined_at IS NOT NULL'))
    op.create_index('ix_members_never', 'members', ['platform', 'joined_at'], unique=False,
                    sqlite_where=sa.text('last_active_at IS NULL'), postgresql_where=sa.text('last_active_at IS NULL'))


def downgrade() -> None:
    op.drop_index('ix_members_never', table_name='members')
    op.drop_index('ix_members_lapsed', table_name='members')
