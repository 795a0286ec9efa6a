"""The caller view: what a contact-centre agent needs to handle a call from a customer, and
nothing more.

Agents open the same customer address as caseworkers, but the page is built from this
module's plain values, never from the register's rows: whether the customer is restricted,
each restriction in force with its reference, measures, permitted times (open or shut now),
limits, single point of contact and the script to read, and the customer's recent call
flags. The reasons, confidential notes, reviews, lift and variation reasons, who proposed
and approved, the history, the contact timeline and its chart, and alerts are casework:
they are not read for an agent at all, so no template can show them by mistake.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from admin_ui import forms
from gateway.runtime import Runtime
from gateway.store import web_queries
from gateway.store.register_cache import terms_of
from routing.enums import IdentityKind, PhoneMeasure
from routing.identity import display_phone
from routing.lookup import RestrictionSummary, call_script, limits_text, summarise, window_text
from routing.models import Customer, Restriction

# How far back, and how many, of the customer's flagged calls the agent sees.
FLAG_DAYS = 28
FLAGS_SHOWN = 20

_STAGES = dict(forms.STAGES)
_EMAIL_MEASURES = dict(forms.EMAIL_MEASURES)


@dataclass(frozen=True, slots=True)
class CallerRestriction:
    """One restriction in force, as an agent reads it."""

    reference: str
    anchor: str  # the element id on the page, for links from the call flags
    trial: bool  # shadow mode: recorded, not applied
    stage: str
    email: str
    telephone: str
    window_now: str | None  # "open now, until ..." / "closed now, next opens ..."
    limits: str | None
    spoc_name: str | None
    spoc_email: str | None
    spoc_phone: str | None  # as staff dial it
    services: str
    always_reachable: tuple[str, ...]
    starts_on: dt.date
    ends_on: dt.date | None
    script: str


@dataclass(frozen=True, slots=True)
class CallerIdentity:
    kind: str  # "Email" or "Telephone"
    value: str


@dataclass(frozen=True, slots=True)
class CallerView:
    customer_id: int
    name: str
    customer_ref: str | None
    identities: tuple[CallerIdentity, ...]
    restrictions: tuple[CallerRestriction, ...]  # strongest first, as the lookup orders them
    flags: tuple[web_queries.FlagRow, ...]  # newest first
    flag_days: int
    checked_at: dt.datetime

    @property
    def restricted(self) -> bool:
        """A restriction applies: one only on trial (shadow mode) changes nothing for the
        caller, so it must not tell the agent to treat the call differently."""
        return any(not r.trial for r in self.restrictions)

    @property
    def enforced(self) -> tuple[CallerRestriction, ...]:
        return tuple(r for r in self.restrictions if not r.trial)

    @property
    def on_trial(self) -> tuple[CallerRestriction, ...]:
        return tuple(r for r in self.restrictions if r.trial)


def restriction_anchor(reference: str) -> str:
    """The id of a restriction's section on the caller view."""
    return f"restriction-{reference}"


def caller_view(session: Session, rt: Runtime, customer: Customer, now: dt.datetime) -> CallerView:
    """Everything the agent's page shows about this customer, as plain values."""
    in_force = web_queries.restrictions_in_force(session, customer.id, rt.today(now))
    summaries = sorted(
        ((summarise(terms_of(r, _scope(r)), rt.policy, now), r) for r in in_force),
        key=lambda pair: pair[0].strength,
        reverse=True,
    )
    since = now - dt.timedelta(days=FLAG_DAYS)
    return CallerView(
        customer_id=customer.id,
        name=customer.name or f"Customer #{customer.id}",
        customer_ref=customer.customer_ref,
        identities=_identities(session, customer.id),
        restrictions=tuple(_restriction(s, r, now, rt.timezone) for s, r in summaries),
        flags=tuple(web_queries.customer_call_flags(session, customer.id, since, FLAGS_SHOWN)),
        flag_days=FLAG_DAYS,
        checked_at=now,
    )


def _scope(restriction: Restriction) -> list[tuple[str, str]]:
    # Only the service names are shown; the addresses behind them are the engine's business.
    return [(service.name, "") for service in restriction.services]


def _identities(session: Session, customer_id: int) -> tuple[CallerIdentity, ...]:
    return tuple(
        CallerIdentity(
            "Email" if identity.kind is IdentityKind.EMAIL else "Telephone",
            identity.value
            if identity.kind is IdentityKind.EMAIL
            else display_phone(identity.value),
        )
        for identity in web_queries.identities_of(session, customer_id)
    )


def _restriction(
    summary: RestrictionSummary, row: Restriction, now: dt.datetime, zone: dt.tzinfo
) -> CallerRestriction:
    return CallerRestriction(
        reference=summary.reference,
        anchor=restriction_anchor(summary.reference),
        trial=not summary.enforced,
        stage=_STAGES.get(summary.stage, summary.stage),
        email=_EMAIL_MEASURES.get(summary.email_measure, summary.email_measure),
        telephone=_telephone(summary),
        window_now=window_text(summary, now, zone),
        limits=limits_text(summary),
        spoc_name=summary.spoc_name,
        spoc_email=summary.spoc_email,
        spoc_phone=display_phone(summary.spoc_phone) if summary.spoc_phone else None,
        services=_services(row.scope_all, [s.name for s in row.services]),
        always_reachable=tuple(sorted(row.exempt_addresses or ())),
        starts_on=row.starts_on,
        ends_on=row.ends_on,
        script=call_script(summary, now, zone),
    )


def _telephone(summary: RestrictionSummary) -> str:
    if summary.phone_measure == PhoneMeasure.BARRED:
        return "No telephone contact"
    if summary.phone_measure == PhoneMeasure.WINDOWS:
        return f"Calls only at: {summary.phone_windows}"
    return "No telephone measure"


def _services(scope_all: bool, names: Sequence[str]) -> str:
    return "Every council service" if scope_all else ", ".join(sorted(names))
