"""Contact volume alerts from real traffic: mail sent over SMTP through the running gateway,
and a real call-log file imported (SQLite and PostgreSQL).

Both channels queue the same evaluation job after their transaction commits; these tests
wait for the in-process jobs and look at the alerts the job opened, nothing else.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from gateway.calls import import_file
from gateway.jobs.queue import InProcessQueue
from gateway.runtime import Runtime
from routing.enums import AlertStatus, Direction, EmailMeasure, IdentityKind, Role
from routing.lifecycle import Actor
from routing.models import Alert, ContactEvent, Identity
from tests.integration.register_helpers import impose_restriction
from tests.integration.smtp_helpers import send, settled

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "calls"
SENDER = "pat.persistent@example.org"
RESTRICTED = "jo.example@example.org"
OTHER = "someone.else@example.org"
HOUSING = "housing@council.example.org"
TAX = "counciltax@council.example.org"
CALLER = "+447700900444"


def volume_alerts(rt: Runtime) -> dict[str, Alert]:
    with rt.uow() as session:
        found = session.scalars(
            select(Alert).where(Alert.person_key.is_not(None), Alert.status == AlertStatus.OPEN)
        )
        return {alert.rule: alert for alert in found}


def identity_id(rt: Runtime, kind: IdentityKind, value: str) -> int:
    with rt.uow() as session:
        found = session.scalar(
            select(Identity.id).where(Identity.kind == kind, Identity.value == value)
        )
    assert found is not None
    return found


# --- mail ----------------------------------------------------------------------------------------


def test_mail_through_the_gateway_raises_volume_alerts(gateway: Runtime) -> None:
    same = "Please fix my boiler, it has been broken for weeks."
    # Six different emails (one to two mailboxes at once, which is one email), then the same
    # words four times, each sent a little differently: same content, fourth time over 3.
    for n in range(5):
        send(gateway, SENDER, [HOUSING], f"Question number {n} about my tenancy.")
    send(gateway, SENDER, [HOUSING, TAX], "Copied to both of you.")
    send(gateway, SENDER, [HOUSING], same)
    send(gateway, SENDER, [HOUSING], f"{same}\r\n\r\nSent from my iPhone")
    send(gateway, SENDER, [TAX], f"  {same.upper()}\r\n-- \r\nPat")
    send(gateway, SENDER, [HOUSING], f"{same}\r\n\r\nOn Monday, Housing wrote:\r\n> Thanks")
    settled(gateway)
    person = f"i:{identity_id(gateway, IdentityKind.EMAIL, SENDER)}"
    found = volume_alerts(gateway)
    assert set(found) == {"same_content_14d"}  # 10 emails: not over emails_1d's 10
    assert found["same_content_14d"].person_key == person
    assert found["same_content_14d"].evidence["value"] == 4

    # An FOI request from this unrestricted sender is recorded, flagged, and not counted.
    send(gateway, SENDER, [HOUSING], "Please send the figures.", "Freedom of Information request")
    settled(gateway)
    assert "emails_1d" not in volume_alerts(gateway)
    with gateway.uow() as session:
        statutory = session.scalars(select(ContactEvent).where(ContactEvent.statutory)).all()
    assert len(statutory) == 1

    send(gateway, SENDER, [HOUSING], "One more question.")
    settled(gateway)
    emails = volume_alerts(gateway)["emails_1d"]
    assert (emails.person_key, emails.evidence["value"]) == (person, 11)
    assert emails.evidence["event_count"] == 12  # the message to two mailboxes: two events
    assert emails.summary.startswith("More than 10 emails in any 24 hours: 11 emails from ")
    assert SENDER not in emails.summary and SENDER not in str(emails.evidence)


def test_a_restricted_customers_mail_is_counted_for_the_customer(
    gateway: Runtime, make_staff: Callable[[str, Role], Actor]
) -> None:
    manager = make_staff("manager@council.example.org", Role.MANAGER)
    approver = make_staff("approver@council.example.org", Role.APPROVER)
    impose_restriction(
        gateway,
        manager,
        approver,
        [(RESTRICTED, IdentityKind.EMAIL)],
        email_measure=EmailMeasure.REDIRECT,
    )
    for n in range(11):
        send(gateway, RESTRICTED, [HOUSING], f"Message {n}")
    settled(gateway)
    alert = volume_alerts(gateway)["emails_1d"]
    assert alert.customer_id is not None and alert.person_key == f"c:{alert.customer_id}"


# --- call logs -----------------------------------------------------------------------------------


def test_an_imported_call_log_raises_volume_alerts(rt: Runtime) -> None:
    report = import_file(rt, FIXTURES / "asterisk_volume.csv")
    assert (report.rows_imported, report.rows_bad) == (9, 0)
    assert isinstance(rt.jobs, InProcessQueue)
    assert rt.jobs.join(timeout=60)  # the import queued its jobs as each batch committed

    found = volume_alerts(rt)
    assert set(found) == {"calls_1d", "call_minutes_1d"}
    caller = identity_id(rt, IdentityKind.PHONE, CALLER)
    calls, minutes = found["calls_1d"], found["call_minutes_1d"]
    assert calls.person_key == minutes.person_key == f"i:{caller}"
    assert calls.evidence["value"] == 7  # the council's own call to them is not counted
    assert minutes.evidence["value"] == 72
    assert calls.evidence["series"][-1] == {"day": "2026-11-17", "value": 7}
    with rt.uow() as session:
        outbound = session.scalar(
            select(ContactEvent.id).where(ContactEvent.direction == Direction.OUTBOUND)
        )
    assert outbound not in calls.evidence["events"]

    # Importing the same file again adds nothing and opens nothing more.
    import_file(rt, FIXTURES / "asterisk_volume.csv")
    assert rt.jobs.join(timeout=60)
    assert {a.id for a in volume_alerts(rt).values()} == {calls.id, minutes.id}
    assert calls.opened_at.date() == dt.datetime.now(dt.UTC).date()
