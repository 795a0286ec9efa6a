"""The one composition root: it builds the Runtime from settings and wires the real
adapters (database, register cache, routing policy, jobs, delivery transports, the schedule).

The gateway, the worker, the web app and the command line all start here, so they wire the
same real adapters the same way.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.engine import make_url

from gateway.calls.drop import poll_calls_drop
from gateway.jobs.queue import InProcessQueue, make_job_queue
from gateway.jobs.scheduler import PeriodicTask
from gateway.mail.delivery import sweep_due_deliveries
from gateway.mail.transports import close_transports
from gateway.runtime import Runtime, set_current
from gateway.services.maintenance import run_maintenance
from gateway.services.spoc_digest import run_spoc_digest
from gateway.services.volume import queue_evaluation
from gateway.settings import Settings, load_settings
from gateway.store.db import make_engine, make_session_factory
from gateway.store.register_cache import RegisterCache
from routing.engine import RoutingPolicy
from routing.identity import normalise_email
from routing.windows import england_and_wales_bank_holidays

log = logging.getLogger(__name__)

PRIVATE_FOLDER = 0o700
PRIVATE_FILE = 0o600
SQLITE_SIDES = ("-wal", "-shm", "-journal")


def bootstrap(settings: Settings | None = None) -> Runtime:
    """Build the runtime from settings (read from file and environment when not given)."""
    settings = settings or load_settings()
    keep_data_private(settings)
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # aiosmtpd logs every connection's peer at INFO; that is noise, and personal data.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    engine = make_engine(settings.database_url)
    session_factory = make_session_factory(engine)
    rt = Runtime(
        settings=settings,
        engine=engine,
        session_factory=session_factory,
        register=RegisterCache(session_factory, settings.register_refresh_seconds),
        policy=routing_policy(settings),
        jobs=make_job_queue(settings.redis_url),
        secret=installation_secret(settings),
    )
    rt.closers.append(lambda: close_transports(settings.downstream))
    rt.contacts_recorded = lambda event_ids: queue_evaluation(rt, event_ids)
    if isinstance(rt.jobs, InProcessQueue):
        rt.jobs.owner = rt
    set_current(rt)
    return rt


def default_tasks(rt: Runtime) -> dict[str, PeriodicTask]:
    """Register upkeep, the sweep that finds stored mail still to deliver, and (when
    CCR_CALLS_DROP is set) the call-log drop folder."""
    settings = rt.settings
    tasks = {
        "maintenance": PeriodicTask(run_maintenance, settings.maintenance_interval_seconds),
        "mail-sweep": PeriodicTask(sweep_due_deliveries, settings.delivery_sweep_seconds),
        # Hourly: the run at or after spoc_digest_hour sends the day's SPOC digests.
        "spoc-digest": PeriodicTask(run_spoc_digest, 3600),
    }
    if settings.calls_drop:
        tasks["calls-drop"] = PeriodicTask(poll_calls_drop, settings.calls_drop_poll_seconds)
    return tasks


def keep_data_private(settings: Settings) -> None:
    """The database, spool and Maildirs hold personal data: readable by the service's own
    user only. Folders it owns are made (or tightened to) 0700 and a SQLite database file
    0600; `ccr` itself runs with umask 077, so what it creates inside them is 0600."""
    for folder in _own_folders(settings):
        folder.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
        _close(folder, PRIVATE_FOLDER)
    key = _secret_key_file(settings)
    if key.exists():
        _close(key, PRIVATE_FILE)
    database = _sqlite_file(settings.database_url)
    if database is not None:
        # Only the folder we make: a database placed in a shared folder leaves it as it is.
        database.parent.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
        for path in (database, *(database.with_name(database.name + s) for s in SQLITE_SIDES)):
            if path.exists():
                _close(path, PRIVATE_FILE)


def _close(path: Path, mode: int) -> None:
    try:
        path.chmod(mode)
    except PermissionError:  # not ours to change (a shared mount): say so, and go on
        log.warning("cannot make %s private: it belongs to another user", path.name)


def _secret_key_file(settings: Settings) -> Path:
    return Path(settings.spool_dir).parent / "secret_key"


def _own_folders(settings: Settings) -> list[Path]:
    folders = [Path(settings.spool_dir)]
    if settings.downstream.startswith("maildir:"):
        folders.append(Path(settings.downstream.removeprefix("maildir:")))
    return folders


def _sqlite_file(database_url: str) -> Path | None:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def installation_secret(settings: Settings) -> bytes:
    """The key that signs our decision headers (and staff sessions).

    Production sets CCR_SECRET_KEY for every process; the embedded defaults keep a random
    key in var/secret_key so that `make run` needs no configuration.
    """
    if settings.secret_key:
        return settings.secret_key.encode()
    path = _secret_key_file(settings)
    path.parent.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
    if not path.exists():
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
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
