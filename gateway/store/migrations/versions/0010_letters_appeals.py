"""letters and appeals: letters recorded as sent, and appeals against a restriction

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 22:30:00

A letter recorded as sent (its kind, date and method) starts the appeal window; an appeal is
lodged, given a hearer who took no part in the decision, and decided with reasons. Both
belong to one revision of a restriction and are deleted with it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

LETTER_KINDS = ("notification", "variation", "review_outcome", "lifting", "appeal_outcome")
METHODS = ("post", "email", "by_hand")
DECISIONS = ("upheld", "varied", "lifted")


def _enum(values: tuple[str, ...], name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=32)


def upgrade() -> None:
    op.create_table(
        "letters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("restriction_id", sa.Integer(), nullable=False),
        sa.Column("kind", _enum(LETTER_KINDS, "letterkind"), nullable=False),
        sa.Column("sent_on", sa.Date(), nullable=False),
        sa.Column("method", _enum(METHODS, "lettermethod"), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["restriction_id"], ["restrictions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["recorded_by_id"], ["staff_users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("letters", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_letters_restriction_id"), ["restriction_id"], unique=False
        )
    op.create_table(
        "appeals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("restriction_id", sa.Integer(), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("received_how", _enum(METHODS, "lettermethod"), nullable=False),
        sa.Column("lodged_by_id", sa.Integer(), nullable=True),
        sa.Column("lodged_at", sa.DateTime(), nullable=False),
        sa.Column("hearer_id", sa.Integer(), nullable=True),
        sa.Column("decision", _enum(DECISIONS, "appealdecision"), nullable=True),
        sa.Column("reasons", sa.Text(), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("overdue_alerted_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["restriction_id"], ["restrictions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["lodged_by_id"], ["staff_users.id"]),
        sa.ForeignKeyConstraint(["hearer_id"], ["staff_users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("appeals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_appeals_restriction_id"), ["restriction_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("appeals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_appeals_restriction_id"))
    op.drop_table("appeals")
    with op.batch_alter_table("letters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_letters_restriction_id"))
    op.drop_table("letters")
