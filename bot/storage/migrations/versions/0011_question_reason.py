"""questions: why each was decided answered or not, in words (the reply model's reason)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 13:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('questions', sa.Column('reason', sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('questions') as batch:
        batch.drop_column('reason')
