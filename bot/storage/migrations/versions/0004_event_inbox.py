"""event inbox: incoming events are stored before they are acknowledged, processed afterwards

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 21:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('event_inbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform', sa.String(length=16), nullable=False),
    sa.Column('event_id', sa.String(length=128), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claimed_by', sa.String(length=200), nullable=True),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_event_inbox_claim', 'event_inbox', ['claimed_at', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_event_inbox_claim', table_name='event_inbox')
    op.drop_table('event_inbox')
