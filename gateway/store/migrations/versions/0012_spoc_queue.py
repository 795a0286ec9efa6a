"""the SPOC's queue: one item per redirected, copied, filed or refused message

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 22:30:00

Each item keeps its own copy of the message (the mail records go once delivery is done)
for the queue's retention period, spoc_item_days, and the outcome a person records.
A restriction's response_timetable (none, weekly, fortnightly, monthly) sets when a digest
of its due items goes to the SPOC mailbox; existing restrictions get none.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "spoc_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("queue_id", sa.String(length=40), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("restriction_ref", sa.String(length=32), nullable=False),
        sa.Column("spoc_email", sa.String(length=320), nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("sender", sa.String(length=320), nullable=False),
        sa.Column("addressed_to", sa.JSON(), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("message", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("read_at", sa.DateTime(), nullable=True),
        sa.Column("read_by", sa.String(length=320), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("service", sa.String(length=200), nullable=True),
        sa.Column("reply_due_on", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("outcome_at", sa.DateTime(), nullable=True),
        sa.Column("outcome_by", sa.String(length=320), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("spoc_items", schema=None) as batch_op:
        batch_op.create_index("ix_spoc_items_open", ["outcome", "due_on"], unique=False)
        batch_op.create_index("ix_spoc_items_queue_id", ["queue_id"], unique=False)
        batch_op.create_index("ix_spoc_items_received_at", ["received_at"], unique=False)
        batch_op.create_index("ix_spoc_items_customer_id", ["customer_id"], unique=False)
        batch_op.create_index("ix_spoc_items_restriction_ref", ["restriction_ref"], unique=False)
        batch_op.create_index("ix_spoc_items_spoc_email", ["spoc_email"], unique=False)

    with op.batch_alter_table("restrictions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "response_timetable", sa.String(length=32), server_default="none", nullable=False
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("restrictions", schema=None) as batch_op:
        batch_op.drop_column("response_timetable")
    op.drop_table("spoc_items")
