"""retention for everyone: a retention category that keeps a case beyond the usual period

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 18:00:00

A restriction may carry a retention category (a repeated history, a pre-policy case): it is
then not purged when its retention period ends, and nor are the person's contacts and
identities. Existing rows have none.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("restrictions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retention_category", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("restrictions", schema=None) as batch_op:
        batch_op.drop_column("retention_category")
