"""A dormant case contacting again opens an urgent alert to reconsider it, once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from sqlalchemy import select

from gateway.runtime import Runtime
from gateway.services import maintenance, register_service, volume
from gateway.store import repository
from routing.alerts import RECONTACT
from routing.enums import Channel, EmailMeasure, IdentityKind, Outcome, Role, Stage
from routing.lifecycle import Actor
from routing.models import Alert, ContactEvent, Restriction, utcnow
from tests.integration.test_maintenance import dormant_since, in_force

DORMANT_AT = utcnow() - dt.timedelta(days=60)


@pytest.fixture
def staff(make_staff: Callable[[str, Role], Actor]) -> dict[str, Actor]:
    return {
        "manager": make_staff("manager@council.example.org", Role.MANAGER),
        "approver": make_staff("approver@council.example.org", Role.APPROVER),
    }


def email_from(rt: Runtime, address: str, at: dt.datetime, *, statutory: bool = False) -> int:
    """A contact event as the gateway records one, then the job it queues evaluates it."""
    with rt.uow() as session:
        identity = repository.find_identity(session, IdentityKind.EMAIL, address)
        event = ContactEvent(
            occurred_at=at,
            channel=Channel.EMAIL,
            source="smtp",
            source_key=f"{address}-{at.isoformat()}",
            identity_id=identity.id,
            from_value=address,
            to_value="housing@council.example.org",
            outcome=Outcome.DELIVER,
            reasons=[],
            statutory=statutory,
        )
        session.add(event)
        session.flush()
        event_id = event.id
    volume.evaluate(rt, [event_id])
    return event_id


def reconsiderations(rt: Runtime) -> list[Alert]:
    with rt.uow() as session:
        return list(session.scalars(select(Alert).where(Alert.rule == RECONTACT)))


def test_contact_after_a_case_went_dormant_asks_a_manager_to_reconsider_once(
    rt: Runtime, staff: dict[str, Actor]
) -> None:
    restriction_id = dormant_since(rt, staff, DORMANT_AT)
    with rt.uow() as session:
        reference = session.get(Restriction, restriction_id).reference

    email_from(rt, "jo.example@example.org", utcnow())
    email_from(rt, "jo.example@example.org", utcnow() + dt.timedelta(minutes=5))

    [alert] = reconsiderations(rt)
    assert alert.urgent and alert.customer_id is not None
    assert reference in alert.summary and "reconsider" in alert.summary
    volume.rescan(rt, actor="test")  # a rescan rebuilds volume alerts, not this one
    assert len(reconsiderations(rt)) == 1


def test_contact_under_a_restriction_in_force_asks_nothing(
    rt: Runtime, staff: dict[str, Actor]
) -> None:
    in_force(rt, staff, email="sam@example.org", now=utcnow())
    email_from(rt, "sam@example.org", utcnow())
    assert reconsiderations(rt) == []


def test_a_statutory_request_from_a_dormant_case_asks_nothing(
    rt: Runtime, staff: dict[str, Actor]
) -> None:
    dormant_since(rt, staff, DORMANT_AT)
    email_from(rt, "jo.example@example.org", utcnow(), statutory=True)
    assert reconsiderations(rt) == []


def test_the_earlier_terms_of_a_varied_restriction_going_dormant_ask_nothing(
    rt: Runtime, staff: dict[str, Actor]
) -> None:
    restriction_id = in_force(rt, staff, email="pat@example.org", now=DORMANT_AT)
    with rt.uow() as session:
        register_service.vary(
            session,
            staff["approver"],
            DORMANT_AT,
            restriction_id,
            {"stage": Stage.STAGE2, "email_measure": EmailMeasure.FILE},
            today=rt.today(DORMANT_AT),
            reason="Contact continued",
        )
    assert maintenance.make_ended_dormant(rt, utcnow()) == 1  # revision 1 goes dormant

    email_from(rt, "pat@example.org", utcnow())

    assert reconsiderations(rt) == []
