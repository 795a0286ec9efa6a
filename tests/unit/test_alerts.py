"""An alert's steps (routing.alerts): who may take them, in what order, and what is audited."""

from __future__ import annotations

import datetime as dt

import pytest

from routing import alerts
from routing.alerts import AlertRefused
from routing.enums import AlertStatus, Role
from routing.lifecycle import Actor
from routing.models import Alert

NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC)
MANAGER = Actor("manager@council.example.org", Role.MANAGER, 1)
APPROVER = Actor("approver@council.example.org", Role.APPROVER, 2)
AGENT = Actor("agent@council.example.org", Role.AGENT, 3)


def alert(status: AlertStatus = AlertStatus.OPEN) -> Alert:
    return Alert(id=7, rule="emails_1d", person_key="i:5", identity_id=5, status=status)


def test_acknowledge_then_dismiss_with_a_reason() -> None:
    subject = alert()
    entry = alerts.acknowledge(subject, MANAGER, NOW)
    assert (subject.status, entry.action, entry.subject_ref) == (
        AlertStatus.ACKNOWLEDGED,
        "alert.acknowledged",
        "7",
    )
    entry = alerts.dismiss(subject, APPROVER, NOW, "  Chasing a repair  ")
    assert (subject.status, subject.closed_reason, subject.closed_at) == (
        AlertStatus.DISMISSED,
        "Chasing a repair",
        NOW,
    )
    assert entry.detail == {
        "status": "dismissed",
        "rule": "emails_1d",
        "customer_id": None,
        "identity_id": 5,
        "reason_given": True,
    }


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_dismissal_needs_a_reason(reason: str | None) -> None:
    subject = alert()
    with pytest.raises(AlertRefused, match="a reason is required to dismiss alert 7"):
        alerts.dismiss(subject, MANAGER, NOW, reason)
    assert subject.status is AlertStatus.OPEN


def test_only_managers_and_approvers_act_on_alerts() -> None:
    with pytest.raises(AlertRefused, match="only a manager or an approver may acknowledge"):
        alerts.acknowledge(alert(), AGENT, NOW)
    with pytest.raises(AlertRefused, match="only a manager or an approver may escalate"):
        alerts.check_escalation(alert(), AGENT)


@pytest.mark.parametrize("status", [AlertStatus.DISMISSED, AlertStatus.ESCALATED])
def test_a_closed_alert_takes_no_further_step(status: AlertStatus) -> None:
    closed = alert(status)
    with pytest.raises(AlertRefused, match=f"cannot acknowledge alert 7: it is {status.value}"):
        alerts.acknowledge(closed, MANAGER, NOW)
    with pytest.raises(AlertRefused, match="cannot dismiss"):
        alerts.dismiss(closed, MANAGER, NOW, "late")
    with pytest.raises(AlertRefused, match="cannot escalate"):
        alerts.check_escalation(closed, MANAGER)


def test_escalation_records_the_draft_it_made() -> None:
    subject = alert(AlertStatus.ACKNOWLEDGED)
    entry = alerts.escalate(subject, MANAGER, NOW, "CCR-2026-0007", "pattern over months")
    assert subject.status is AlertStatus.ESCALATED
    assert entry.detail["restriction"] == "CCR-2026-0007"
    assert "pattern" not in str(entry.detail)


def test_an_alert_about_nobody_cannot_be_escalated() -> None:
    nobody = Alert(id=8, rule="review_due", status=AlertStatus.OPEN)
    with pytest.raises(AlertRefused, match="names no person"):
        alerts.check_escalation(nobody, MANAGER)


def test_merging_closes_the_alert_by_the_system() -> None:
    subject = alert()
    entry = alerts.merge(subject, 9, NOW)
    assert (subject.status, subject.closed_reason) == (AlertStatus.MERGED, "continued as alert 9")
    assert (entry.actor, entry.detail["into"]) == ("system", 9)
