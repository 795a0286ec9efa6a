"""flagged calls by time: the dashboard's and the call flags page's index

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 12:00:00

Flags carry no time of their own, so "today's call flags" joined every flag ever made to
today's contacts (bench/web.py: 40 ms of each dashboard at 230,000 flags). A flagged call is
one whose outcome, or in shadow mode whose would-be outcome, is "flag"; this partial index
holds just those contacts by time, so the page reads today's few hundred.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

FLAGGED = sa.text("outcome = 'flag' OR would_outcome = 'flag'")


def upgrade() -> None:
    op.create_index(
        "ix_contact_events_flagged_time",
        "contact_events",
        ["occurred_at"],
        unique=False,
        postgresql_where=FLAGGED,
        sqlite_where=FLAGGED,
    )


def downgrade() -> None:
    op.drop_index("ix_contact_events_flagged_time", table_name="contact_events")
