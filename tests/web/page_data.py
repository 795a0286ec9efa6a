"""Data for the later staff pages, made the way the service makes it: contact events as the
channels record them, evaluated by the contact volume job into a real alert; a call flagged by
the call recorder's engine; API tokens through gateway/accounts.py."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, insert, select

from gateway.calls.live import CallInput, record_call
from gateway.mail.message import read_subject
from gateway.runtime import Runtime
from gateway.services import register_service, volume
from gateway.store import spoc_queue
from gateway.store.tables import SpocItem
from routing.enums import Category, Channel, EmailMeasure, IdentityKind, Outcome, Stage
from routing.lifecycle import Actor
from routing.models import Alert, ContactEvent, Customer, Identity, utcnow
from routing.terms import RestrictionDraft

HOUSING = "housing@council.example.org"
MAIN_LINE = "+441632960100"


def earlier_today(rt: Runtime, minutes: int) -> dt.datetime:
    """A few minutes ago, but never before midnight in the council's time zone: a call
    "earlier today" must be on today's call flags, and inside terms that started today, also
    when the test runs just after midnight."""
    now = utcnow()
    midnight = dt.datetime.combine(rt.today(now), dt.time(), rt.timezone).astimezone(dt.UTC)
    return max(now - dt.timedelta(minutes=minutes), midnight)


def email_identity(rt: Runtime, customer_id: int) -> int:
    """The id of the customer's (first) email address."""
    with rt.uow() as session:
        return session.scalar(
            select(Identity.id)
            .where(Identity.customer_id == customer_id, Identity.kind == IdentityKind.EMAIL)
            .order_by(Identity.id)
        )


def raise_email_alert(rt: Runtime, identity_id: int, end: dt.datetime, count: int = 11) -> int:
    """`count` emails in the hours up to `end` (over the default 10 a day), evaluated by the
    contact volume job: returns the id of the alert it opened."""
    rows = [
        {
            "occurred_at": end - dt.timedelta(minutes=20 * (count - 1 - n)),
            "channel": Channel.EMAIL,
            "source": "test",
            "source_key": f"alert-{identity_id}-{end.isoformat()}-{n}",
            "identity_id": identity_id,
            "to_value": HOUSING,
            "outcome": Outcome.DELIVER,
            "reasons": [],
        }
        for n in range(count)
    ]
    with rt.uow() as session:
        statement = insert(ContactEvent).returning(ContactEvent.id, sort_by_parameter_order=True)
        ids = list(session.scalars(statement, rows))
    volume.evaluate(rt, ids, now=end)
    with rt.uow() as session:
        return session.scalar(
            select(Alert.id).where(Alert.rule == "emails_1d").order_by(Alert.id.desc())
        )


def call_in(rt: Runtime, caller: str, at: dt.datetime, line: str = MAIN_LINE) -> list[str]:
    """A call reported as the telephony platform reports one (the live call API's function);
    returns the kinds of the flags it got."""
    result = record_call(
        rt,
        CallInput(caller=caller, called=line, started_at=at, duration_seconds=240),
        actor="token:telephony",
        source="api",
    )
    return [flag.kind for flag in result.flags]


def unlinked_identity(rt: Runtime, address: str) -> int:
    """An email address the gateway has seen but nobody has linked to a customer yet."""
    with rt.uow() as session:
        identity = Identity(kind=IdentityKind.EMAIL, value=address)
        session.add(identity)
        session.flush()
        return identity.id


def email_identity_of(rt: Runtime, address: str) -> int:
    """The id of a stored email address (already normalised)."""
    with rt.uow() as session:
        return session.scalar(
            select(Identity.id).where(
                Identity.kind == IdentityKind.EMAIL, Identity.value == address
            )
        )


def restrictions_due_for_review(
    rt: Runtime, manager: Actor, approver: Actor, customer_id: int, count: int
) -> list[str]:
    """`count` restrictions in force for the customer, proposed and approved as staff do,
    each with a review due within the fortnight (a few overdue); returns their references,
    soonest review first."""
    now = utcnow()
    today = rt.today(now)
    due: list[tuple[dt.date, str]] = []
    with rt.uow() as session:
        customer = session.get(Customer, customer_id)
        for n in range(count):
            draft = RestrictionDraft(
                stage=Stage.WARNING,
                category=Category.C,
                starts_on=dt.date(2026, 1, 1),
                email_measure=EmailMeasure.COPY,
                spoc_email="spoc@council.example.org",
            )
            restriction = register_service.draft_restriction(session, manager, now, customer, draft)
            register_service.submit(session, manager, now, restriction.id)
            register_service.approve(
                session, approver, now, restriction.id, today=today, appeal_days=14
            )
            restriction.next_review_on = today + dt.timedelta(days=(n % 17) - 3)
            due.append((restriction.next_review_on, restriction.reference))
    return [reference for _, reference in sorted(due)]


def spoc_item(
    rt: Runtime,
    customer_id: int,
    reference: str,
    data: bytes,
    *,
    spoc_email: str = "spoc@council.example.org",
    received_at: dt.datetime | None = None,
    due_on: dt.date | None = None,
) -> int:
    """A SPOC queue item as the intake stores it (tests/integration/test_spoc_queue.py
    makes them through real SMTP); returns its id."""
    received_at = received_at or utcnow()
    row = {
        "queue_id": f"test-{received_at.timestamp()}-{len(data)}",
        "received_at": received_at,
        "customer_id": customer_id,
        "restriction_ref": reference,
        "spoc_email": spoc_email,
        "decision": "redirect",
        "sender": "jo.example@example.org",
        "addressed_to": ["housing@council.example.org"],
        "subject": read_subject(data),
        "message": data,
        "size": len(data),
        "due_on": due_on or rt.today(received_at),
    }
    with rt.uow() as session:
        spoc_queue.insert_items(session.connection(), [row])
        return session.scalar(select(func.max(SpocItem.id))) or 0
