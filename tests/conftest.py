"""Shared fixtures: a real migrated database (SQLite or PostgreSQL), the runtime, real Redis.

`make test` runs the suite twice: with SQLite, and with CCR_TEST_DATABASE_URL pointing at
the PostgreSQL server, where each run creates (and afterwards drops) a private database.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gateway.bootstrap import bootstrap
from gateway.runtime import Runtime
from gateway.services import accounts
from gateway.settings import Settings
from gateway.store.db import upgrade_database
from gateway.store.tables import metadata
from routing.enums import Role
from routing.lifecycle import Actor
from routing.models import utcnow

# Hypothesis checks what code does, never how fast: a deadline fails a property test on a
# busy machine (a CI run beside another job) although nothing is wrong.
hypothesis_settings.register_profile(
    "ccr", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile("ccr")

POSTGRES_ADMIN_URL = os.environ.get("CCR_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("CCR_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database for the whole run: a private PostgreSQL database or a SQLite file."""
    if POSTGRES_ADMIN_URL:
        yield from _private_postgres_database(POSTGRES_ADMIN_URL)
    else:
        path = tmp_path_factory.mktemp("db") / "template.db"
        upgrade_database(f"sqlite:///{path}")
        yield f"sqlite:///{path}"


def _private_postgres_database(admin_url: str) -> Iterator[str]:
    name = f"ccr_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade_database(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def database_url(database_template: str, tmp_path: Path) -> Iterator[str]:
    """A clean migrated database for one test."""
    if database_template.startswith("sqlite"):
        path = tmp_path / "ccr.db"
        shutil.copyfile(database_template.removeprefix("sqlite:///"), path)
        yield f"sqlite:///{path}"
    else:
        yield database_template
        _empty_postgres(database_template)


def _empty_postgres(url: str) -> None:
    # TRUNCATE does not fire the audit log's row triggers, so tests can start afresh.
    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        connection.execute(
            text(
                "INSERT INTO register_version (id, version, changed_at) "
                "VALUES (1, 0, CURRENT_TIMESTAMP)"
            )
        )
    engine.dispose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        # Port 0: every server a test starts gets a free port from the system and reports it.
        smtp_listen="127.0.0.1:0",
        web_listen="127.0.0.1:0",
        downstream=f"maildir:{tmp_path / 'mail'}",
        register_refresh_seconds=0.05,
        secret_key="test-secret-key",
    )


@pytest.fixture
def rt(settings: Settings) -> Iterator[Runtime]:
    runtime = bootstrap(settings)
    yield runtime
    runtime.close()


@pytest.fixture
def now() -> dt.datetime:
    return utcnow()


@pytest.fixture
def make_staff(rt: Runtime) -> Callable[[str, Role], Actor]:
    """Create a staff account and return the Actor that stands for it."""

    def make(email: str, role: Role) -> Actor:
        with rt.uow() as session:
            user = accounts.add_user(
                session,
                email=email,
                role=role,
                password="correct horse battery",
                actor="test",
                now=utcnow(),
            )
            return Actor(user.email, role, user.id)

    return make


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The machine's real Redis, on a database number of its own, flushed around each test."""
    from redis import Redis
    from redis.exceptions import ConnectionError as RedisConnectionError

    client = Redis.from_url(REDIS_URL)
    try:
        client.flushdb()
    except RedisConnectionError:
        pytest.fail(f"Redis is not answering at {REDIS_URL}: start it (see .ci/run)")
    yield REDIS_URL
    client.flushdb()
    client.close()
