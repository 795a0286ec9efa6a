"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text

from gateway.store.db import MIGRATIONS_DIR, upgrade_database
from gateway.store.tables import metadata


def test_migrated_database_matches_the_models(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    engine.dispose()
    assert differences == []


def downgrade_database(database_url: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = database_url
    command.downgrade(config, revision)


def test_0007_gives_existing_staff_accounts_generation_0_and_no_forced_change(
    database_url: str,
) -> None:
    """Accounts made before 0007 get defaults (a NOT NULL column added to rows needs one)."""
    engine = create_engine(database_url)
    downgrade_database(database_url, "0006")
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO staff_users (email, role, password_hash, active, failed_sign_ins,"
                    " created_at) VALUES ('old@council.example.org', 'agent', 'x', :on, 0, :at)"
                ),
                {"on": True, "at": dt.datetime(2026, 1, 5, 9, 0)},
            )
    finally:
        upgrade_database(database_url)
    with engine.connect() as connection:
        row = connection.execute(
            text("SELECT session_generation, must_change_password FROM staff_users")
        ).one()
    engine.dispose()
    assert (row.session_generation, bool(row.must_change_password)) == (0, False)
