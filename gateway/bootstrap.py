"""The one composition root: settings, database, register cache, routing policy and jobs.

The gateway, the worker, the web app and the command line all start here, so they wire
the same real adapters the same way.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from gateway.db import make_engine, make_session_factory, unit_of_work
from gateway.jobs import InProcessQueue, JobQueue, current_owner, make_job_queue
from gateway.register_cache import RegisterCache
from gateway.settings import Settings, load_settings
from routing.engine import Contact, Decision, RoutingPolicy, decide
from routing.identity import normalise_email
from routing.windows import england_and_wales_bank_holidays

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Everything a process needs, built once."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    register: RegisterCache
    policy: RoutingPolicy
    jobs: JobQueue = field(repr=False)
    secret: bytes = field(default=b"", repr=False)

    @contextmanager
    def uow(self) -> Iterator[Session]:
        """A unit of work: commit on success, roll back on error."""
        with unit_of_work(self.session_factory) as session:
            yield session

    def decide(self, contact: Contact) -> Decision:
        """Ask the routing core about one contact, against the current register."""
        return decide(contact, self.register.snapshot(), self.policy)

    @property
    def timezone(self) -> ZoneInfo:
        return self.policy.timezone

    def today(self, now: dt.datetime | None = None) -> dt.date:
        """The council's calendar date now (or at `now`)."""
        return (now or dt.datetime.now(dt.UTC)).astimezone(self.policy.timezone).date()

    def close(self) -> None:
        from gateway.delivery import close_transports  # delivery imports this module

        self.register.close()
        self.jobs.close()
        close_transports(self.settings.downstream)
        self.engine.dispose()


_current: Runtime | None = None


def bootstrap(settings: Settings | None = None) -> Runtime:
    """Build the runtime from settings (read from file and environment when not given)."""
    global _current
    settings = settings or load_settings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # aiosmtpd logs every connection's peer at INFO; that is noise, and personal data.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    engine = make_engine(settings.database_url)
    session_factory = make_session_factory(engine)
    _current = Runtime(
        settings=settings,
        engine=engine,
        session_factory=session_factory,
        register=RegisterCache(session_factory, settings.register_refresh_seconds),
        policy=routing_policy(settings),
        jobs=make_job_queue(settings.redis_url),
        secret=installation_secret(settings),
    )
    if isinstance(_current.jobs, InProcessQueue):
        _current.jobs.owner = _current
    return _current


def runtime() -> Runtime:
    """The runtime a job runs under: its in-process queue's owner, else the process's own
    (an rq worker builds one on first use)."""
    return current_owner.get() or _current or bootstrap()


def installation_secret(settings: Settings) -> bytes:
    """The key that signs our decision headers (and staff sessions).

    Production sets CCR_SECRET_KEY for every process; the embedded defaults keep a random
    key in var/secret_key so that `make run` needs no configuration.
    """
    if settings.secret_key:
        return settings.secret_key.encode()
    path = Path(settings.spool_dir).parent / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def routing_policy(settings: Settings) -> RoutingPolicy:
    """The installation-wide part of every routing decision."""
    exempt = (normalise_email(address).value for address in settings.exempt_mailboxes)
    return RoutingPolicy(
        records_mailbox=settings.records_mailbox,
        ig_mailbox=settings.ig_mailbox,
        installation_id=settings.installation_id,
        exempt_addresses=frozenset(a for a in exempt if a),
        timezone=ZoneInfo(settings.timezone),
        holidays=england_and_wales_bank_holidays() if settings.exclude_bank_holidays else None,
    )
