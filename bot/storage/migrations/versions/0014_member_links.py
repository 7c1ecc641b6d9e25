"""member_links, link_codes: one person's accounts on Slack and Discord

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 17:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'member_links',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('person_id', sa.String(length=40), nullable=False),
        sa.Column('platform', sa.String(length=16), nullable=False),
        sa.Column('member_id', sa.String(length=64), nullable=False),
        sa.Column('linked_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('linked_by', sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('platform', 'member_id', name='uq_member_links_account'),
    )
    op.create_index('ix_member_links_person', 'member_links', ['person_id'])
    op.create_table(
        'link_codes',
        sa.Column('code', sa.String(length=16), nullable=False),
        sa.Column('platform', sa.String(length=16), nullable=False),
        sa.Column('member_id', sa.String(length=64), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('code'),
    )


def downgrade() -> None:
    op.drop_table('link_codes')
    op.drop_index('ix_member_links_person', table_name='member_links')
    op.drop_table('member_links')
