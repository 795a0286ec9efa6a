"""audit entries have an end: entries older than two years may be deleted, never changed

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 22:30:00

The audit log stays evidence: no UPDATE ever, and no DELETE of an entry younger than two
years, whoever holds the database credentials. Older entries may be deleted, so that the
retention job can take them once `audit_retention_years` (six by default, at least two) has
passed. The floor is in the trigger, not the setting, so no setting can reach recent entries.
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

FLOOR = "2 years"
MESSAGE = "audit_entries is append-only: only entries older than two years may be deleted"


def upgrade() -> None:
    # PostgreSQL's column holds UTC without a time zone: compare with UTC now.
    _guard(
        postgresql=f"""
            IF TG_OP = 'DELETE'
               AND OLD.at < (now() AT TIME ZONE 'UTC') - interval '{FLOOR}' THEN
                RETURN OLD;
            END IF;
            RAISE EXCEPTION '{MESSAGE}';""",
        sqlite=f"WHEN old.at >= datetime('now', '-{FLOOR}') "
        f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
    )


def downgrade() -> None:
    _guard(
        postgresql="RAISE EXCEPTION 'audit_entries is append-only';",
        sqlite="BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only'); END",
    )


def _guard(*, postgresql: str, sqlite: str) -> None:
    """Replace what refuses a DELETE: PostgreSQL's trigger function (which refuses UPDATE
    too), or SQLite's delete trigger (its update trigger stays as it is)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION ccr_audit_is_append_only() RETURNS trigger AS $$\n"
            f"BEGIN\n{postgresql}\nEND;\n$$ LANGUAGE plpgsql"
        )
        return
    op.execute("DROP TRIGGER IF EXISTS audit_entries_no_delete")
    op.execute(f"CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries {sqlite}")
