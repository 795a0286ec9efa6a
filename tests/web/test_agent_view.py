"""What a contact-centre agent sees, through the real app and database: the caller view of a
customer (restricted or not, the reference, measures and permitted times, the SPOC and the
script, and call flags), and none of the casework. Each piece of casework has its own test:
a manager's page shows it, and no page an agent can open does."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from flask import Flask, template_rendered
from sqlalchemy import select

from admin_ui.access import CALL_FLAG_READERS, CALLER_LOOKUP, CASEWORKERS, route_access
from admin_ui.caller_view import CallerView
from gateway.runtime import Runtime
from gateway.services import register_service
from routing.enums import (
    Channel,
    Direction,
    FlagKind,
    Mode,
    Outcome,
    PhoneMeasure,
    ReviewOutcome,
    Role,
)
from routing.lifecycle import Actor
from routing.models import AuditEntry, Base, ContactEvent, Identity, utcnow
from tests.web.conftest import (
    AGENT,
    APPROVER,
    CONFIDENTIAL,
    CUSTOMER_EMAIL,
    CUSTOMER_PHONE,
    MANAGER,
    SECOND_APPROVER,
    SPOC,
    Register,
    _propose,
)
from tests.web.helpers import StaffClient, text_of
from tests.web.page_data import call_in, earlier_today, email_identity, raise_email_alert

REVIEW_NOTE = "Customer agreed to use the web form (test review note)"
VARY_REASON = "Calls continued after the warning letter (test variation reason)"
LIFT_REASON = "Housing matter closed by the tribunal (test lift reason)"
REASON = "Unreasonable levels of contact (test)."  # the register fixture's restriction reason
TIMELINE_LINE = "planning@council.example.org"  # only ever contacted by email, never called
SPOC_NAME = "Customer Relations Team"


@dataclass(frozen=True)
class Casework:
    customer_id: int
    current_id: int  # the restriction in force: revision 2 (calls barred), reviewed
    first_revision_id: int  # its earlier terms, ended by the variation
    lifted_id: int  # approved, then lifted
    alert_id: int
    reference: str


@pytest.fixture
def casework(rt: Runtime, register: Register, staff: dict[str, Actor]) -> Casework:
    """The register fixture's customer with a full history: the restriction in force varied
    to bar calls (with a reason) and reviewed (with notes); the proposal approved and then
    lifted (with a reason); an email in the timeline; a barred call flagged; an open alert."""
    now = utcnow()
    today = rt.today(now)
    approver, second = staff[APPROVER], staff[SECOND_APPROVER]
    with rt.uow() as session:
        current = register_service.vary(
            session,
            second,
            now,
            register.active_id,
            {"phone_measure": PhoneMeasure.BARRED, "spoc_name": SPOC_NAME},
            today=today,
            reason=VARY_REASON,
        )
        current_id = current.id
    with rt.uow() as session:
        register_service.review(
            session,
            approver,
            now,
            current_id,
            today=today,
            outcome=ReviewOutcome.CONTINUE,
            notes=REVIEW_NOTE,
        )
        register_service.approve(
            session, approver, now, register.pending_id, today=today, appeal_days=14
        )
        register_service.lift(session, second, now, register.pending_id, reason=LIFT_REASON)
    rt.register.invalidate()
    _email_to(rt, TIMELINE_LINE, now - dt.timedelta(hours=2))
    assert call_in(rt, CUSTOMER_PHONE, earlier_today(rt, 5)) == [FlagKind.PHONE_BARRED]
    alert_id = raise_email_alert(rt, email_identity(rt, register.customer_id), now)
    return Casework(
        register.customer_id,
        current_id,
        register.active_id,
        register.pending_id,
        alert_id,
        register.reference,
    )


def _email_to(rt: Runtime, mailbox: str, at: dt.datetime) -> None:
    with rt.uow() as session:
        identity = session.scalar(select(Identity).where(Identity.value == CUSTOMER_EMAIL))
        session.add(
            ContactEvent(
                occurred_at=at,
                channel=Channel.EMAIL,
                direction=Direction.INBOUND,
                source="test",
                source_key="timeline-1",
                identity_id=identity.id,
                to_value=mailbox,
                outcome=Outcome.DELIVER,
                reasons=[],
            )
        )


def agent_pages(casework: Casework) -> list[str]:
    """Every page an agent might open about this customer (some refuse them: that is fine,
    as long as the refusal shows nothing either)."""
    return [
        f"/customers/{casework.customer_id}",
        f"/customers?q={CUSTOMER_EMAIL}",
        f"/restrictions/{casework.current_id}",
        f"/restrictions/{casework.first_revision_id}",
        f"/restrictions/{casework.lifted_id}",
        f"/alerts/{casework.alert_id}",
        "/alerts",
        "/call-flags",
        "/",
    ]


# --- what the agent does see -----------------------------------------------------------------


def test_the_agent_sees_what_a_call_needs(
    casework: Casework, client_for: Callable[[str], StaffClient]
) -> None:
    page = text_of(client_for(AGENT).get(f"/customers/{casework.customer_id}"))
    assert "Contact restriction in force: " + casework.reference in page
    assert f'id="restriction-{casework.reference}"' in page
    assert "No telephone contact" in page  # the measure, as varied
    assert "Redirect: email goes only to the single point of contact" in page
    assert SPOC_NAME in page and SPOC in page
    assert "Telephone contact is not accepted from this caller" in page  # the script
    assert "end the call politely" in page
    assert CUSTOMER_EMAIL in page and "01632 960123" in page
    assert ">phone barred</strong>" in page  # the call flag
    assert "Stage 1" in page


def test_an_agent_reaches_the_caller_view_from_a_call_flag(
    casework: Casework, client_for: Callable[[str], StaffClient]
) -> None:
    flags = text_of(client_for(AGENT).get("/call-flags"))
    target = f"/customers/{casework.customer_id}#restriction-{casework.reference}"
    assert f'<a href="{target}">{casework.reference}</a>' in flags
    assert 'href="/restrictions/' not in flags  # that page is casework
    manager_flags = text_of(client_for(MANAGER).get("/call-flags"))
    assert f'href="/restrictions/{casework.current_id}"' in manager_flags


def test_an_unrestricted_customer_is_said_to_be_so(
    rt: Runtime, staff: dict[str, Actor], client_for: Callable[[str], StaffClient]
) -> None:
    with rt.uow() as session:
        customer = register_service.add_customer(session, staff[MANAGER], utcnow(), name="Sam")
        customer_id = customer.id
    page = text_of(client_for(AGENT).get(f"/customers/{customer_id}"))
    assert "No contact restriction applies to this customer." in page
    assert "Restrictions in force" not in page


def test_a_restriction_on_trial_does_not_tell_the_agent_to_treat_the_call_differently(
    rt: Runtime, staff: dict[str, Actor], client_for: Callable[[str], StaffClient]
) -> None:
    now = utcnow()
    with rt.uow() as session:
        customer = register_service.add_customer(session, staff[MANAGER], now, name="Sam")
        customer_id = customer.id
        trial = _propose(
            session, staff[MANAGER], now, customer, mode=Mode.SHADOW,
            phone_measure=PhoneMeasure.BARRED,
        )  # fmt: skip
        register_service.approve(
            session, staff[APPROVER], now, trial.id, today=rt.today(now), appeal_days=14
        )
        reference = trial.reference
    page = text_of(client_for(AGENT).get(f"/customers/{customer_id}"))
    assert "No contact restriction applies to this customer." in page
    assert f"({reference} is on trial: recorded, not applied.)" in page
    assert "in force:" not in page
    assert "trial: recorded, not applied" in page  # its own section says so too


def test_the_agent_view_is_audited_as_a_view_of_the_customer(
    rt: Runtime, casework: Casework, client_for: Callable[[str], StaffClient]
) -> None:
    client_for(AGENT).get(f"/customers/{casework.customer_id}")
    client_for(MANAGER).get(f"/customers/{casework.customer_id}")
    with rt.uow() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "customer.viewed").order_by(AuditEntry.id)
        ).all()
    assert [(e.actor, e.subject_ref, e.detail, e.source) for e in entries] == [
        (AGENT, str(casework.customer_id), {"view": "caller"}, "web 127.0.0.1"),
        (MANAGER, str(casework.customer_id), {"view": "record"}, "web 127.0.0.1"),
    ]


# --- what the agent never sees: one test per piece of casework --------------------------------

HIDDEN = {
    # item: (words a manager's page shows, the manager's page, given the casework)
    "confidential notes": (CONFIDENTIAL, lambda c: f"/customers/{c.customer_id}"),
    "the restriction's reason": (REASON, lambda c: f"/customers/{c.customer_id}"),
    "review notes": (REVIEW_NOTE, lambda c: f"/restrictions/{c.current_id}"),
    "variation reason": (VARY_REASON, lambda c: f"/customers/{c.customer_id}"),
    "lift reason": (LIFT_REASON, lambda c: f"/customers/{c.customer_id}"),
    "who proposed": ("Proposed by", lambda c: f"/customers/{c.customer_id}"),
    "who approved": ("Approved by", lambda c: f"/customers/{c.customer_id}"),
    "the proposer's address": (MANAGER, lambda c: f"/customers/{c.customer_id}"),
    "the approver's address": (SECOND_APPROVER, lambda c: f"/customers/{c.customer_id}"),
    "the history": ("<h2>History</h2>", lambda c: f"/restrictions/{c.current_id}"),
    "the contact timeline": (TIMELINE_LINE, lambda c: f"/customers/{c.customer_id}"),
    "the volume chart": ("Contacts over the last", lambda c: f"/customers/{c.customer_id}"),
    "the chart's figures": ("Inbound contacts per day", lambda c: f"/customers/{c.customer_id}"),
    "alerts on the dashboard": ("Open alerts", lambda _c: "/"),
    "an alert's evidence": ("More than 10 emails", lambda c: f"/alerts/{c.alert_id}"),
}


@pytest.mark.parametrize("item", sorted(HIDDEN))
def test_agents_never_see(
    item: str, casework: Casework, client_for: Callable[[str], StaffClient]
) -> None:
    words, manager_page = HIDDEN[item]
    assert words in text_of(client_for(MANAGER).get(manager_page(casework))), item
    agent = client_for(AGENT)
    for path in agent_pages(casework):
        assert words not in text_of(agent.get(path)), (item, path)


def test_casework_pages_refuse_agents(
    casework: Casework, client_for: Callable[[str], StaffClient]
) -> None:
    agent = client_for(AGENT)
    for path in (
        f"/restrictions/{casework.current_id}",
        f"/alerts/{casework.alert_id}",
        "/alerts",
        "/register",
        "/reviews-due",
    ):
        assert agent.get(path).status_code == 403, path


# --- on the server: the agent's template is never given the casework --------------------------


@contextmanager
def rendered(app: Flask) -> Iterator[list[dict]]:
    """The context of every template rendered while inside."""
    contexts: list[dict] = []

    def record(_sender: Flask, template, context: dict, **_extra) -> None:
        contexts.append(context)

    template_rendered.connect(record, app)
    try:
        yield contexts
    finally:
        template_rendered.disconnect(record, app)


def test_the_agents_template_gets_plain_values_not_the_register(
    app: Flask, casework: Casework, client_for: Callable[[str], StaffClient]
) -> None:
    agent = client_for(AGENT)
    with rendered(app) as contexts:
        assert agent.get(f"/customers/{casework.customer_id}").status_code == 200
    [context] = contexts
    assert isinstance(context["caller"], CallerView)
    assert context["sees_confidential"] is False
    rows = [name for name, value in context.items() if _holds_a_row(value)]
    assert rows == []  # no customer, restriction, review, contact or alert object at all

    manager = client_for(MANAGER)
    with rendered(app) as contexts:
        manager.get(f"/customers/{casework.customer_id}")
    assert _holds_a_row(contexts[0]["customer"])  # the check does see rows when they are there


def _holds_a_row(value: object, depth: int = 0) -> bool:
    """Whether a value is, or holds (in a dataclass, list, tuple or dict), a database row."""
    if isinstance(value, Base):
        return True
    if depth > 4:
        return False
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        parts = [getattr(value, f.name) for f in dataclasses.fields(value)]
    elif isinstance(value, list | tuple | set | frozenset):
        parts = list(value)
    elif isinstance(value, dict):
        parts = list(value.values())
    else:
        return False
    return any(_holds_a_row(part, depth + 1) for part in parts)


def test_a_manager_still_sees_the_full_record(
    casework: Casework, client_for: Callable[[str], StaffClient]
) -> None:
    page = text_of(client_for(MANAGER).get(f"/customers/{casework.customer_id}"))
    assert CONFIDENTIAL in page and "Latest contacts" in page and "Earlier terms" in page


def test_the_role_groups_say_what_they_mean(app: Flask) -> None:
    assert {Role.AGENT, Role.MANAGER, Role.APPROVER, Role.SENIOR_APPROVER} == CALLER_LOOKUP
    assert CALL_FLAG_READERS == CALLER_LOOKUP
    assert route_access(app, "customers.show").roles == CALLER_LOOKUP
    assert route_access(app, "restrictions.show").roles == CASEWORKERS
