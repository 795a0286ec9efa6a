"""staff sessions that can be ended: a session generation, and a forced password change

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 12:00:00

Staff sessions are signed cookies, so signing out could not stop a copied cookie. Each
session now carries the generation of its account at sign-in, and the account's
session_generation moves on at sign-out, a password change or reset, a role change and
deactivation, which ends every session begun before. must_change_password is set by an
admin's reset: the temporary password then opens only the change-password page. Existing
rows get generation 0 and no forced change (server defaults), so no account is disturbed
beyond a cookie from before this release being asked to sign in again.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("session_generation", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "must_change_password", sa.Boolean(), server_default=sa.false(), nullable=False
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.drop_column("must_change_password")
        batch_op.drop_column("session_generation")
