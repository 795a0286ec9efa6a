"""The staff pages through the real app and database: what each role sees on the dashboard,
finding a customer, the customer record, and the restriction steps end to end."""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
from collections.abc import Callable

from sqlalchemy import select

from gateway.runtime import Runtime
from routing.enums import (
    Channel,
    Direction,
    EmailMeasure,
    Mode,
    Outcome,
    PhoneMeasure,
    RestrictionStatus,
)
from routing.models import AuditEntry, ContactEvent, Identity, Restriction, utcnow
from tests.web.conftest import (
    ADMIN,
    AGENT,
    APPROVER,
    CONFIDENTIAL,
    CUSTOMER_EMAIL,
    MANAGER,
    SECOND_APPROVER,
    SPOC,
    Register,
)
from tests.web.helpers import StaffClient, text_of

TERMS = {
    "stage": "stage1",
    "category": "C",
    "mode": "enforce",
    "email_measure": "redirect",
    "spoc_name": "Customer Relations Team",
    "spoc_email": "SPOC@Council.Example.org",
    "phone_measure": "windows",
    "phone_windows": "Tue 10:00-12:00",
    "max_call_minutes": "20",
    "starts_on": "2026-03-02",
    "review_every_months": "3",
    "reason": "Unreasonable levels of contact (test).",
}


# --- dashboard and navigation ----------------------------------------------------------------


def test_each_role_sees_only_its_own_figures_and_navigation(
    register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    manager = text_of(client_for(MANAGER).get("/"))
    assert "Active restrictions" in manager and "Reviews due in the next 14 days" in manager
    assert 'href="/register"' in manager and 'href="/customers"' in manager

    agent = text_of(client_for(AGENT).get("/"))
    assert "Call flags today" in agent
    assert "Active restrictions" not in agent and "Dead letters" not in agent
    assert 'href="/register"' not in agent

    admin = text_of(client_for(ADMIN).get("/"))
    assert "Dead letters" in admin
    assert "Active restrictions" not in admin and 'href="/customers"' not in admin


def test_the_dashboard_counts_active_restrictions_and_reviews_due(
    rt: Runtime, register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    with rt.uow() as session:
        active = session.get(Restriction, register.active_id)
        active.next_review_on = dt.date.today() + dt.timedelta(days=3)
    page = text_of(client_for(APPROVER).get("/"))
    assert '<span class="figure-value">1</span> <span class="figure-label">Active restrictions' in (
        page
    )
    assert f">{register.reference}</a>" in page


def test_the_work_list_shows_each_role_what_waits_for_it_and_leads_to_it(
    rt: Runtime, register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    with rt.uow() as session:
        session.get(Restriction, register.active_id).next_review_on = dt.date.today() - (
            dt.timedelta(days=1)
        )
    approver = client_for(APPROVER)
    page = " ".join(text_of(approver.get("/")).split())
    assert (
        '<a class="task-list-name" href="/register?status=pending_approval">Proposals waiting '
        'for your approval</a> <strong class="tag tag-warning">1 waiting</strong>'
    ) in page
    assert 'href="/reviews-due">Reviews overdue</a> <strong class="tag tag-warning">1' in page
    assert "Customer contact restrictions</a>" in page  # the service, not the package

    pending = text_of(approver.get("/register?status=pending_approval"))
    assert "The register: pending approval" in pending
    assert f'/restrictions/{register.pending_id}"' in pending
    assert f'/restrictions/{register.active_id}"' not in pending
    assert approver.get("/register?status=everything").status_code == 400

    # The manager proposed it: it waits for an approver, not for them.
    assert "Proposals waiting for your approval" not in text_of(client_for(MANAGER).get("/"))
    admin = text_of(client_for(ADMIN).get("/"))
    assert "Dead letters: mail that could not be delivered" in admin
    assert "Nothing waiting" in admin and "Reviews overdue" not in admin


# --- finding a customer ----------------------------------------------------------------------


def test_search_finds_a_customer_by_name_email_or_number_however_written(
    rt: Runtime, register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    agent = client_for(AGENT)
    for query in ("jo exam", "JO.Example+bins@EXAMPLE.org", "+44 1632 960123", "C-1001"):
        page = text_of(agent.get("/customers", query_string={"q": query}))
        assert "1 customer found" in page, query
        assert f'href="/customers/{register.customer_id}"' in page
        assert register.reference in page  # the restriction in force
    assert "0 customers found" in text_of(agent.get("/customers?q=nobody%40example.org"))
    with rt.uow() as session:
        searches = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "customers.searched")
        ).all()
    assert len(searches) == 5
    assert all("q" not in e.detail and "example" not in str(e.detail) for e in searches)


def test_a_manager_adds_a_customer_with_an_address_and_a_number(
    rt: Runtime, client_for: Callable[[str], StaffClient]
) -> None:
    response = client_for(MANAGER).post(
        "/customers/new",
        {"name": "Pat Sample", "emails": "Pat.Sample@Example.org", "phones": "07700 900456"},
    )
    assert response.status_code == 302
    with rt.uow() as session:
        values = sorted(i.value for i in session.scalars(select(Identity)))
    assert values == ["+447700900456", "pat.sample@example.org"]


def test_a_number_that_cannot_be_read_is_shown_against_the_form(
    client_for: Callable[[str], StaffClient],
) -> None:
    response = client_for(MANAGER).post("/customers/new", {"name": "X", "phones": "call me"})
    assert response.status_code == 400
    assert "There is a problem" in text_of(response)
    assert "unparseable" in text_of(response)


# --- the customer record ---------------------------------------------------------------------


def test_the_customer_page_shows_identities_restrictions_contacts_and_a_chart_with_its_table(
    rt: Runtime, register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    _contacts(rt, emails=3, calls=2)
    page = text_of(client_for(MANAGER).get(f"/customers/{register.customer_id}"))
    assert CUSTOMER_EMAIL in page and "+441632960123" in page
    assert register.reference in page and "pending approval" in page
    assert '<svg viewBox="0 0 720 240" role="img"' in page
    assert "3 emails and 2 calls in 90 days" in page
    assert "<caption>Inbound contacts per day" in page
    assert page.count("housing@council.example.org") == 5  # the timeline


def _contacts(rt: Runtime, *, emails: int, calls: int) -> None:
    now = utcnow()
    with rt.uow() as session:
        identity = session.scalar(select(Identity).where(Identity.value == CUSTOMER_EMAIL))
        for n in range(emails + calls):
            channel = Channel.EMAIL if n < emails else Channel.PHONE
            session.add(
                ContactEvent(
                    occurred_at=now - dt.timedelta(days=n),
                    channel=channel,
                    direction=Direction.INBOUND,
                    source="test",
                    source_key=f"test-{n}",
                    identity_id=identity.id,
                    to_value="housing@council.example.org",
                    outcome=Outcome.DELIVER if channel is Channel.EMAIL else Outcome.ALLOW,
                    reasons=[],
                )
            )


# --- restrictions ----------------------------------------------------------------------------


def test_propose_shows_each_problem_against_its_field(
    register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    terms = {**TERMS, "spoc_email": "", "phone_windows": "", "max_call_minutes": "many"}
    response = client_for(MANAGER).post(
        f"/customers/{register.customer_id}/restrictions/new", terms
    )
    page = text_of(response)
    assert response.status_code == 400
    assert page.startswith("<!doctype html>") and "<title>Error: Propose" in page
    assert '<a href="#max_call_minutes">Enter the longest call in minutes as a whole number' in page
    manager = client_for(MANAGER)
    terms = {**TERMS, "spoc_email": ""}
    page = text_of(manager.post(f"/customers/{register.customer_id}/restrictions/new", terms))
    assert '<a href="#spoc_email">email measure &#39;redirect&#39; needs a SPOC email' in page
    assert 'aria-describedby="spoc_email-hint spoc_email-error" aria-invalid="true"' in page


def test_propose_approve_vary_review_and_lift_through_the_pages(
    rt: Runtime, register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    manager, approver = client_for(MANAGER), client_for(APPROVER)
    proposed = manager.post(f"/customers/{register.customer_id}/restrictions/new", TERMS)
    assert proposed.status_code == 302
    restriction_id = int(proposed.location.rsplit("/", 1)[1])
    assert "A different approver must approve it" in text_of(manager.get(proposed.location))

    assert approver.post(f"/restrictions/{restriction_id}/approve").status_code == 302
    with rt.uow() as session:
        restriction = session.get(Restriction, restriction_id)
        assert restriction.status is RestrictionStatus.ACTIVE
        assert restriction.spoc_email == SPOC  # normalised by the register's own rules

    varied = approver.post(
        f"/restrictions/{restriction_id}/vary",
        {**TERMS, "email_measure": "file", "mode": "shadow", "variation_reason": "Review."},
    )
    assert varied.status_code == 302
    successor_id = int(varied.location.rsplit("/", 1)[1])
    page = text_of(approver.get(varied.location))
    assert "revision 2 of 2" in page and "varied" in page
    with rt.uow() as session:
        successor = session.get(Restriction, successor_id)
        assert (successor.email_measure, successor.mode) == (EmailMeasure.FILE, Mode.SHADOW)
        assert successor.phone_measure is PhoneMeasure.WINDOWS  # unchanged terms carried over

    reviewed = approver.post(
        f"/restrictions/{successor_id}/review", {"outcome": "lift", "notes": "No contact."}
    )
    assert reviewed.location == f"/restrictions/{successor_id}/lift"
    lifted = approver.post(f"/restrictions/{successor_id}/lift", {"reason": "Reviewed."})
    assert lifted.status_code == 302
    with rt.uow() as session:
        assert session.get(Restriction, successor_id).status is RestrictionStatus.LIFTED
        actions = [
            e.action
            for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
            if e.subject_ref and e.subject_ref.startswith(successor.reference)
        ]
    assert actions[:4] == [
        "restriction.drafted",
        "restriction.submitted",
        "restriction.viewed",
        "restriction.approved",
    ]
    assert {"restriction.varied", "restriction.reviewed", "restriction.lifted"} <= set(actions)


def test_a_manager_withdraws_a_proposal_that_will_not_go_ahead(
    rt: Runtime, register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    manager = client_for(MANAGER)
    proposed = manager.post(f"/customers/{register.customer_id}/restrictions/new", TERMS)
    restriction_id = int(proposed.location.rsplit("/", 1)[1])
    assert "Withdraw the proposal" in text_of(manager.get(proposed.location))

    unexplained = manager.post(f"/restrictions/{restriction_id}/withdraw", {"reason": ""})
    assert unexplained.status_code == 400
    assert "Enter why the proposal is being withdrawn" in text_of(unexplained)
    withdrawn = manager.post(
        f"/restrictions/{restriction_id}/withdraw", {"reason": "Resolved by a meeting."}
    )
    assert withdrawn.location == f"/restrictions/{restriction_id}"
    page = text_of(manager.get(withdrawn.location))
    assert "withdrawn: it will not come into force" in page
    assert "Withdraw the proposal" not in page
    with rt.uow() as session:
        restriction = session.get(Restriction, restriction_id)
        assert restriction.status is RestrictionStatus.WITHDRAWN
        assert restriction.end_reason == "Resolved by a meeting."

    # An active restriction is lifted by an approver, never withdrawn.
    assert "Withdraw the proposal" not in text_of(
        client_for(APPROVER).get(f"/restrictions/{register.active_id}")
    )
    again = manager.post(f"/restrictions/{register.active_id}/withdraw", {"reason": "No."})
    assert "it is active" in text_of(again)


def test_forms_that_show_a_restriction_or_its_customer_are_audited_as_views(
    rt: Runtime, register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    approver = client_for(SECOND_APPROVER)
    vary_form = text_of(approver.get(f"/restrictions/{register.active_id}/vary"))
    assert CONFIDENTIAL in vary_form  # the vary form holds the confidential notes
    for page in ("lift", "review"):
        assert approver.get(f"/restrictions/{register.active_id}/{page}").status_code == 200
    assert approver.get(f"/customers/{register.customer_id}/restrictions/new").status_code == 200
    with rt.uow() as session:
        views = [
            (e.actor, e.action, e.subject_type, e.detail.get("view"))
            for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
            if e.action.endswith(".viewed")
        ]
    assert views == [
        (SECOND_APPROVER, "restriction.viewed", "restriction", "vary"),
        (SECOND_APPROVER, "restriction.viewed", "restriction", "lift"),
        (SECOND_APPROVER, "restriction.viewed", "restriction", "review"),
        (SECOND_APPROVER, "customer.viewed", "customer", "propose"),
    ]


def test_varying_with_nothing_changed_is_refused(
    register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    approver = client_for(SECOND_APPROVER)
    form = text_of(approver.get(f"/restrictions/{register.active_id}/vary"))
    assert 'value="redirect" checked' in form  # starts from the current terms
    response = approver.post(
        f"/restrictions/{register.active_id}/vary",
        {
            "stage": "stage1",
            "category": "C",
            "mode": "enforce",
            "email_measure": "redirect",
            "spoc_email": SPOC,
            "phone_measure": "none",
            "review_every_months": "3",
            "reason": "Unreasonable levels of contact (test).",
            "confidential_notes": CONFIDENTIAL,
            "variation_reason": "No reason",
        },
    )
    assert response.status_code == 400
    assert "Nothing has changed" in text_of(response)


def test_the_register_export_is_the_register_csv_and_is_audited(
    rt: Runtime, register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    response = client_for(MANAGER).post("/register/export")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    rows = list(csv.DictReader(io.StringIO(text_of(response))))
    assert [(r["customer_ref"], r["email_measure"]) for r in rows] == [("C-1001", "redirect")]
    with rt.uow() as session:
        [entry] = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "register.exported")
        ).all()
    assert (entry.actor, entry.source, entry.detail) == (MANAGER, "web 127.0.0.1", {"rows": 1})


def test_a_page_that_fails_logs_where_and_how_but_not_the_data_it_was_given(
    app, client_for: Callable[[str], StaffClient], caplog
) -> None:
    from admin_ui.access import CASEWORKERS, require_role

    @app.get("/test-only/fails")
    @require_role(CASEWORKERS)
    def fails() -> str:
        # What a database driver says of a unique violation: it quotes the value.
        address = "jo.example" + "@example.org"  # not on the raising line the trace shows
        raise ValueError(f"Key (kind, value)=(email, {address}) already exists")

    app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production: the 500 page, and a log
    manager = client_for(MANAGER)
    with caplog.at_level(logging.ERROR):
        response = manager.get("/test-only/fails")
    assert response.status_code == 500
    assert "Sorry, something went wrong" in text_of(response)
    assert "page fails failed: ValueError" in caplog.text
    assert "test_pages.py" in caplog.text  # the code path is kept for whoever debugs it
    assert "jo.example@example.org" not in caplog.text
