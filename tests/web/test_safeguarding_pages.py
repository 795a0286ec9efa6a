"""A safeguarding concern through the real app: an urgent banner until someone acts, the
alert saying where the message went, and closing it by what was done, never as reasonable."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from gateway.runtime import Runtime
from routing.enums import AlertStatus
from routing.models import Alert, AuditEntry, utcnow
from tests.web.conftest import MANAGER, Register
from tests.web.helpers import StaffClient, text_of

SPOC = "spoc@council.example.org"


@pytest.fixture
def concern(rt: Runtime, register: Register) -> int:
    """A safeguarding alert about the register's customer, as the gateway raises one."""
    with rt.uow() as session:
        alert = Alert(
            rule="safeguarding",
            urgent=True,
            customer_id=register.customer_id,
            summary="Email (CCR-2026-0001) contains wording about harm to self or others: "
            "a person must read it now.",
            evidence={
                "queue_id": "q1",
                "recipients": ["housing@council.example.org"],
                "delivered_to": [SPOC],
                "why": "harm to self",
            },
            opened_at=utcnow(),
        )
        session.add(alert)
        session.flush()
        return alert.id


def status(rt: Runtime, alert_id: int) -> Alert:
    with rt.uow() as session:
        return session.get(Alert, alert_id)


def test_the_dashboard_and_the_customer_page_carry_the_banner_until_someone_acts(
    rt: Runtime, register: Register, concern: int, client_for: Callable[[str], StaffClient]
) -> None:
    manager = client_for(MANAGER)
    for path in ("/", f"/customers/{register.customer_id}"):
        page = text_of(manager.get(path))
        assert "Safeguarding: a person must act now" in page
        assert f'href="/alerts/{concern}">Safeguarding concern {concern}</a>' in page

    manager.post(f"/alerts/{concern}/no-concern", data={"note": "Spoke to Jo: safe"})

    assert "Safeguarding: a person must act now" not in text_of(manager.get("/"))


def test_the_alert_says_where_the_message_went_and_offers_no_dismissal_or_warning(
    concern: int, client_for: Callable[[str], StaffClient]
) -> None:
    page = text_of(client_for(MANAGER).get(f"/alerts/{concern}"))
    assert f"It was delivered to <strong>{SPOC}</strong>" in page
    assert "Record the referral" in page and "Record: read, no concern" in page
    assert "Dismiss" not in page and "draft a warning" not in page


def test_a_referral_is_recorded_with_whom_and_the_reference_and_audited(
    rt: Runtime, concern: int, client_for: Callable[[str], StaffClient]
) -> None:
    response = client_for(MANAGER).post(
        f"/alerts/{concern}/refer", data={"to": "police", "reference": "INC-0042"}
    )
    assert response.status_code == 302
    alert = status(rt, concern)
    assert alert.status is AlertStatus.REFERRED
    assert alert.closed_reason == "Referred to the police, reference INC-0042"
    with rt.uow() as session:
        [entry] = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "alert.referred")
        ).all()
    assert entry.detail["to"] == "police" and entry.detail["reference_given"] is True
    assert "INC-0042" not in str(entry.detail)


def test_another_agency_must_be_named(
    rt: Runtime, concern: int, client_for: Callable[[str], StaffClient]
) -> None:
    response = client_for(MANAGER).post(f"/alerts/{concern}/refer", data={"to": "other"})
    assert response.status_code == 400
    assert "Enter which agency it was referred to" in text_of(response)
    assert status(rt, concern).status is AlertStatus.OPEN


def test_dismissing_or_escalating_a_safeguarding_alert_is_refused(
    rt: Runtime, concern: int, client_for: Callable[[str], StaffClient]
) -> None:
    manager = client_for(MANAGER)
    manager.post(f"/alerts/{concern}/dismiss", data={"reason": "They always say this"})
    manager.post(f"/alerts/{concern}/escalate", data={"note": ""})
    assert status(rt, concern).status is AlertStatus.OPEN
    page = text_of(manager.get(f"/alerts/{concern}"))
    assert "a safeguarding concern is closed by recording a referral" in page
