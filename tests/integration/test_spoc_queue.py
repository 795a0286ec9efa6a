"""The SPOC's queue end to end: mail from a real SMTP client that a restriction redirects,
copies, files or refuses becomes an item; a SPOC opens it (read, audited), records an
outcome, and it leaves the overdue list; retention deletes it when its period ends; the
digest of what is due reaches a real downstream on the restriction's response timetable
(the clock driven, never slept on)."""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update

from gateway.runtime import Runtime
from gateway.services import people
from gateway.services import retention as retention_service
from gateway.services import spoc_queue as queue_service
from gateway.services.spoc_digest import send_digests
from gateway.services.subject_access import export_person
from gateway.settings import Settings
from gateway.store import spoc_queue
from gateway.store.tables import MailMessage, SpocItem
from routing.audit import AuditAction
from routing.enums import (
    EmailMeasure,
    IdentityKind,
    Mode,
    ResponseTimetable,
    RestrictionStatus,
    Role,
)
from routing.lifecycle import Actor
from routing.models import Alert, AuditEntry, Restriction, utcnow
from routing.spoc import ItemOutcome, OutcomeChoice, OutcomeRefused
from tests.integration.register_helpers import SPOC, impose_restriction
from tests.integration.smtp_helpers import ReceivedMail, RecordingDownstream
from tests.integration.test_gateway import (
    CUSTOMER,
    HOUSING,
    OTHER,
    delivered,
    raw_message,
    running_gateway,
    send,
)
from tests.polling import wait_until


@pytest.fixture
def gateway_rt(settings: Settings, tmp_path: Path) -> Iterator[Runtime]:
    with running_gateway(settings, tmp_path, f"maildir:{tmp_path / 'mail'}") as rt:
        yield rt


@pytest.fixture
def restrict(gateway_rt: Runtime, make_staff: Callable[[str, Role], Actor]):
    """restrict(**terms): a restriction on CUSTOMER in force (as test_gateway's fixture)."""
    manager, approver = staff_pair(make_staff)
    return lambda **terms: impose_restriction(
        gateway_rt, manager, approver, [(CUSTOMER, IdentityKind.EMAIL)], **terms
    )


def staff_pair(make_staff: Callable[[str, Role], Actor]) -> tuple[Actor, Actor]:
    """A manager to propose and a different approver to approve."""
    return (
        make_staff("manager@council.example.org", Role.MANAGER),
        make_staff("approver@council.example.org", Role.APPROVER),
    )


@pytest.fixture
def spoc(make_staff: Callable[[str, Role], Actor]) -> Actor:
    """The SPOC the restrictions name, a caseworker with a staff account."""
    return make_staff(SPOC, Role.MANAGER)


def items(rt: Runtime) -> list[SpocItem]:
    with rt.uow() as session:
        found = list(session.scalars(select(SpocItem).order_by(SpocItem.id)))
        session.expunge_all()
        return found


def audit_actions(rt: Runtime, subject_ref: str) -> list[str]:
    with rt.uow() as session:
        query = select(AuditEntry.action).where(
            AuditEntry.subject_type == "spoc_item", AuditEntry.subject_ref == subject_ref
        )
        return list(session.scalars(query.order_by(AuditEntry.id)))


@pytest.mark.parametrize(
    ("measure", "reply"),
    [
        (EmailMeasure.REDIRECT, 250),
        (EmailMeasure.COPY, 250),
        (EmailMeasure.FILE, 250),
        (EmailMeasure.REJECT, 550),
    ],
)
def test_each_routed_message_becomes_one_item_for_its_spoc(
    gateway_rt: Runtime, restrict, measure: EmailMeasure, reply: int
) -> None:
    reference = restrict(email_measure=measure)
    data = raw_message(CUSTOMER, HOUSING, subject="=?utf-8?q?Bins_=C2=A3?=")
    code, _ = send(gateway_rt, CUSTOMER, [HOUSING], data)
    assert code == reply
    [item] = items(gateway_rt)
    assert (item.restriction_ref, item.spoc_email, item.sender) == (reference, SPOC, CUSTOMER)
    assert item.addressed_to == [HOUSING]
    assert item.subject == "Bins £"
    assert item.decision == measure.value
    assert item.message == data
    assert item.read_at is None and item.outcome is None


def test_unrestricted_and_shadow_mail_make_no_item(gateway_rt: Runtime, restrict) -> None:
    restrict(email_measure=EmailMeasure.REDIRECT, mode=Mode.SHADOW)
    assert send(gateway_rt, CUSTOMER, [HOUSING], raw_message(CUSTOMER, HOUSING))[0] == 250
    assert send(gateway_rt, OTHER, [HOUSING], raw_message(OTHER, HOUSING))[0] == 250
    assert items(gateway_rt) == []


def test_the_queue_copy_stays_after_delivery_is_done_and_its_records_deleted(
    gateway_rt: Runtime, restrict
) -> None:
    restrict(email_measure=EmailMeasure.REDIRECT)
    send(gateway_rt, CUSTOMER, [HOUSING], raw_message(CUSTOMER, HOUSING))
    assert len(delivered(gateway_rt, SPOC)) == 1
    # Past the mail records' period but within the queue's: the mail record goes, the item
    # stays; past the queue's period, the item goes too.
    later = utcnow() + dt.timedelta(days=gateway_rt.settings.mail_record_days + 1)
    retention_service.apply_retention(gateway_rt, later)
    with gateway_rt.uow() as session:
        assert session.scalars(select(MailMessage)).all() == []
    assert len(items(gateway_rt)) == 1
    much_later = utcnow() + dt.timedelta(days=gateway_rt.settings.spoc_item_days + 1)
    retention_service.apply_retention(gateway_rt, much_later)
    assert items(gateway_rt) == []


def test_a_spoc_opens_an_item_records_an_outcome_and_it_leaves_the_overdue_list(
    gateway_rt: Runtime, restrict, spoc: Actor
) -> None:
    restrict(email_measure=EmailMeasure.REDIRECT)
    html = (
        "Content-Type: text/html; charset=utf-8\r\n\r\n"
        "<p>My bin</p><script>alert(1)</script><p>was <b>not</b> emptied</p>\r\n"
    )
    data = raw_message(CUSTOMER, HOUSING, body="", extra="MIME-Version: 1.0\r\n")
    data = data.replace(b"\r\n\r\n", b"\r\n" + html.encode(), 1)
    send(gateway_rt, CUSTOMER, [HOUSING], data)
    [item] = items(gateway_rt)
    later = utcnow() + dt.timedelta(days=gateway_rt.settings.spoc_response_days + 2)
    today = gateway_rt.today(later)

    with gateway_rt.uow() as session:
        overdue, _ = queue_service.list_items(
            session, spoc, later, today, show=spoc_queue.Show.OVERDUE, mine=True
        )
        assert [row.id for row in overdue] == [item.id]
        assert spoc_queue.counts(session, today, SPOC) == spoc_queue.QueueCounts(1, 1)
    with gateway_rt.uow() as session:
        opened = queue_service.open_item(session, spoc, later, item.id)
        assert opened.first_reading
        assert opened.message.from_html
        assert opened.message.text == "My bin\n\nwas not emptied"
    with gateway_rt.uow() as session:
        queue_service.record_outcome(
            gateway_rt,
            session,
            spoc,
            later,
            item.id,
            OutcomeChoice(ItemOutcome.NEW_MATTER, service="Waste and recycling"),
        )
    with gateway_rt.uow() as session:
        overdue, _ = queue_service.list_items(
            session, spoc, later, today, show=spoc_queue.Show.OVERDUE, mine=True
        )
        assert overdue == []
        assert spoc_queue.counts(session, today, SPOC) == spoc_queue.QueueCounts(0, 0)
    [item] = items(gateway_rt)
    assert (item.outcome, item.service, item.read_by) == (
        ItemOutcome.NEW_MATTER,
        "Waste and recycling",
        SPOC,
    )
    assert audit_actions(gateway_rt, str(item.id)) == [
        AuditAction.SPOC_ITEM_OPENED,
        AuditAction.SPOC_ITEM_OUTCOME,
    ]


def test_a_reply_due_is_overdue_after_its_date_until_the_reply_is_recorded(
    gateway_rt: Runtime, restrict, spoc: Actor
) -> None:
    restrict(email_measure=EmailMeasure.COPY)
    send(gateway_rt, CUSTOMER, [HOUSING], raw_message(CUSTOMER, HOUSING))
    [item] = items(gateway_rt)
    now = utcnow()
    due = gateway_rt.today(now) + dt.timedelta(days=2)
    with gateway_rt.uow() as session:
        queue_service.record_outcome(
            gateway_rt,
            session,
            spoc,
            now,
            item.id,
            OutcomeChoice(ItemOutcome.REPLY_DUE, reply_due_on=due),
        )
    with gateway_rt.uow() as session:
        assert spoc_queue.counts(session, due, SPOC).overdue == 0
        assert spoc_queue.counts(session, due + dt.timedelta(days=1), SPOC).overdue == 1
        queue_service.record_outcome(
            gateway_rt, session, spoc, now, item.id, OutcomeChoice(ItemOutcome.REPLIED)
        )
    with gateway_rt.uow() as session:
        assert spoc_queue.counts(session, due + dt.timedelta(days=1), SPOC).overdue == 0


def test_outcomes_missing_what_they_need_are_refused(
    gateway_rt: Runtime, restrict, spoc: Actor, make_staff
) -> None:
    restrict(email_measure=EmailMeasure.REDIRECT)
    send(gateway_rt, CUSTOMER, [HOUSING], raw_message(CUSTOMER, HOUSING))
    [item] = items(gateway_rt)
    now = utcnow()
    refusals = {
        "say which service": OutcomeChoice(ItemOutcome.NEW_MATTER, service="  "),
        "give the date": OutcomeChoice(ItemOutcome.REPLY_DUE),
        "today or later": OutcomeChoice(
            ItemOutcome.REPLY_DUE, reply_due_on=gateway_rt.today(now) - dt.timedelta(days=1)
        ),
    }
    for words, choice in refusals.items():
        with pytest.raises(OutcomeRefused, match=words), gateway_rt.uow() as session:
            queue_service.record_outcome(gateway_rt, session, spoc, now, item.id, choice)
    agent = make_staff("agent@council.example.org", Role.AGENT)
    with pytest.raises(OutcomeRefused, match="only caseworkers"), gateway_rt.uow() as session:
        queue_service.open_item(session, agent, now, item.id)
    assert items(gateway_rt)[0].outcome is None


def test_a_safeguarding_referral_opens_an_urgent_alert_and_tells_the_mailbox(
    gateway_rt: Runtime, restrict, spoc: Actor
) -> None:
    restrict(email_measure=EmailMeasure.FILE)
    send(gateway_rt, CUSTOMER, [HOUSING], raw_message(CUSTOMER, HOUSING))
    [item] = items(gateway_rt)
    with gateway_rt.uow() as session:
        queue_service.record_outcome(
            gateway_rt, session, spoc, utcnow(), item.id, OutcomeChoice(ItemOutcome.SAFEGUARDING)
        )
    queue_service.send_notices_raised(gateway_rt, session)
    [item] = items(gateway_rt)
    with gateway_rt.uow() as session:
        alert = session.get(Alert, item.alert_id)
        assert alert is not None and alert.urgent and alert.rule == "safeguarding"
    with gateway_rt.uow() as session:
        raised = session.scalars(
            select(AuditEntry.subject_ref).where(AuditEntry.action == "safeguarding.raised")
        ).all()
        assert raised == [str(item.alert_id)]
    [notice] = delivered(gateway_rt, gateway_rt.settings.safeguarding_mailbox)
    assert f"/alerts/{item.alert_id}".encode() in notice
    assert CUSTOMER.encode() not in notice


def test_a_message_that_raised_a_safeguarding_alert_is_referred_through_that_alert(
    gateway_rt: Runtime, restrict, spoc: Actor
) -> None:
    restrict(email_measure=EmailMeasure.REDIRECT)
    body = "I am going to kill myself tonight.\r\n"
    send(gateway_rt, CUSTOMER, [HOUSING], raw_message(CUSTOMER, HOUSING, body=body))
    [item] = items(gateway_rt)
    with gateway_rt.uow() as session:
        [raised] = session.scalars(select(Alert.id)).all()
        queue_service.record_outcome(
            gateway_rt, session, spoc, utcnow(), item.id, OutcomeChoice(ItemOutcome.SAFEGUARDING)
        )
    assert items(gateway_rt)[0].alert_id == raised


# --- the digest on the restriction's response timetable -------------------------------------

# The restrictions start on Thursday 1 January 2026: weekly response days are Thursdays.
RESPONSE_DAY = dt.datetime(2026, 12, 10, 9, 0, tzinfo=dt.UTC)  # a Thursday, 09:00 in London
DIGEST_SUBJECT = "SPOC queue:"


def digests(downstream: RecordingDownstream) -> list[ReceivedMail]:
    return [m for m in downstream.received if m.headers["Subject"].startswith(DIGEST_SUBJECT)]


def test_the_digest_reaches_the_spoc_on_the_response_timetable(
    settings: Settings, tmp_path: Path, make_staff: Callable[[str, Role], Actor]
) -> None:
    with (
        RecordingDownstream().start() as downstream,
        running_gateway(settings, tmp_path, downstream.url) as rt,
    ):
        manager, approver = staff_pair(make_staff)
        reference = impose_restriction(
            rt, manager, approver, [(CUSTOMER, IdentityKind.EMAIL)],
            email_measure=EmailMeasure.REDIRECT, response_timetable=ResponseTimetable.WEEKLY,
        )  # fmt: skip
        data = raw_message(CUSTOMER, HOUSING, subject="Private matter", body="My words\r\n")
        assert send(rt, CUSTOMER, [HOUSING], data)[0] == 250
        [item] = items(rt)

        # Before the digest hour, and on a day that is not a response day: nothing.
        assert send_digests(rt, RESPONSE_DAY.replace(hour=6)) == 0
        assert send_digests(rt, RESPONSE_DAY + dt.timedelta(days=1)) == 0
        # The response day: one digest, once, however often the job runs.
        assert send_digests(rt, RESPONSE_DAY) == 1
        assert send_digests(rt, RESPONSE_DAY + dt.timedelta(hours=2)) == 0
        wait_until(lambda: digests(downstream), 30, "the digest at the downstream")
        [digest] = digests(downstream)
        assert digest.rcpt_tos == (SPOC,)
        text = digest.headers.get_payload(decode=True).decode()
        assert f"{reference} (responses weekly): 1 waiting" in text
        assert f"/spoc-queue/{item.id}" in text
        for private in (CUSTOMER, "Private matter", "My words"):
            assert private.encode() not in digest.data

        # Once the item has an outcome, nothing is waiting: no digest the next week.
        spoc = Actor(SPOC, Role.MANAGER)
        with rt.uow() as session:
            queue_service.record_outcome(
                rt, session, spoc, RESPONSE_DAY, item.id, OutcomeChoice(ItemOutcome.ON_FILE)
            )
        assert send_digests(rt, RESPONSE_DAY + dt.timedelta(days=7)) == 0


def test_a_restriction_without_a_timetable_sends_no_digest(gateway_rt: Runtime, restrict) -> None:
    restrict(email_measure=EmailMeasure.REDIRECT)
    send(gateway_rt, CUSTOMER, [HOUSING], raw_message(CUSTOMER, HOUSING))
    assert send_digests(gateway_rt, RESPONSE_DAY) == 0


# --- the person's rights ---------------------------------------------------------------------


def test_the_subject_access_export_holds_the_items_and_their_outcomes(
    gateway_rt: Runtime, restrict, spoc: Actor, tmp_path: Path
) -> None:
    reference = restrict(email_measure=EmailMeasure.REDIRECT)
    send(gateway_rt, CUSTOMER, [HOUSING], raw_message(CUSTOMER, HOUSING, subject="Bins again"))
    [item] = items(gateway_rt)
    with gateway_rt.uow() as session:
        queue_service.record_outcome(
            gateway_rt,
            session,
            spoc,
            utcnow(),
            item.id,
            OutcomeChoice(ItemOutcome.NEW_MATTER, service="Waste and recycling"),
        )
    out = tmp_path / "jo.zip"
    summary = export_person(gateway_rt, CUSTOMER, out, actor="ig@council.example.org")
    assert summary.spoc_items == 1
    with zipfile.ZipFile(out) as archive:
        document = json.loads(archive.read("person.json"))
        html = archive.read("summary.html").decode()
    [exported] = document["spoc_items"]
    assert (exported["subject"], exported["restriction"], exported["outcome"]) == (
        "Bins again",
        reference,
        "new_matter",
    )
    assert exported["service"] == "Waste and recycling"
    assert "Bins again" in html and "Waste and recycling" in html


def test_erasing_the_person_deletes_their_items(
    gateway_rt: Runtime, restrict, make_staff: Callable[[str, Role], Actor]
) -> None:
    restrict(email_measure=EmailMeasure.REDIRECT)
    send(gateway_rt, CUSTOMER, [HOUSING], raw_message(CUSTOMER, HOUSING))
    [item] = items(gateway_rt)
    with gateway_rt.uow() as session:
        # The restriction's retention has run out (purged): nothing keeps the person on file.
        session.execute(update(Restriction).values(status=RestrictionStatus.PURGED))
    officer = make_staff("ig@council.example.org", Role.IG)
    with gateway_rt.uow() as session:
        counts = people.erase_person(
            session, officer, utcnow(), people.person_by_customer(session, item.customer_id)
        )
    assert counts["spoc_items"] == 1
    assert items(gateway_rt) == []
