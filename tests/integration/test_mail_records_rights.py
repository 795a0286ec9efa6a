"""The gateway's records of a person's mail (sender, each copy, where it went and why) are
part of their subject access export, and go when the person is erased; mail still on its
way, or held as a dead letter, keeps the person from being erased until a person deals
with it. Mail is sent over real SMTP through the running gateway into Maildirs."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select, update

from gateway.runtime import Runtime
from gateway.services import people, register_service
from gateway.services.people import ErasureRefused
from gateway.services.subject_access import export_person
from gateway.store import repository
from gateway.store.tables import MailDelivery, MailMessage
from routing.enums import DeliveryStatus, EmailMeasure, IdentityKind, Role
from routing.lifecycle import Actor
from routing.models import utcnow
from tests.integration.register_helpers import SPOC, impose_restriction
from tests.integration.smtp_helpers import send, settled
from tests.polling import wait_until

JO = "jo.example@example.org"
FREE = "free.person@example.org"
STRANGER = "one.off@example.org"
HOUSING = "housing@council.example.org"


@pytest.fixture
def staff(make_staff: Callable[[str, Role], Actor]) -> dict[str, Actor]:
    return {
        "manager": make_staff("manager@council.example.org", Role.MANAGER),
        "approver": make_staff("approver@council.example.org", Role.APPROVER),
        "ig": make_staff("ig@council.example.org", Role.IG),
    }


def delivered(rt: Runtime, sender: str) -> list[MailMessage]:
    """The sender's messages, once every copy of each has been delivered."""

    def all_delivered() -> list[MailMessage] | None:
        with rt.uow() as session:
            found = session.scalars(
                select(MailMessage).where(MailMessage.envelope_from == sender)
            ).all()
            statuses = {copy.status for m in found for copy in m.deliveries}
            session.expunge_all()
        return list(found) if found and statuses == {DeliveryStatus.DELIVERED} else None

    return wait_until(all_delivered, 30, f"{sender}'s mail delivered")


def test_the_export_holds_each_message_and_where_every_copy_went(
    gateway: Runtime, staff: dict[str, Actor], tmp_path: Path
) -> None:
    impose_restriction(
        gateway, staff["manager"], staff["approver"], [(JO, IdentityKind.EMAIL)],
        email_measure=EmailMeasure.REDIRECT,
    )  # fmt: skip
    gateway.register.invalidate()
    send(gateway, JO, [HOUSING], "About my repair")
    settled(gateway)
    [message] = delivered(gateway, JO)

    summary = export_person(gateway, JO, tmp_path / "jo.zip", actor="ig@council.example.org")

    assert summary.mail_records == 1
    with zipfile.ZipFile(summary.path) as archive:
        document = json.loads(archive.read("person.json"))
        rows = list(csv.DictReader(io.StringIO(archive.read("mail.csv").decode())))
        page = archive.read("summary.html").decode()
    [record] = document["mail"]
    assert (record["queue_id"], record["envelope_from"]) == (message.queue_id, JO)
    assert [(c["to"], c["addressed_to"], c["decision"], c["status"]) for c in record["copies"]] == [
        (SPOC, [HOUSING], "redirect", "delivered")
    ]
    assert [(r["copy_to"], r["addressed_to"], r["decision"]) for r in rows] == [
        (SPOC, HOUSING, "redirect")
    ]
    assert "Email the gateway recorded (1)" in page
    # Only Jo's: the marker mail another sender sent is not in her export.
    assert {r["envelope_from"] for r in rows} == {JO}


def test_erasing_a_person_deletes_the_records_of_their_mail_and_nobody_elses(
    gateway: Runtime, staff: dict[str, Actor]
) -> None:
    now = utcnow()
    with gateway.uow() as session:
        customer = register_service.add_customer(session, staff["manager"], now, name="Free")
        register_service.link_raw_identity(
            session, staff["manager"], now, customer, FREE, IdentityKind.EMAIL,
            fold_plus=True, region="GB",
        )  # fmt: skip
        customer_id = customer.id
    send(gateway, FREE, [HOUSING], "Bin collection")
    send(gateway, STRANGER, [HOUSING], "Pothole")
    settled(gateway)
    [free_mail] = delivered(gateway, FREE)
    delivered(gateway, STRANGER)

    with gateway.uow() as session:
        person = people.person_by_customer(session, customer_id)
        counts = people.erase_person(session, staff["ig"], utcnow(), person)

    assert counts["mail_records"] == 1
    with gateway.uow() as session:
        left = set(session.scalars(select(MailMessage.envelope_from)))
        copies = session.scalars(
            select(MailDelivery).where(MailDelivery.message_id == free_mail.id)
        ).all()
    assert FREE not in left and STRANGER in left
    assert copies == []


def test_a_dead_letter_keeps_its_sender_from_being_erased_until_it_is_dealt_with(
    gateway: Runtime, staff: dict[str, Actor]
) -> None:
    send(gateway, STRANGER, [HOUSING], "Please send me copies of the data you hold on me")
    settled(gateway)
    [message] = delivered(gateway, STRANGER)
    # As the delivery job leaves a copy that failed for good: dead, for a person to retry.
    with gateway.uow() as session:
        session.execute(
            update(MailDelivery)
            .where(MailDelivery.message_id == message.id)
            .values(status=DeliveryStatus.DEAD)
        )
        identity = repository.find_identity(session, IdentityKind.EMAIL, STRANGER)
        identity_id = identity.id

    with gateway.uow() as session, pytest.raises(ErasureRefused) as refused:
        people.erase_person(
            session, staff["ig"], utcnow(), people.person_by_identity(session, identity_id)
        )
    assert "1 message from this person is still on the way" in str(refused.value.reasons)
    with gateway.uow() as session:
        assert session.get(MailMessage, message.id) is not None
        assert repository.find_identity(session, IdentityKind.EMAIL, STRANGER) is not None
