"""approvals by stage: a business case, the approver's declaration, imported provenance

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 22:30:00

A restriction may carry a business case (required for the stages the settings name) and
the approver's declaration of no prior involvement (kept where the stage asked for it).
Existing rows have neither: they were decided before the rules applied. An imported
restriction keeps where it came from (who ran the import, what the file said about the
decision) and whether the approver named on the import has confirmed it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("restrictions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("business_case", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("no_prior_involvement", sa.Boolean(), nullable=True))
    op.create_table(
        "imported_restrictions",
        sa.Column("restriction_id", sa.Integer(), nullable=False),
        sa.Column("imported_at", sa.DateTime(), nullable=False),
        sa.Column("imported_by", sa.String(length=64), nullable=False),
        sa.Column("source_file", sa.String(length=255), nullable=False),
        sa.Column("approved_by", sa.String(length=320), nullable=True),
        sa.Column("approved_on", sa.Date(), nullable=True),
        sa.Column("decided_by", sa.String(length=320), nullable=True),
        sa.Column("confirmer_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("settled_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["restriction_id"], ["restrictions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["confirmer_id"], ["staff_users.id"]),
        sa.PrimaryKeyConstraint("restriction_id"),
    )
    op.create_index(
        "ix_imported_restrictions_confirmer",
        "imported_restrictions",
        ["confirmer_id", "state"],
    )


def downgrade() -> None:
    op.drop_index("ix_imported_restrictions_confirmer", table_name="imported_restrictions")
    op.drop_table("imported_restrictions")
    with op.batch_alter_table("restrictions", schema=None) as batch_op:
        batch_op.drop_column("no_prior_involvement")
        batch_op.drop_column("business_case")
