"""People's rights (gateway/services/people.py): correcting and unlinking an address or
number, and erasing a person, on the real database; and `ccr person erase`."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gateway.runtime import Runtime
from gateway.services import people, register_service
from gateway.services.people import ErasureRefused, RightsRefused
from gateway.store.repository import register_version
from routing.enums import (
    Category,
    Channel,
    EmailMeasure,
    IdentityKind,
    Outcome,
    RetentionCategory,
    Role,
    Stage,
)
from routing.lifecycle import Actor
from routing.models import Alert, AuditEntry, ContactEvent, Customer, Identity, utcnow
from routing.terms import RestrictionDraft

ROOT = Path(__file__).resolve().parents[2]
CCR = str(Path(sys.executable).with_name("ccr"))
EMAIL = "sam.example@example.org"
PHONE = "020 7946 0123"
IG = "ig@council.example.org"


@pytest.fixture
def officer(make_staff: Callable[[str, Role], Actor]) -> Actor:
    return make_staff(IG, Role.IG)


@pytest.fixture
def manager(make_staff: Callable[[str, Role], Actor]) -> Actor:
    return make_staff("manager@council.example.org", Role.MANAGER)


@pytest.fixture
def sam(rt: Runtime, manager: Actor) -> int:
    """A customer with an email address and a number, two contacts and an alert."""
    now = utcnow()
    with rt.uow() as session:
        customer = register_service.add_customer(
            session, manager, now, name="Sam Example", customer_ref="C-2002"
        )
        for raw, kind in ((EMAIL, IdentityKind.EMAIL), (PHONE, IdentityKind.PHONE)):
            identity = register_service.link_raw_identity(
                session, manager, now, customer, raw, kind, fold_plus=True, region="GB"
            )
            session.add(_contact(identity, now))
        session.add(
            Alert(rule="emails_1d", customer_id=customer.id, summary="many emails", person_key="c")
        )
        return customer.id


def _contact(identity: Identity, now) -> ContactEvent:
    return ContactEvent(
        occurred_at=now,
        channel=Channel.EMAIL if identity.kind is IdentityKind.EMAIL else Channel.PHONE,
        source="test",
        identity_id=identity.id,
        customer_id=identity.customer_id,
        from_value=identity.value,
        outcome=Outcome.DELIVER,
    )


def _identity_id(rt: Runtime, kind: IdentityKind) -> int:
    with rt.uow() as session:
        return session.scalar(select(Identity.id).where(Identity.kind == kind))


def _actions(rt: Runtime) -> list[AuditEntry]:
    with rt.uow() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        session.expunge_all()
        return list(entries)


def _restrict(rt: Runtime, manager: Actor, customer_id: int, **changes: object) -> str:
    now = utcnow()
    draft = RestrictionDraft(
        stage=Stage.STAGE1,
        category=Category.C,
        starts_on=rt.today(now),
        email_measure=EmailMeasure.REDIRECT,
        spoc_email="spoc@council.example.org",
        reason="Repeated emails about a closed matter",
    )
    with rt.uow() as session:
        customer = session.get(Customer, customer_id)
        restriction = register_service.draft_restriction(session, manager, now, customer, draft)
        for name, value in changes.items():
            setattr(restriction, name, value)
        return restriction.reference


# --- correcting --------------------------------------------------------------------------------


def test_a_correction_is_normalised_audited_and_tells_the_register(
    rt: Runtime, officer: Actor, sam: int
) -> None:
    identity_id = _identity_id(rt, IdentityKind.EMAIL)
    with rt.uow() as session:
        before = register_version(session)
        people.correct_identity(
            session, officer, utcnow(), identity_id, " Sam.Correct@EXAMPLE.org ",
            fold_plus=True, region="GB",
        )  # fmt: skip
    with rt.uow() as session:
        assert session.get(Identity, identity_id).value == "sam.correct@example.org"
        assert register_version(session) > before
    [entry] = [e for e in _actions(rt) if e.action == "identity.corrected"]
    assert (entry.actor, entry.subject_type, entry.subject_ref) == (IG, "customer", str(sam))
    assert entry.detail == {"identity_id": identity_id, "kind": "email"}


def test_a_correction_to_a_value_another_record_holds_is_refused(
    rt: Runtime, officer: Actor, sam: int
) -> None:
    with rt.uow() as session:
        session.add(Identity(kind=IdentityKind.EMAIL, value="someone.else@example.org"))
    identity_id = _identity_id(rt, IdentityKind.EMAIL)
    with pytest.raises(RightsRefused, match="held on another person's record"), rt.uow() as s:
        people.correct_identity(
            s, officer, utcnow(), identity_id, "someone.else@example.org",
            fold_plus=True, region="GB",
        )  # fmt: skip
    with rt.uow() as session:
        assert session.get(Identity, identity_id).value == EMAIL


def test_nobody_but_information_governance_may_correct(
    rt: Runtime, manager: Actor, sam: int
) -> None:
    identity_id = _identity_id(rt, IdentityKind.EMAIL)
    with pytest.raises(RightsRefused, match="information-governance"), rt.uow() as s:
        people.correct_identity(
            s, manager, utcnow(), identity_id, "x@example.org", fold_plus=True, region="GB"
        )


# --- unlinking ---------------------------------------------------------------------------------


def test_an_unlinked_identity_stands_alone_with_its_contacts(
    rt: Runtime, officer: Actor, sam: int
) -> None:
    phone_id = _identity_id(rt, IdentityKind.PHONE)
    with rt.uow() as session:
        assert people.unlink_identity(session, officer, utcnow(), phone_id) == sam
    with rt.uow() as session:
        assert session.get(Identity, phone_id).customer_id is None
        contacts = session.scalars(
            select(ContactEvent).where(ContactEvent.identity_id == phone_id)
        ).all()
        assert [c.customer_id for c in contacts] == [None]
    [entry] = [e for e in _actions(rt) if e.action == "identity.unlinked"]
    assert entry.detail == {"identity_id": phone_id, "kind": "phone", "contacts": 1}
    with pytest.raises(RightsRefused, match="not linked"), rt.uow() as session:
        people.unlink_identity(session, officer, utcnow(), phone_id)


# --- erasing -----------------------------------------------------------------------------------


def test_erasure_deletes_the_records_and_blanks_the_customer_in_one_go(
    rt: Runtime, officer: Actor, sam: int
) -> None:
    with rt.uow() as session:
        counts = people.erase_person(
            session, officer, utcnow(), people.person_by_customer(session, sam)
        )
    assert counts == {"mail_records": 0, "contacts": 2, "alerts": 1, "identities": 2}
    with rt.uow() as session:
        customer = session.get(Customer, sam)
        assert (customer.name, customer.customer_ref) == (None, None)
        for model in (Identity, ContactEvent, Alert):
            assert session.scalar(select(func.count()).select_from(model)) == 0
    [entry] = [e for e in _actions(rt) if e.action == "person.erased"]
    assert (entry.subject_type, entry.subject_ref, entry.detail) == ("customer", str(sam), counts)


def test_a_lone_identity_is_erased_with_its_contacts(rt: Runtime, officer: Actor) -> None:
    with rt.uow() as session:
        identity = Identity(kind=IdentityKind.EMAIL, value="lone@example.org")
        session.add(identity)
        session.flush()
        session.add(_contact(identity, utcnow()))
        identity_id = identity.id
    with rt.uow() as session:
        person = people.person_by_identity(session, identity_id)
        counts = people.erase_person(session, officer, utcnow(), person)
    assert counts == {"mail_records": 0, "contacts": 1, "alerts": 0, "identities": 1}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"legal_hold": True}, "under a legal hold"),
        ({"retention_category": RetentionCategory.REPEATED_HISTORY}, "repeated history"),
        ({}, "until its retention period ends"),
    ],
)
def test_erasure_is_refused_while_a_restriction_keeps_the_record(
    rt: Runtime, officer: Actor, manager: Actor, sam: int, changes: dict, reason: str
) -> None:
    reference = _restrict(rt, manager, sam, **changes)
    with pytest.raises(ErasureRefused, match=reason) as refused, rt.uow() as session:
        people.erase_person(session, officer, utcnow(), people.person_by_customer(session, sam))
    assert reference in str(refused.value)
    with rt.uow() as session:
        assert session.get(Customer, sam).name == "Sam Example"
        assert session.scalar(select(func.count()).select_from(Identity)) == 2
    assert not [e for e in _actions(rt) if e.action == "person.erased"]


# --- the command line --------------------------------------------------------------------------


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CCR_")}
    return {
        **clean,
        "CCR_DATABASE_URL": database_url,
        "CCR_CONFIG": str(ROOT / "config" / "ccr.toml"),
        "CCR_DOWNSTREAM": f"maildir:{tmp_path / 'mail'}",
        "CCR_LOG_LEVEL": "WARNING",
    }


def _ccr(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CCR, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_ccr_person_erase_needs_an_ig_officer_and_refuses_in_one_line(
    rt: Runtime, env: dict[str, str], officer: Actor, manager: Actor, sam: int
) -> None:
    not_ig = _ccr(env, "person", "erase", "C-2002", "--by", manager.name)
    assert not_ig.returncode == 2
    assert not_ig.stderr.strip().count("\n") == 0
    assert "information-governance officer" in not_ig.stderr

    reference = _restrict(rt, manager, sam, legal_hold=True)
    kept = _ccr(env, "person", "erase", EMAIL, "--by", IG)
    assert kept.returncode == 2
    assert kept.stderr.strip().count("\n") == 0
    assert f"{reference} is under a legal hold" in kept.stderr


def test_ccr_person_erase_erases(env: dict[str, str], officer: Actor, sam: int) -> None:
    erased = _ccr(env, "person", "erase", PHONE, "--by", IG)
    assert erased.returncode == 0, erased.stderr
    assert erased.stdout.strip() == "erased: 0 mail records, 2 contacts, 1 alerts, 2 identities"
