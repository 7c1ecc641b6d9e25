"""member lists: where a pass over a platform's member list is, so a restart continues it

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 08:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('member_lists',
    sa.Column('platform', sa.String(length=16), nullable=False),
    sa.Column('scope', sa.String(length=64), nullable=False),
    sa.Column('cursor', sa.String(length=500), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('members', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('platform', 'scope')
    )


def downgrade() -> None:
    op.drop_table('member_lists')
