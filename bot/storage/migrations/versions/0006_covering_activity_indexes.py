"""ambassador score: ix_messages_author_time and ix_reactions_author cover the activity and reactor counts

ix_messages_author_time gains channel_id and ix_reactions_author gains at, member_id and removed, so
a member's days active, channels and distinct reactors over a window are read from the index alone.
Both keep their leading columns, so every query that used them still can.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 01:45:00
"""
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_messages_author_time', table_name='messages')
    op.create_index('ix_messages_author_time', 'messages', ['platform', 'author_id', 'posted_at', 'channel_id'],
                    unique=False)
    op.drop_index('ix_reactions_author', table_name='reactions')
    op.create_index('ix_reactions_author', 'reactions', ['platform', 'message_author_id', 'at', 'member_id', 'removed'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_reactions_author', table_name='reactions')
    op.create_index('ix_reactions_author', 'reactions', ['platform', 'message_author_id'], unique=False)
    op.drop_index('ix_messages_author_time', table_name='messages')
    op.create_index('ix_messages_author_time', 'messages', ['platform', 'author_id', 'posted_at'], unique=False)
