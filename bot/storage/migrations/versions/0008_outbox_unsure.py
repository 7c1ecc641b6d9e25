"""outbox: a send whose outcome is unknown (5xx, timeout, connection lost) is marked, so the next
attempt asks the platform whether the message exists before sending it again

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 08:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox') as batch:
        batch.add_column(sa.Column('unsure', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('outbox') as batch:
        batch.drop_column('unsure')
