"""Fixtures for the staff web UI: the real app on a real migrated database (SQLite or
PostgreSQL), staff accounts for every role, and a small register to look at."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from flask import Flask

from admin_ui import create_app
from gateway.runtime import Runtime
from gateway.services import accounts, register_service
from routing.enums import Category, EmailMeasure, IdentityKind, PhoneMeasure, Role, Stage
from routing.lifecycle import Actor
from routing.models import utcnow
from routing.terms import RestrictionDraft
from tests.integration.api_helpers import Clock
from tests.web.helpers import PASSWORD, StaffClient

AGENT = "agent@council.example.org"
MANAGER = "manager@council.example.org"
APPROVER = "approver@council.example.org"
SECOND_APPROVER = "second.approver@council.example.org"
SENIOR_APPROVER = "senior.approver@council.example.org"
ADMIN = "admin@council.example.org"
IG = "ig@council.example.org"
STAFF = {
    AGENT: Role.AGENT,
    MANAGER: Role.MANAGER,
    APPROVER: Role.APPROVER,
    SENIOR_APPROVER: Role.SENIOR_APPROVER,
    ADMIN: Role.ADMIN,
    IG: Role.IG,
}
EMAIL_OF_ROLE = {role: email for email, role in STAFF.items()}

CUSTOMER_EMAIL = "jo.example@example.org"
CUSTOMER_PHONE = "01632 960123"
SPOC = "spoc@council.example.org"
CONFIDENTIAL = "Lives with a relative who is also known to adult social care (test note)"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(rt: Runtime, clock: Clock) -> Flask:
    return create_app(test_config={"TESTING": True, "CCR_CLOCK": clock}, runtime=rt)


@pytest.fixture
def staff(rt: Runtime) -> dict[str, Actor]:
    """One account per role, plus a second approver; all with the same test password."""
    made = {}
    with rt.uow() as session:
        for email, role in [*STAFF.items(), (SECOND_APPROVER, Role.APPROVER)]:
            user = accounts.add_user(
                session, email=email, role=role, password=PASSWORD, actor="test", now=utcnow()
            )
            made[email] = Actor(user.email, role, user.id)
    return made


@pytest.fixture
def client_for(app: Flask, staff: dict[str, Actor]) -> Callable[[str], StaffClient]:
    """A signed-in session for a member of staff, by email."""

    def sign_in(email: str) -> StaffClient:
        client = StaffClient(app)
        response = client.sign_in(email)
        assert response.status_code == 302, f"{email} could not sign in"
        return client

    return sign_in


@dataclass(frozen=True)
class Register:
    customer_id: int
    active_id: int  # an active restriction, with confidential notes
    pending_id: int  # a proposal waiting for approval (proposed by the manager)
    reference: str


@pytest.fixture
def register(rt: Runtime, staff: dict[str, Actor]) -> Register:
    """A customer with an email address and a number, one restriction in force and one
    proposal waiting for approval."""
    manager, approver = staff[MANAGER], staff[APPROVER]
    now = utcnow()
    with rt.uow() as session:
        customer = register_service.add_customer(
            session, manager, now, name="Jo Example", customer_ref="C-1001"
        )
        for raw, kind in (
            (CUSTOMER_EMAIL, IdentityKind.EMAIL),
            (CUSTOMER_PHONE, IdentityKind.PHONE),
        ):
            register_service.link_raw_identity(
                session, manager, now, customer, raw, kind, fold_plus=True, region="GB"
            )
        active = _propose(session, manager, now, customer, confidential_notes=CONFIDENTIAL)
        register_service.approve(
            session, approver, now, active.id, today=rt.today(now), appeal_days=14
        )
        pending = _propose(
            session, manager, now, customer, phone_measure=PhoneMeasure.BARRED, stage=Stage.STAGE2
        )
        result = Register(customer.id, active.id, pending.id, active.reference)
    rt.register.invalidate()
    return result


def _propose(session, manager: Actor, now: dt.datetime, customer, **terms: object):
    values: dict = {
        "stage": Stage.STAGE1,
        "category": Category.C,
        "starts_on": dt.date(2026, 1, 1),
        "email_measure": EmailMeasure.REDIRECT,
        "spoc_email": SPOC,
        "reason": "Unreasonable levels of contact (test).",
        **terms,
    }
    restriction = register_service.draft_restriction(
        session, manager, now, customer, RestrictionDraft(**values)
    )
    register_service.submit(session, manager, now, restriction.id)
    return restriction
