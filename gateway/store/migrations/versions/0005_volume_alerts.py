"""contact volume alerts: whom an alert is about, at most one live alert per person and rule

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

LIVE = sa.text("status IN ('open', 'acknowledged')")


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("person_key", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("value", sa.Integer(), nullable=True))
        batch_op.create_index("ix_alerts_person_key", ["person_key"], unique=False)
        batch_op.create_index(
            "uq_alerts_live_person_rule",
            ["person_key", "rule"],
            unique=True,
            postgresql_where=LIVE,
            sqlite_where=LIVE,
        )


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("uq_alerts_live_person_rule")
        batch_op.drop_index("ix_alerts_person_key")
        batch_op.drop_column("value")
        batch_op.drop_column("person_key")
