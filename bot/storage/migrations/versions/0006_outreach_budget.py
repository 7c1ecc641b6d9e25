"""outreach budget: when an outbox row took a place in the hourly budget of unsolicited DMs

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 08:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox') as batch:
        batch.add_column(sa.Column('budget_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index('ix_outbox_budget', 'outbox', ['budget_at'], unique=False,
                    sqlite_where=sa.text('budget_at IS NOT NULL'), postgresql_where=sa.text('budget_at IS NOT NULL'))


def downgrade() -> None:
    op.drop_index('ix_outbox_budget', table_name='outbox')
    with op.batch_alter_table('outbox') as batch:
        batch.drop_column('budget_at')
