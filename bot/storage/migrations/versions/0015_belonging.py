"""member_interests, intro_prefs, intros, intro_members: members' interests and introductions

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 17:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'member_interests',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('platform', sa.String(length=16), nullable=False),
        sa.Column('member_id', sa.String(length=64), nullable=False),
        sa.Column('topic', sa.String(length=64), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('score', sa.Float(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('platform', 'member_id', 'topic', 'source', name='uq_member_interests'),
    )
    op.create_table(
        'intro_prefs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('platform', sa.String(length=16), nullable=False),
        sa.Column('member_id', sa.String(length=64), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('paused_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('platform', 'member_id', name='uq_intro_prefs'),
    )
    op.create_table(
        'intros',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('platform', sa.String(length=16), nullable=False),
        sa.Column('round_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('topic', sa.String(length=64), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('followup_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_intros_followup', 'intros', ['platform', 'followup_at'])
    op.create_table(
        'intro_members',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('intro_id', sa.Integer(), nullable=False),
        sa.Column('platform', sa.String(length=16), nullable=False),
        sa.Column('member_id', sa.String(length=64), nullable=False),
        sa.Column('answer', sa.String(length=8), nullable=True),
        sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('intro_id', 'member_id', name='uq_intro_members'),
    )
    op.create_index('ix_intro_members_member', 'intro_members', ['platform', 'member_id'])


def downgrade() -> None:
    op.drop_index('ix_intro_members_member', table_name='intro_members')
    op.drop_table('intro_members')
    op.drop_index('ix_intros_followup', table_name='intros')
    op.drop_table('intros')
    op.drop_table('intro_prefs')
    op.drop_table('member_interests')
