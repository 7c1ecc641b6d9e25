"""dashboard: one-time login links and sessions, in the database so every instance shares them; a
playbook's latest runs by index

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 16:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'dashboard_logins',
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('platform', sa.String(length=16), nullable=False),
        sa.Column('member_id', sa.String(length=64), nullable=False),
        sa.Column('roles', sa.JSON(), nullable=True),
        sa.Column('platform_admin', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('token_hash'),
    )
    op.create_table(
        'dashboard_sessions',
        sa.Column('id_hash', sa.String(length=64), nullable=False),
        sa.Column('platform', sa.String(length=16), nullable=False),
        sa.Column('member_id', sa.String(length=64), nullable=False),
        sa.Column('roles', sa.JSON(), nullable=True),
        sa.Column('platform_admin', sa.Boolean(), nullable=False),
        sa.Column('csrf', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id_hash'),
    )
    op.create_index('ix_dashboard_sessions_member', 'dashboard_sessions', ['platform', 'member_id'])
    op.create_index('ix_playbook_runs_recent', 'playbook_runs', ['playbook_id', 'created_at'])


def downgrade() -> None:
    op.drop_index('ix_playbook_runs_recent', table_name='playbook_runs')
    op.drop_index('ix_dashboard_sessions_member', table_name='dashboard_sessions')
    op.drop_table('dashboard_sessions')
    op.drop_table('dashboard_logins')
