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

from gateway import repository
from routing.enums import IdentityKind
from routing.models import Restriction
from routing.snapshot import IdentityKey, RegisterSnapshot, RestrictionTerms
from routing.windows import WindowSchedule

log = logging.getLogger(__name__)


class RegisterCache:
    """The current RegisterSnapshot, reloaded when the register version moves."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        refresh_seconds: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session_factory = session_factory
        self._refresh_seconds = refresh_seconds
        self._clock = clock
        self._snapshot = RegisterSnapshot.empty()
        self._checked_at: float | None = None
        self._lock = threading.Lock()

    def snapshot(self) -> RegisterSnapshot:
        """The snapshot to decide with; checks the version if the last check is stale."""
        now = self._clock()
        if self._checked_at is None or now - self._checked_at >= self._refresh_seconds:
            with self._lock:
                if self._checked_at is None or now - self._checked_at >= self._refresh_seconds:
                    self._refresh()
                    self._checked_at = now
        return self._snapshot

    def invalidate(self) -> None:
        """Check the version on the next decision (after a change made in this process)."""
        self._checked_at = None

    def _refresh(self) -> None:
        with self._session_factory() as session:
            version = repository.register_version(session)
            if version != self._snapshot.version or self._checked_at is None:
                self._snapshot = load_snapshot(session, version)
                log.info(
                    "register snapshot loaded: version %d, %d restrictions",
                    version,
                    self._snapshot.restriction_count,
                )


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
