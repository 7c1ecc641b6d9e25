"""messages.linked_to: the member the reply-link model linked the message to

'' = the message starts a conversation (no parent); the author's own id = it continues their own
line; another member's id = it replies to them; NULL = the model did not decide (bots). Health's
creators and replies, and belonging's "replied", read it instead of whether the message mentions
someone.

Backfill, once: rows stored before the model's decision was kept get what the rule before it said,
so an existing community's figures do not jump: '' where the message neither sits in a thread,
replies, nor mentions anyone (it started a conversation), '*' (linked to someone, not known whom)
for every other message of a member. Bots' rows stay NULL.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 08:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('messages', sa.Column('linked_to', sa.String(length=64), nullable=True))
    m = sa.table('messages', sa.column('linked_to', sa.String), sa.column('thread_id', sa.String),
                 sa.column('reply_to', sa.String), sa.column('mentions', sa.Text), sa.column('is_bot', sa.Boolean))
    started = sa.and_(m.c.thread_id.is_(None), m.c.reply_to.is_(None), m.c.mentions.is_(None))
    op.execute(m.update().where(m.c.is_bot.is_(sa.false()))
               .values(linked_to=sa.case((started, sa.literal('')), else_=sa.literal('*'))))


def downgrade() -> None:
    with op.batch_alter_table('messages') as batch:
        batch.drop_column('linked_to')
