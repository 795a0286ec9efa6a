"""Retention on a real database: exactly what has outlived its period goes, holds and
retention categories keep what they cover, and the deletion is audited by counts."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

import pytest
from dateutil.relativedelta import relativedelta
from sqlalchemy import func, insert, select

from gateway.runtime import Runtime
from gateway.services import maintenance, register_service
from gateway.services.retention import RETENTION_ACTION, apply_retention
from gateway.store import repository
from gateway.store import retention as retention_store
from gateway.store.tables import MailDelivery, MailMessage
from routing.enums import (
    AlertStatus,
    Channel,
    DeliveryStatus,
    FlagKind,
    IdentityKind,
    Mode,
    Outcome,
    RetentionCategory,
    Role,
)
from routing.lifecycle import Actor
from routing.models import Alert, AuditEntry, ContactEvent, Customer, Flag, Identity, Restriction
from tests.integration.test_maintenance import DORMANT_AT, RETENTION_ENDS, dormant_since, in_force

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
LONG_AGO = NOW - relativedelta(months=13)  # past the 12-month contact retention
RECENTLY = NOW - relativedelta(months=11)
STRANGER = "someone@example.org"


@pytest.fixture
def staff(make_staff: Callable[[str, Role], Actor]) -> dict[str, Actor]:
    return {
        "manager": make_staff("manager@council.example.org", Role.MANAGER),
        "approver": make_staff("approver@council.example.org", Role.APPROVER),
    }


def identity(rt: Runtime, value: str, kind: IdentityKind = IdentityKind.EMAIL) -> int:
    with rt.uow() as session:
        found = repository.find_identity(session, kind, value)
        if found is None:
            found = Identity(kind=kind, value=value, created_at=LONG_AGO)
            session.add(found)
            session.flush()
        return found.id


def contact(rt: Runtime, identity_id: int, at: dt.datetime, *, flagged: bool = False) -> int:
    with rt.uow() as session:
        event = ContactEvent(
            occurred_at=at,
            channel=Channel.PHONE if flagged else Channel.EMAIL,
            source="test",
            source_key=f"{identity_id}-{at.isoformat()}-{flagged}",
            identity_id=identity_id,
            from_value="x",
            to_value="housing@council.example.org",
            outcome=Outcome.FLAG if flagged else Outcome.DELIVER,
            reasons=[],
        )
        session.add(event)
        session.flush()
        if flagged:
            session.add(
                Flag(
                    contact_event_id=event.id,
                    kind=FlagKind.OUTSIDE_WINDOW,
                    mode=Mode.ENFORCE,
                    detail="outside its window",
                )
            )
        return event.id


def count(rt: Runtime, model: type, *where: object) -> int:
    with rt.uow() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def customer_identities(rt: Runtime, restriction_id: int) -> list[int]:
    with rt.uow() as session:
        customer_id = session.get(Restriction, restriction_id).customer_id
        return list(session.scalars(select(Identity.id).where(Identity.customer_id == customer_id)))


def test_contacts_of_people_no_restriction_covers_go_after_their_period(rt: Runtime) -> None:
    stranger = identity(rt, STRANGER)
    old = contact(rt, stranger, LONG_AGO, flagged=True)
    recent = contact(rt, stranger, RECENTLY)

    apply_retention(rt, NOW)

    assert count(rt, ContactEvent, ContactEvent.id == old) == 0
    assert count(rt, Flag, Flag.contact_event_id == old) == 0
    assert count(rt, ContactEvent, ContactEvent.id == recent) == 1
    assert count(rt, Identity, Identity.id == stranger) == 1  # a recent contact still names it


def test_an_address_nothing_refers_to_any_more_goes_with_its_last_contact(rt: Runtime) -> None:
    stranger = identity(rt, STRANGER)
    contact(rt, stranger, LONG_AGO)

    apply_retention(rt, NOW)

    assert count(rt, Identity, Identity.id == stranger) == 0


def test_a_restricted_customer_keeps_contacts_past_the_period(
    rt: Runtime, staff: dict[str, Actor]
) -> None:
    restriction_id = in_force(rt, staff, email="jo@example.org", now=LONG_AGO)
    [jo] = customer_identities(rt, restriction_id)
    old = contact(rt, jo, LONG_AGO)

    apply_retention(rt, NOW)

    assert count(rt, ContactEvent, ContactEvent.id == old) == 1
    assert count(rt, Identity, Identity.id == jo) == 1


def test_a_backlog_longer_than_a_batch_goes_whole_and_the_held_contacts_between_stay(
    rt: Runtime, staff: dict[str, Actor]
) -> None:
    # Each batch starts after the last id of the batch before: held contacts come first,
    # between and after more expired ones than a batch takes.
    restriction_id = in_force(rt, staff, email="jo@example.org", now=LONG_AGO)
    [jo] = customer_identities(rt, restriction_id)
    stranger = identity(rt, STRANGER)
    expired = [stranger] * (retention_store.BATCH + 10)
    owners = [jo] * 3 + expired[:100] + [jo] * 3 + expired[100:] + [jo] * 3
    with rt.uow() as session:
        session.execute(
            insert(ContactEvent),
            [
                {
                    "occurred_at": LONG_AGO,
                    "channel": Channel.EMAIL,
                    "source": "test",
                    "source_key": str(n),
                    "identity_id": owner,
                    "to_value": "housing@council.example.org",
                    "outcome": Outcome.DELIVER,
                    "reasons": [],
                }
                for n, owner in enumerate(owners)
            ],
        )

    apply_retention(rt, NOW)

    assert count(rt, ContactEvent, ContactEvent.identity_id == stranger) == 0
    assert count(rt, ContactEvent, ContactEvent.identity_id == jo) == 9
    assert count(rt, Identity, Identity.id == stranger) == 0


def test_mail_records_go_once_delivered_never_while_on_their_way_or_dead(rt: Runtime) -> None:
    old = NOW - dt.timedelta(days=91)
    with rt.uow() as session:
        for queue_id, status in (
            ("done", DeliveryStatus.DELIVERED),
            ("dead", DeliveryStatus.DEAD),
            ("waiting", DeliveryStatus.PENDING),
        ):
            message = MailMessage(
                queue_id=queue_id, received_at=old, envelope_from="a@example.org", size=10
            )
            session.add(message)
            session.flush()
            session.add(
                MailDelivery(
                    message_id=message.id,
                    target="spoc@council.example.org",
                    original_recipients=["housing@council.example.org"],
                    decision="redirect",
                    status=status,
                )
            )

    apply_retention(rt, NOW)

    with rt.uow() as session:
        kept = sorted(session.scalars(select(MailMessage.queue_id)).all())
        # A dead letter stays visible until a person retries it: it may be a right.
        assert kept == ["dead", "waiting"]
        assert session.scalar(select(func.count()).select_from(MailDelivery)) == 2


def test_closed_alerts_go_after_their_period_open_ones_stay(rt: Runtime) -> None:
    stranger = identity(rt, STRANGER)
    contact(rt, stranger, RECENTLY)
    with rt.uow() as session:
        closed = Alert(
            rule="emails_1d",
            identity_id=stranger,
            status=AlertStatus.DISMISSED,
            summary="11 emails in a day",
            opened_at=NOW - relativedelta(months=26),
            closed_at=NOW - relativedelta(months=25),
        )
        still_open = Alert(
            rule="emails_7d",
            identity_id=stranger,
            summary="31 emails in a week",
            opened_at=NOW - relativedelta(months=26),
        )
        session.add_all([closed, still_open])
        session.flush()
        closed_id, open_id = closed.id, still_open.id

    apply_retention(rt, NOW)

    assert count(rt, Alert, Alert.id == closed_id) == 0
    assert count(rt, Alert, Alert.id == open_id) == 1


def test_deleting_is_audited_by_counts_alone_and_a_second_run_deletes_nothing(
    rt: Runtime,
) -> None:
    stranger = identity(rt, STRANGER)
    contact(rt, stranger, LONG_AGO)
    contact(rt, stranger, LONG_AGO - dt.timedelta(days=1))

    assert apply_retention(rt, NOW) == 3
    assert apply_retention(rt, NOW) == 0

    with rt.uow() as session:
        [entry] = session.scalars(
            select(AuditEntry).where(AuditEntry.action == RETENTION_ACTION)
        ).all()
    assert entry.detail == {
        "contacts": 2,
        "mail_records": 0,
        "closed_alerts": 0,
        "audit_entries": 0,
        "identities": 1,
    }
    assert STRANGER not in json.dumps([entry.detail, entry.subject_ref])


def test_purging_the_last_restriction_takes_the_persons_contacts_and_identities(
    rt: Runtime, staff: dict[str, Actor]
) -> None:
    restriction_id = dormant_since(rt, staff, DORMANT_AT)
    [jo] = customer_identities(rt, restriction_id)
    contact(rt, jo, DORMANT_AT, flagged=True)
    with rt.uow() as session:
        customer_id = session.get(Restriction, restriction_id).customer_id

    assert maintenance.purge_after_retention(rt, RETENTION_ENDS) == 1

    assert count(rt, ContactEvent, ContactEvent.identity_id == jo) == 0
    assert count(rt, Identity, Identity.id == jo) == 0
    with rt.uow() as session:
        customer = session.get(Customer, customer_id)
        assert (customer.name, customer.customer_ref) == (None, None)
        [entry] = repository.audit_entries(session, action_prefix="customer.anonymised")
    assert entry.detail == {"mail_records": 0, "contacts": 1, "alerts": 0, "identities": 1}


@pytest.mark.parametrize("keeper", ["legal_hold", "retention_category"])
def test_a_hold_or_a_retention_category_keeps_the_case_and_the_persons_records(
    rt: Runtime, staff: dict[str, Actor], keeper: str
) -> None:
    restriction_id = dormant_since(rt, staff, DORMANT_AT)
    [jo] = customer_identities(rt, restriction_id)
    contact(rt, jo, DORMANT_AT)
    with rt.uow() as session:
        if keeper == "legal_hold":
            register_service.set_legal_hold(
                session, staff["approver"], DORMANT_AT, restriction_id, hold=True, reason="Claim"
            )
        else:
            session.get(
                Restriction, restriction_id
            ).retention_category = RetentionCategory.REPEATED_HISTORY

    later = RETENTION_ENDS + relativedelta(months=6)
    assert maintenance.purge_after_retention(rt, later) == 0
    apply_retention(rt, later)

    assert count(rt, ContactEvent, ContactEvent.identity_id == jo) == 1
    assert count(rt, Identity, Identity.id == jo) == 1


def test_a_purged_restriction_on_record_changes_nothing_about_who_is_kept(
    rt: Runtime, staff: dict[str, Actor]
) -> None:
    # A purged restriction names no customer: the kept-customers list has a NULL in it.
    dormant_since(rt, staff, DORMANT_AT)
    assert maintenance.purge_after_retention(rt, RETENTION_ENDS) == 1
    stranger = identity(rt, STRANGER)
    old = contact(rt, stranger, LONG_AGO)

    apply_retention(rt, NOW)

    assert count(rt, ContactEvent, ContactEvent.id == old) == 0


def test_an_open_safeguarding_alert_keeps_the_records_of_a_purged_case(
    rt: Runtime, staff: dict[str, Actor]
) -> None:
    restriction_id = dormant_since(rt, staff, DORMANT_AT)
    [jo] = customer_identities(rt, restriction_id)
    event = contact(rt, jo, RETENTION_ENDS - dt.timedelta(days=1))
    with rt.uow() as session:
        customer_id = session.get(Restriction, restriction_id).customer_id
        session.add(
            Alert(
                rule="safeguarding",
                urgent=True,
                customer_id=customer_id,
                summary="A person must read it now.",
                opened_at=RETENTION_ENDS - dt.timedelta(days=1),
            )
        )

    assert maintenance.purge_after_retention(rt, RETENTION_ENDS) == 1

    assert count(rt, ContactEvent, ContactEvent.id == event) == 1
    assert count(rt, Alert, Alert.customer_id == customer_id) == 1
    assert count(rt, Identity, Identity.id == jo) == 1


def test_purging_one_person_leaves_contacts_another_persons_restriction_claimed(
    rt: Runtime, staff: dict[str, Actor]
) -> None:
    restriction_id = dormant_since(rt, staff, DORMANT_AT)
    [jo] = customer_identities(rt, restriction_id)
    other = in_force(rt, staff, email="pat@example.org", now=DORMANT_AT)
    with rt.uow() as session:
        pats = session.get(Restriction, other).customer_id
    # Jo's address wrote, but Pat's restriction matched (through Reply-To, say).
    claimed = contact(rt, jo, DORMANT_AT)
    with rt.uow() as session:
        session.get(ContactEvent, claimed).customer_id = pats

    maintenance.purge_after_retention(rt, RETENTION_ENDS)

    assert count(rt, ContactEvent, ContactEvent.id == claimed) == 1
