"""Alerts through the real app and database: a real contact volume alert (emails recorded as
the gateway records them, evaluated by the volume job), its list and page with the evidence
and chart, and the manager's three steps, each audited with where it came from."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from sqlalchemy import select

from gateway.runtime import Runtime
from routing.enums import AlertStatus, RestrictionStatus, Stage
from routing.models import Alert, AuditEntry, Restriction, utcnow
from tests.web.conftest import APPROVER, MANAGER, Register
from tests.web.helpers import StaffClient, text_of
from tests.web.page_data import email_identity, raise_email_alert, unlinked_identity


@pytest.fixture
def alert_id(rt: Runtime, register: Register) -> int:
    """Eleven emails from the register's customer in under four hours (10 a day is the limit)."""
    return raise_email_alert(rt, email_identity(rt, register.customer_id), utcnow())


def _alert(rt: Runtime, alert_id: int) -> Alert:
    with rt.uow() as session:
        return session.get(Alert, alert_id)


def _audit(rt: Runtime, action: str) -> list[AuditEntry]:
    with rt.uow() as session:
        query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        return list(session.scalars(query))


def test_the_list_shows_waiting_alerts_and_filters_by_status_and_rule(
    rt: Runtime, alert_id: int, client_for: Callable[[str], StaffClient]
) -> None:
    manager = client_for(MANAGER)
    page = text_of(manager.get("/alerts"))
    assert f'href="/alerts/{alert_id}">Alert {alert_id}</a>' in page
    assert "Jo Example (C-1001)" in page and "open" in page
    assert f"Alert {alert_id}<" not in text_of(manager.get("/alerts?status=dismissed"))
    assert f"Alert {alert_id}<" in text_of(manager.get("/alerts?rule=emails_1d"))
    assert f"Alert {alert_id}<" not in text_of(manager.get("/alerts?rule=calls_1d"))
    assert [e.detail["shown"] for e in _audit(rt, "alerts.listed")] == [1, 0, 1, 0]


def test_the_alert_page_shows_the_evidence_in_words_a_chart_and_its_table(
    rt: Runtime, alert_id: int, client_for: Callable[[str], StaffClient]
) -> None:
    page = text_of(client_for(MANAGER).get(f"/alerts/{alert_id}"))
    assert "More than 10 emails in 1 day" in page
    assert "<strong>11 emails</strong>" in page
    assert "<dt>Contacts counted</dt><dd>11</dd>" in page
    assert '<svg viewBox="0 0 720 240" role="img"' in page
    assert "11 emails in " in page  # the chart's description
    assert "<caption>Emails per day</caption>" in page
    assert page.count("housing@council.example.org") == 11  # the contacts counted
    assert "jo.example@example.org" not in page
    [viewed] = _audit(rt, "alert.viewed")
    assert (viewed.actor, viewed.subject_ref, viewed.source) == (
        MANAGER,
        str(alert_id),
        "web 127.0.0.1",
    )


def test_acknowledging_marks_the_alert_and_is_audited(
    rt: Runtime, alert_id: int, client_for: Callable[[str], StaffClient]
) -> None:
    manager = client_for(MANAGER)
    response = manager.post(f"/alerts/{alert_id}/acknowledge")
    assert response.status_code == 302 and response.location == f"/alerts/{alert_id}"
    assert _alert(rt, alert_id).status is AlertStatus.ACKNOWLEDGED
    [entry] = _audit(rt, "alert.acknowledged")
    assert (entry.actor, entry.source) == (MANAGER, "web 127.0.0.1")
    # Once acknowledged, it cannot be acknowledged again: the service's words are shown.
    again = manager.post(f"/alerts/{alert_id}/acknowledge", follow_redirects=True)
    assert f"cannot acknowledge alert {alert_id}: it is acknowledged" in text_of(again)
    assert "Acknowledged" not in text_of(manager.get(f"/alerts/{alert_id}")).split("<h2>")[-1]


def test_dismissing_needs_a_reason_which_is_kept_with_the_alert(
    rt: Runtime, alert_id: int, client_for: Callable[[str], StaffClient]
) -> None:
    manager = client_for(MANAGER)
    refused = manager.post(f"/alerts/{alert_id}/dismiss", {"reason": "  "})
    assert refused.status_code == 400
    assert "Enter why the contact is reasonable" in text_of(refused)
    assert '<a href="#reason">' in text_of(refused)  # the summary leads to the field
    assert _alert(rt, alert_id).status is AlertStatus.OPEN

    done = manager.post(f"/alerts/{alert_id}/dismiss", {"reason": "Housing repair in progress"})
    assert done.status_code == 302
    alert = _alert(rt, alert_id)
    assert alert.status is AlertStatus.DISMISSED
    assert alert.closed_reason == "Housing repair in progress"
    [entry] = _audit(rt, "alert.dismissed")
    assert entry.actor == MANAGER and entry.detail["reason_given"] is True
    assert "Housing repair" not in str(entry.detail)  # the free text stays on the alert


def test_escalating_drafts_a_warning_that_is_not_in_force(
    rt: Runtime, register: Register, alert_id: int, client_for: Callable[[str], StaffClient]
) -> None:
    response = client_for(APPROVER).post(f"/alerts/{alert_id}/escalate", {"note": "Third time"})
    assert response.status_code == 302
    draft_id = int(response.location.rsplit("/", 1)[1])
    with rt.uow() as session:
        draft = session.get(Restriction, draft_id)
        active = session.scalars(
            select(Restriction.id).where(Restriction.status == RestrictionStatus.ACTIVE)
        ).all()
    assert (draft.status, draft.stage, draft.customer_id) == (
        RestrictionStatus.DRAFT,
        Stage.WARNING,
        register.customer_id,
    )
    assert active == [register.active_id]  # nothing new is in force
    alert = _alert(rt, alert_id)
    assert (alert.status, alert.closed_reason) == (AlertStatus.ESCALATED, "Third time")
    [entry] = _audit(rt, "alert.escalated")
    assert entry.detail["restriction"] == draft.reference and entry.source == "web 127.0.0.1"

    page = text_of(client_for(MANAGER).get(response.location))
    assert "draft" in page and "Propose for approval" in page


def test_escalating_an_alert_about_an_unlinked_address_makes_a_customer_for_the_draft(
    rt: Runtime, staff, client_for: Callable[[str], StaffClient]
) -> None:
    identity_id = unlinked_identity(rt, "new.sender@example.org")
    alert_id = raise_email_alert(rt, identity_id, utcnow() - dt.timedelta(hours=1))
    assert "An unlinked email address" in text_of(client_for(MANAGER).get("/alerts"))
    response = client_for(MANAGER).post(f"/alerts/{alert_id}/escalate")
    assert response.status_code == 302
    alert = _alert(rt, alert_id)
    assert alert.status is AlertStatus.ESCALATED and alert.customer_id is not None


def test_every_status_lists_waiting_alerts_before_closed_ones(
    rt: Runtime, register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    closed = raise_email_alert(rt, email_identity(rt, register.customer_id), utcnow())
    manager = client_for(MANAGER)
    manager.post(f"/alerts/{closed}/dismiss", {"reason": "Reasonable (test)"})
    stranger = unlinked_identity(rt, "another.sender@example.org")
    waiting = raise_email_alert(rt, stranger, utcnow() - dt.timedelta(days=3))  # older, open
    page = text_of(manager.get("/alerts?status=all"))
    assert page.index(f"Alert {waiting}<") < page.index(f"Alert {closed}<")
