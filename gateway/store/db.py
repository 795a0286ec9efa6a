"""Database engine, sessions and the unit of work: commit once on success, roll back on error."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def make_engine(database_url: str) -> Engine:
    """An engine for the URL; SQLite gets WAL, foreign keys and a busy timeout."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    # hide_parameters: a failing statement's values (addresses, numbers) stay out of logs.
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        hide_parameters=True,
        connect_args={"connect_timeout": 10},
    )


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the gateway, the web app and jobs read while one of them writes.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # FULL: a 250 to DATA promises the message survives a power cut, not only a crash.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (they are read after the work)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def unit_of_work(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: committed if the block finishes, rolled back if it raises."""
    session = session_factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def ping_database(session_factory: sessionmaker[Session]) -> None:
    """Ask the database a trivial question in a session of its own; raises if it cannot
    answer (the health check's probe)."""
    with session_factory() as session:
        session.execute(text("SELECT 1"))


def upgrade_database(database_url: str, revision: str = "head") -> None:
    """Apply the Alembic migrations shipped inside the package."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = database_url
    command.upgrade(config, revision)


def stamp_audit_source(target: Session | sessionmaker[Session], source: str) -> None:
    """Give every audit entry flushed through `target` (one session, or every session a
    factory makes) this source when it has none: "web <address>", "cli:<os user>"."""
    from routing.models import AuditEntry

    def stamp(session: Session, _context: Any, _instances: Any) -> None:
        for item in session.new:
            if isinstance(item, AuditEntry) and item.source is None:
                item.source = source

    event.listen(target, "before_flush", stamp)
