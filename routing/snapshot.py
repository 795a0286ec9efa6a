"""An immutable in-memory copy of the restrictions in force, keyed by identity.

Every decision reads one of these instead of querying the database, so the cost of a
decision does not grow with the register; processes swap in a new copy when it changes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from routing.enums import (
    Category,
    EmailMeasure,
    IdentityKind,
    Mode,
    PhoneMeasure,
    Stage,
)
from routing.windows import WindowSchedule

IdentityKey = tuple[IdentityKind, str]


@dataclass(frozen=True, slots=True)
class RestrictionTerms:
    """The terms of one restriction that the decision engine needs, as plain values."""

    id: int
    reference: str
    customer_id: int
    mode: Mode
    stage: Stage
    category: Category
    email_measure: EmailMeasure
    phone_measure: PhoneMeasure
    starts_on: dt.date
    ends_on: dt.date | None = None
    windows: WindowSchedule = field(default_factory=lambda: WindowSchedule.parse(""))
    max_calls_per_day: int | None = None
    max_calls_per_week: int | None = None
    max_call_minutes: int | None = None
    spoc_name: str | None = None
    spoc_email: str | None = None
    spoc_phone: str | None = None
    scope_all: bool = True
    scope_services: tuple[str, ...] = ()
    scope_addresses: frozenset[str] = frozenset()
    exempt_addresses: frozenset[str] = frozenset()

    def in_force_on(self, day: dt.date) -> bool:
        """True from the start date up to and including the end date."""
        return self.starts_on <= day and (self.ends_on is None or day <= self.ends_on)

    def covers(self, council_address: str) -> bool:
        """True when the mailbox or line is within the restriction's scope."""
        return self.scope_all or council_address in self.scope_addresses


@dataclass(frozen=True)
class RegisterSnapshot:
    """Restrictions in force (active, either mode) reachable from each identity."""

    version: int
    by_identity: Mapping[IdentityKey, tuple[RestrictionTerms, ...]]

    @classmethod
    def build(
        cls, version: int, links: Iterable[tuple[IdentityKey, RestrictionTerms]]
    ) -> RegisterSnapshot:
        """Group (identity, restriction) pairs into the lookup table."""
        grouped: dict[IdentityKey, list[RestrictionTerms]] = {}
        for key, terms in links:
            grouped.setdefault(key, []).append(terms)
        return cls(version, {key: tuple(items) for key, items in grouped.items()})

    @classmethod
    def empty(cls) -> RegisterSnapshot:
        return cls(0, {})

    def restrictions_for(self, kind: IdentityKind, value: str) -> tuple[RestrictionTerms, ...]:
        """The restrictions reachable from one normalised identity (usually none)."""
        return self.by_identity.get((kind, value), ())

    @property
    def restriction_count(self) -> int:
        return len({terms.id for group in self.by_identity.values() for terms in group})
