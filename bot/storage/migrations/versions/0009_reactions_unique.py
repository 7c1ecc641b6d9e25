"""reactions: one row per member, message and emoji (a reaction delivered twice was stored twice);
duplicates already stored are merged into the oldest row

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 08:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.text(
        "DELETE FROM reactions WHERE id NOT IN (SELECT min(id) FROM reactions "
        "GROUP BY platform, channel_id, message_id, member_id, emoji)"))
    op.create_index('uq_reactions_native', 'reactions',
                    ['platform', 'channel_id', 'message_id', 'member_id', 'emoji'], unique=True)


def downgrade() -> None:
    op.drop_index('uq_reactions_native', table_name='reactions')
