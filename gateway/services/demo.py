"""Fictional demo data: example.org addresses and Ofcom drama numbers only, never real people."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from gateway.runtime import Runtime
from gateway.services import accounts, register_service
from gateway.store import repository
from routing.enums import Category, EmailMeasure, IdentityKind, Mode, PhoneMeasure, Role, Stage
from routing.lifecycle import Actor
from routing.models import Customer, Service, ServiceAddress
from routing.terms import RestrictionDraft

DEMO_STAFF = (
    ("manager@council.example.org", Role.MANAGER),
    ("approver@council.example.org", Role.APPROVER),
    ("agent@council.example.org", Role.AGENT),
    ("admin@council.example.org", Role.ADMIN),
)

DEMO_SERVICES = {
    "Housing": ["housing@council.example.org", "repairs@council.example.org", "020 7946 0100"],
    "Council Tax": ["counciltax@council.example.org", "020 7946 0200"],
    "Adult Social Care": ["asc.duty@council.example.org", "020 7946 0300"],
}

SPOC = {
    "spoc_name": "Customer Relations Team",
    "spoc_email": "spoc@council.example.org",
    "spoc_phone": "020 7946 0999",
}


@dataclass
class DemoLoaded:
    customers: int = 0
    restrictions: int = 0
    staff: list[tuple[str, str, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.customers > 0


def _demo_people(starts: dt.date) -> list[tuple[str, list[str], RestrictionDraft | None]]:
    """(name, identities, terms) for each fictional customer."""
    return [
        (
            "Alex Example",
            ["alex.example@example.org", "01632 960001"],
            RestrictionDraft(
                stage=Stage.STAGE1,
                category=Category.C,
                starts_on=starts,
                ends_on=starts + dt.timedelta(days=182),
                email_measure=EmailMeasure.REDIRECT,
                phone_measure=PhoneMeasure.WINDOWS,
                phone_windows="Tue 10:00-12:00; Thu 14:00-15:30",
                max_call_minutes=20,
                reason="Unreasonable levels of contact (demo).",
                **SPOC,
            ),
        ),
        (
            "Sam Sample",
            ["sam.sample@example.org", "07700 900002"],
            RestrictionDraft(
                stage=Stage.STAGE2,
                category=Category.A,
                starts_on=starts,
                ends_on=starts + dt.timedelta(days=365),
                email_measure=EmailMeasure.FILE,
                phone_measure=PhoneMeasure.BARRED,
                reason="Abusive calls to staff (demo).",
                **SPOC,
            ),
        ),
        (
            "Jo Placeholder",
            ["jo.placeholder@example.org"],
            RestrictionDraft(
                stage=Stage.WARNING,
                category=Category.B,
                starts_on=starts,
                mode=Mode.SHADOW,
                email_measure=EmailMeasure.COPY,
                scope_services=["Housing"],
                reason="Trial of a copy-to-SPOC arrangement (demo).",
                **SPOC,
            ),
        ),
        (
            "Chris Test",
            ["chris.test@example.org", "07700 900004"],
            RestrictionDraft(
                stage=Stage.STAGE1,
                category=Category.D,
                starts_on=starts,
                email_measure=EmailMeasure.REDIRECT,
                phone_measure=PhoneMeasure.WINDOWS,
                phone_windows="Mon-Fri 09:00-10:00",
                max_calls_per_day=1,
                scope_services=["Council Tax"],
                reason="Repeated complaints (demo).",
                **SPOC,
            ),
        ),
        ("Pat Unrestricted", ["pat.unrestricted@example.org", "01632 960005"], None),
    ]


def load_demo(rt: Runtime, *, now: dt.datetime, only_if_empty: bool = True) -> DemoLoaded:
    """Load demo staff, services, customers and restrictions; nothing if data already exists."""
    loaded = DemoLoaded()
    with rt.uow() as session:
        if only_if_empty and repository.customer_count(session):
            return loaded
        staff = _add_staff(session, now, loaded)
        _add_services(session)
        for name, identities, draft in _demo_people(rt.today(now)):
            customer = _add_customer(rt, session, now, staff["manager"], name, identities)
            loaded.customers += 1
            if draft is not None:
                _impose(rt, session, now, staff, customer, draft)
                loaded.restrictions += 1
    rt.register.invalidate()
    return loaded


def _add_staff(session: Session, now: dt.datetime, loaded: DemoLoaded) -> dict[str, Actor]:
    actors = {}
    for email, role in DEMO_STAFF:
        password = accounts.generate_password()
        user = accounts.add_user(
            session,
            email=email,
            role=role,
            password=password,
            actor="demo",
            now=now,
            display_name=f"Demo {role.value}",
        )
        actors[role.value] = Actor(user.email, role, user.id)
        loaded.staff.append((email, role.value, password))
    return actors


def _add_services(session: Session) -> None:
    for name, addresses in DEMO_SERVICES.items():
        service = Service(name=name, description=f"{name} (demo)")
        for address in addresses:
            kind = IdentityKind.EMAIL if "@" in address else IdentityKind.PHONE
            service.addresses.append(ServiceAddress(kind=kind, value=_normalised(address, kind)))
        session.add(service)
    session.flush()


def _normalised(address: str, kind: IdentityKind) -> str:
    from routing.identity import normalise

    value = normalise(address, kind).value
    assert value is not None, f"demo address {address!r} must normalise"
    return value


def _add_customer(
    rt: Runtime,
    session: Session,
    now: dt.datetime,
    actor: Actor,
    name: str,
    identities: list[str],
) -> Customer:
    customer = register_service.add_customer(session, actor, now, name=name)
    for raw in identities:
        kind = IdentityKind.EMAIL if "@" in raw else IdentityKind.PHONE
        register_service.link_raw_identity(
            session,
            actor,
            now,
            customer,
            raw,
            kind,
            fold_plus=rt.settings.fold_plus_addresses,
            region=rt.settings.phone_region,
        )
    return customer


def _impose(
    rt: Runtime,
    session: Session,
    now: dt.datetime,
    staff: dict[str, Actor],
    customer: Customer,
    draft: RestrictionDraft,
) -> None:
    restriction = register_service.draft_restriction(
        session, staff["manager"], now, customer, draft
    )
    register_service.submit(session, staff["manager"], now, restriction.id)
    register_service.approve(
        session,
        staff["approver"],
        now,
        restriction.id,
        today=rt.today(now),
        appeal_days=rt.settings.appeal_days,
    )
