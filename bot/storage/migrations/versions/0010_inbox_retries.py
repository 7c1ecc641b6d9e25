"""event inbox: an event whose handling failed for a transient reason stays and is tried again
later; one given up on is kept with the reason (steward failures)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 09:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('event_inbox', sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
    op.add_column('event_inbox', sa.Column('not_before', sa.DateTime(timezone=True), nullable=True))
    op.add_column('event_inbox', sa.Column('retry_playbooks', sa.Text(), nullable=True))
    op.add_column('event_inbox', sa.Column('error', sa.Text(), nullable=True))
    op.add_column('event_inbox', sa.Column('failed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('event_inbox') as batch:
        for name in ('failed_at', 'error', 'retry_playbooks', 'not_before', 'attempts'):
            batch.drop_column(name)
