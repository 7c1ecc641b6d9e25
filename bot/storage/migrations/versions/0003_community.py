"""community: who helped whom (answers to questions) and indexes the community scans need

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 10:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('helps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform', sa.String(length=16), nullable=False),
    sa.Column('helper_id', sa.String(length=64), nullable=False),
    sa.Column('member_id', sa.String(length=64), nullable=False),
    sa.Column('channel_id', sa.String(length=64), nullable=False),
    sa.Column('question_id', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('evidence', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_helps_time', 'helps', ['platform', 'at', 'helper_id', 'member_id'], unique=False)
    op.create_index('ix_helps_helper', 'helps', ['platform', 'helper_id', 'at'], unique=False)
    op.create_index('ix_helps_channel', 'helps', ['platform', 'channel_id', 'at'], unique=False)
    op.create_index('ix_members_activity', 'members', ['platform', 'last_active_at'], unique=False)
    op.create_index('ix_channel_members_member', 'channel_members', ['platform', 'member_id'], unique=False)
    op.create_index('ix_questions_open', 'questions', ['platform', 'status', 'tier', 'asked_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_questions_open', table_name='questions')
    op.drop_index('ix_channel_members_member', table_name='channel_members')
    op.drop_index('ix_members_activity', table_name='members')
    op.drop_index('ix_helps_channel', table_name='helps')
    op.drop_index('ix_helps_helper', table_name='helps')
    op.drop_index('ix_helps_time', table_name='helps')
    op.drop_table('helps')
