"""The register in a real database: proposals, approval, variation, lifting, and how fast
every process sees a change."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from gateway.bootstrap import bootstrap
from gateway.runtime import Runtime
from gateway.services import register_service
from gateway.services.register_service import RegisterError
from gateway.settings import Settings
from gateway.store import repository
from routing.engine import Contact
from routing.enums import (
    Category,
    Channel,
    EmailMeasure,
    IdentityKind,
    Outcome,
    RestrictionStatus,
    Role,
    Stage,
)
from routing.identity import normalise_email
from routing.lifecycle import Actor, TransitionRefused
from routing.models import AuditEntry, Customer, Restriction, Service, ServiceAddress
from routing.terms import RestrictionDraft
from tests.polling import wait_until

CUSTOMER_EMAIL = "jo.example@example.org"
HOUSING = "housing@council.example.org"
SPOC = "spoc@council.example.org"


@pytest.fixture
def staff(make_staff: Callable[[str, Role], Actor]) -> dict[str, Actor]:
    return {
        "manager": make_staff("manager@council.example.org", Role.MANAGER),
        "approver": make_staff("approver@council.example.org", Role.APPROVER),
    }


def draft(**overrides: object) -> RestrictionDraft:
    values: dict = {
        "stage": Stage.STAGE1,
        "category": Category.C,
        "starts_on": dt.date(2026, 1, 1),
        "email_measure": EmailMeasure.REDIRECT,
        "spoc_email": SPOC,
        **overrides,
    }
    return RestrictionDraft(**values)


def propose(rt: Runtime, staff: dict[str, Actor], now: dt.datetime, **overrides: object) -> int:
    """A manager proposes a restriction on a new customer; returns the restriction id."""
    with rt.uow() as session:
        customer = register_service.add_customer(session, staff["manager"], now, name="Jo")
        register_service.link_raw_identity(
            session,
            staff["manager"],
            now,
            customer,
            CUSTOMER_EMAIL,
            IdentityKind.EMAIL,
            fold_plus=True,
            region="GB",
        )
        restriction = register_service.draft_restriction(
            session, staff["manager"], now, customer, draft(**overrides)
        )
        register_service.submit(session, staff["manager"], now, restriction.id)
        return restriction.id


def approve(rt: Runtime, actor: Actor, restriction_id: int, now: dt.datetime) -> Restriction:
    with rt.uow() as session:
        return register_service.approve(
            session, actor, now, restriction_id, today=rt.today(now), appeal_days=14
        )


def outcome_for(rt: Runtime, sender: str = CUSTOMER_EMAIL) -> Outcome:
    contact = Contact(Channel.EMAIL, (normalise_email(sender),), HOUSING, dt.datetime.now(dt.UTC))
    return rt.decide(contact).outcome


@pytest.fixture
def second_process(settings: Settings) -> Runtime:
    """Another process's view of the same database: its own engine, cache and snapshot."""
    other = bootstrap(settings.model_copy(update={"register_refresh_seconds": 0.5}))
    yield other
    other.close()


def test_approval_takes_effect_in_another_process_within_its_refresh_interval(
    rt: Runtime, second_process: Runtime, staff: dict[str, Actor], now: dt.datetime
) -> None:
    restriction_id = propose(rt, staff, now)
    assert outcome_for(second_process) is Outcome.DELIVER  # proposed is not in force
    approve(rt, staff["approver"], restriction_id, now)
    started = time.monotonic()
    wait_until(
        lambda: outcome_for(second_process) is Outcome.REDIRECT,
        5,
        "the other process to redirect",
        interval=0.01,
    )
    assert time.monotonic() - started < 2.0


def test_a_quiet_process_decides_its_next_single_contact_on_the_current_register(
    rt: Runtime, second_process: Runtime, staff: dict[str, Actor], now: dt.datetime
) -> None:
    # The other process has decided before (so it holds a snapshot), then sits idle.
    restriction_id = propose(rt, staff, now)
    assert outcome_for(second_process) is Outcome.DELIVER
    approve(rt, staff["approver"], restriction_id, now)
    with rt.uow() as session:
        version = repository.register_version(session)
    # No decisions while waiting: only the refresh thread can bring the change in.
    wait_until(
        lambda: second_process.register.snapshot().version == version,
        5,
        f"the other process's snapshot at version {version}",
    )
    assert outcome_for(second_process) is Outcome.REDIRECT


def test_lifting_releases_the_customer_everywhere(
    rt: Runtime, second_process: Runtime, staff: dict[str, Actor], now: dt.datetime
) -> None:
    restriction_id = approve(rt, staff["approver"], propose(rt, staff, now), now).id
    wait_until(
        lambda: outcome_for(second_process) is Outcome.REDIRECT, 5, "the other process to redirect"
    )
    with rt.uow() as session:
        register_service.lift(session, staff["approver"], now, restriction_id, reason="resolved")
    wait_until(
        lambda: outcome_for(second_process) is Outcome.DELIVER, 5, "the other process to deliver"
    )


def test_variation_applies_the_new_terms_under_the_same_reference(
    rt: Runtime, staff: dict[str, Actor], make_staff, now: dt.datetime
) -> None:
    first = approve(rt, staff["approver"], propose(rt, staff, now), now)
    second_approver = make_staff("approver2@council.example.org", Role.APPROVER)
    with rt.uow() as session:
        successor = register_service.vary(
            session,
            second_approver,
            now,
            first.id,
            {"email_measure": EmailMeasure.COPY},
            today=rt.today(now),
            reason="eased at review",
        )
    wait_until(lambda: outcome_for(rt) is Outcome.COPY, 5, "the varied terms (copy) in force")
    with rt.uow() as session:
        rows = session.scalars(select(Restriction).order_by(Restriction.revision)).all()
        assert [(r.reference, r.revision, r.status) for r in rows] == [
            (first.reference, 1, RestrictionStatus.VARIED),
            (first.reference, 2, RestrictionStatus.ACTIVE),
        ]
        assert rows[0].superseded_by_id == successor.id


def test_references_count_up_within_the_year(
    rt: Runtime, staff: dict[str, Actor], now: dt.datetime
) -> None:
    ids = [propose(rt, staff, now) for _ in range(1)]
    with rt.uow() as session:
        other = register_service.add_customer(session, staff["manager"], now, name="Sam")
        second = register_service.draft_restriction(session, staff["manager"], now, other, draft())
        ids.append(second.id)
    with rt.uow() as session:
        references = [session.get(Restriction, i).reference for i in ids]
    assert references == [f"CCR-{now.year}-0001", f"CCR-{now.year}-0002"]


def test_approver_cannot_approve_own_proposal_and_nothing_changes(
    rt: Runtime, staff: dict[str, Actor], now: dt.datetime
) -> None:
    with rt.uow() as session:
        customer = register_service.add_customer(session, staff["approver"], now, name="Jo")
        restriction = register_service.draft_restriction(
            session, staff["approver"], now, customer, draft()
        )
        register_service.submit(session, staff["approver"], now, restriction.id)
    with pytest.raises(TransitionRefused, match="approver proposed it"):
        approve(rt, staff["approver"], restriction.id, now)
    with rt.uow() as session:
        assert session.get(Restriction, restriction.id).status is RestrictionStatus.PENDING_APPROVAL


def test_every_change_is_audited_and_names_the_actor(
    rt: Runtime, staff: dict[str, Actor], now: dt.datetime
) -> None:
    restriction_id = propose(rt, staff, now)
    approve(rt, staff["approver"], restriction_id, now)
    with rt.uow() as session:
        entries = [
            (e.action, e.actor)
            for e in repository.audit_entries(session)
            if e.action != "user.created"
        ]
    assert entries == [
        ("customer.created", "manager@council.example.org"),
        ("identity.linked", "manager@council.example.org"),
        ("restriction.drafted", "manager@council.example.org"),
        ("restriction.submitted", "manager@council.example.org"),
        ("restriction.approved", "approver@council.example.org"),
    ]


def test_audit_entries_hold_no_names_or_addresses(
    rt: Runtime, staff: dict[str, Actor], now: dt.datetime
) -> None:
    approve(rt, staff["approver"], propose(rt, staff, now), now)
    with rt.uow() as session:
        text = " ".join(f"{e.subject_ref} {e.detail}" for e in repository.audit_entries(session))
    assert CUSTOMER_EMAIL not in text
    assert "Jo" not in text


def test_inconsistent_terms_are_refused_with_the_reason(
    rt: Runtime, staff: dict[str, Actor], now: dt.datetime
) -> None:
    with pytest.raises(RegisterError, match="needs a SPOC email address"):
        propose(rt, staff, now, spoc_email=None)
    with pytest.raises(RegisterError, match="hour"):
        propose(rt, staff, now, phone_windows="Tue 25:00-26:00")
    with rt.uow() as session:
        assert session.scalar(select(func.count(Restriction.id))) == 0


def test_an_identity_cannot_belong_to_two_customers(
    rt: Runtime, staff: dict[str, Actor], now: dt.datetime
) -> None:
    propose(rt, staff, now)
    with rt.uow() as session:
        other = register_service.add_customer(session, staff["manager"], now, name="Sam")
        with pytest.raises(RegisterError, match="already belongs to another customer"):
            register_service.link_raw_identity(
                session,
                staff["manager"],
                now,
                other,
                "JO.Example@example.org",
                IdentityKind.EMAIL,
                fold_plus=True,
                region="GB",
            )


def test_scoping_to_an_unknown_service_is_refused(
    rt: Runtime, staff: dict[str, Actor], now: dt.datetime
) -> None:
    with pytest.raises(RegisterError, match="unknown service 'Parking'"):
        propose(rt, staff, now, scope_services=["Parking"])


def test_scoped_restriction_reaches_the_snapshot_with_its_service_addresses(
    rt: Runtime, staff: dict[str, Actor], now: dt.datetime
) -> None:
    with rt.uow() as session:
        service = Service(name="Housing")
        service.addresses.append(ServiceAddress(kind=IdentityKind.EMAIL, value=HOUSING))
        session.add(service)
    approve(rt, staff["approver"], propose(rt, staff, now, scope_services=["Housing"]), now)
    rt.register.invalidate()
    assert outcome_for(rt) is Outcome.REDIRECT
    other = Contact(
        Channel.EMAIL,
        (normalise_email(CUSTOMER_EMAIL),),
        "counciltax@council.example.org",
        dt.datetime.now(dt.UTC),
    )
    assert rt.decide(other).outcome is Outcome.DELIVER


def test_register_version_moves_only_when_enforcement_changes(
    rt: Runtime, staff: dict[str, Actor], now: dt.datetime
) -> None:
    with rt.uow() as session:
        start = repository.register_version(session)
    restriction_id = propose(rt, staff, now)  # links one identity: one bump
    with rt.uow() as session:
        after_proposal = repository.register_version(session)
    approve(rt, staff["approver"], restriction_id, now)
    with rt.uow() as session:
        after_approval = repository.register_version(session)
    assert (after_proposal - start, after_approval - after_proposal) == (1, 1)


def test_customer_reference_is_unique(
    rt: Runtime, staff: dict[str, Actor], now: dt.datetime
) -> None:
    with rt.uow() as session:
        register_service.add_customer(session, staff["manager"], now, name="A", customer_ref="C-1")
    with rt.uow() as session, pytest.raises(RegisterError, match="already in use"):
        register_service.add_customer(session, staff["manager"], now, name="B", customer_ref="C-1")
    with rt.uow() as session:
        assert session.scalar(select(func.count(Customer.id))) == 1
        assert (
            session.scalar(
                select(func.count(AuditEntry.id)).where(AuditEntry.action == "customer.created")
            )
            == 1
        )


def _vary(rt: Runtime, actor: Actor, restriction_id: int, now: dt.datetime, **changes):
    with rt.uow() as session:
        return register_service.vary(
            session,
            actor,
            now,
            restriction_id,
            changes,
            today=rt.today(now),
            reason="varied at review",
        )


def test_varying_a_restriction_that_has_not_started_keeps_its_start_date(
    rt: Runtime, staff: dict[str, Actor], make_staff, now: dt.datetime
) -> None:
    later = rt.today(now) + dt.timedelta(days=30)
    first = approve(rt, staff["approver"], propose(rt, staff, now, starts_on=later), now)
    second_approver = make_staff("approver2@council.example.org", Role.APPROVER)
    successor = _vary(rt, second_approver, first.id, now, email_measure=EmailMeasure.COPY)
    assert successor.starts_on == later
    rt.register.invalidate()
    assert outcome_for(rt) is Outcome.DELIVER  # still not in force today


def test_varied_terms_are_normalised_like_a_new_proposal(
    rt: Runtime, staff: dict[str, Actor], make_staff, now: dt.datetime
) -> None:
    first = approve(rt, staff["approver"], propose(rt, staff, now), now)
    second_approver = make_staff("approver2@council.example.org", Role.APPROVER)
    successor = _vary(
        rt,
        second_approver,
        first.id,
        now,
        spoc_phone="01632 960999",
        exempt_addresses=["Housing@Council.Example.org"],
    )
    assert successor.spoc_phone == "+441632960999"
    rt.register.invalidate()
    assert outcome_for(rt) is Outcome.DELIVER  # mail to the now-exempt housing mailbox


def test_an_invalid_variation_is_refused_and_leaves_the_restriction_in_force(
    rt: Runtime, staff: dict[str, Actor], make_staff, now: dt.datetime
) -> None:
    first = approve(rt, staff["approver"], propose(rt, staff, now), now)
    second_approver = make_staff("approver2@council.example.org", Role.APPROVER)
    with pytest.raises(RegisterError, match="hour must be 0-23"):
        _vary(rt, second_approver, first.id, now, phone_windows="Mon 25:00-26:00")
    with pytest.raises(RegisterError, match="scope changes need a new restriction"):
        _vary(rt, second_approver, first.id, now, scope_all=False)
    with rt.uow() as session:
        assert session.get(Restriction, first.id).status is RestrictionStatus.ACTIVE
