"""Keeps each process's in-memory register snapshot fresh.

A decision reads the snapshot; at most every `refresh_seconds` one cheap query compares
the register version, and only a changed register is reloaded. So a change made in any
process takes effect everywhere within a few seconds, and decisions never wait on SQL.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from gateway.store import repository
from routing.enums import IdentityKind
from routing.models import Restriction
from routing.snapshot import IdentityKey, RegisterSnapshot, RestrictionTerms
from routing.windows import WindowSchedule

log = logging.getLogger(__name__)


class RegisterCache:
    """The current RegisterSnapshot, kept fresh by a background thread.

    The first snapshot is loaded on the caller's thread; after that a thread checks the
    register version every `refresh_seconds` and swaps in a new snapshot when it moved, so
    a decision never waits for SQL and even a process that was quiet for an hour decides
    its next contact on the current register. If the database cannot be read, decisions go
    on with the last register known; `age_seconds` says how stale it is.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        refresh_seconds: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session_factory = session_factory
        self._refresh_seconds = refresh_seconds
        self._clock = clock
        self._snapshot: RegisterSnapshot | None = None
        self._checked_at = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def snapshot(self) -> RegisterSnapshot:
        """The snapshot to decide with (loaded now only the first time)."""
        current = self._snapshot
        if current is None:
            current = self.invalidate()
            self._start()
        return current

    def invalidate(self) -> RegisterSnapshot:
        """Check and reload now, on this thread (after a change made by this process)."""
        with self._lock:
            self._refresh()
        assert self._snapshot is not None
        return self._snapshot

    @property
    def age_seconds(self) -> float:
        """Seconds since the register version was last checked successfully."""
        return self._clock() - self._checked_at

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _start(self) -> None:
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._keep_fresh, daemon=True, name="ccr-register-refresh"
                )
                self._thread.start()

    def _keep_fresh(self) -> None:
        while not self._stop.wait(self._refresh_seconds):
            try:
                with self._lock:
                    self._refresh()
            except Exception as exc:  # keep deciding with the last known register
                log.warning(
                    "register refresh failed, still using version %s: %s",
                    self._snapshot.version if self._snapshot else None,
                    type(exc).__name__,
                )

    def _refresh(self) -> None:
        with self._session_factory() as session:
            version = repository.register_version(session)
            if self._snapshot is None or version != self._snapshot.version:
                self._snapshot = load_snapshot(session, version)
                log.debug(
                    "register snapshot loaded: version %d, %d restrictions",
                    version,
                    self._snapshot.restriction_count,
                )
        self._checked_at = self._clock()


def load_snapshot(session: Session, version: int) -> RegisterSnapshot:
    """Build the snapshot of live restrictions from the database."""
    scopes = repository.scope_of_active_restrictions(session)
    terms_by_id: dict[int, RestrictionTerms] = {}
    links: list[tuple[IdentityKey, RestrictionTerms]] = []
    for restriction, kind, value in repository.active_restriction_links(session):
        terms = terms_by_id.get(restriction.id)
        if terms is None:
            terms = terms_of(restriction, scopes.get(restriction.id, []))
            terms_by_id[restriction.id] = terms
        links.append(((IdentityKind(kind), value), terms))
    session.expunge_all()
    return RegisterSnapshot.build(version, links)


def terms_of(restriction: Restriction, scope: list[tuple[str, str]]) -> RestrictionTerms:
    """The engine's view of one restriction row."""
    return RestrictionTerms(
        id=restriction.id,
        reference=restriction.reference,
        customer_id=restriction.customer_id or 0,
        mode=restriction.mode,
        stage=restriction.stage,
        category=restriction.category,
        email_measure=restriction.email_measure,
        phone_measure=restriction.phone_measure,
        starts_on=restriction.starts_on,
        ends_on=restriction.ends_on,
        windows=WindowSchedule.parse(restriction.phone_windows),
        max_calls_per_day=restriction.max_calls_per_day,
        max_calls_per_week=restriction.max_calls_per_week,
        max_call_minutes=restriction.max_call_minutes,
        spoc_name=restriction.spoc_name,
        spoc_email=restriction.spoc_email,
        spoc_phone=restriction.spoc_phone,
        scope_all=restriction.scope_all,
        scope_services=tuple(sorted({name for name, _ in scope})),
        scope_addresses=frozenset(address for _, address in scope if address),
        exempt_addresses=frozenset(restriction.exempt_addresses or ()),
    )
