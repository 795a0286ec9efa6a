"""An alert's steps (routing.alerts): who may take them, in what order, and what is audited."""

from __future__ import annotations

import datetime as dt

import pytest

from routing import alerts
from routing.alerts import AlertRefused
from routing.enums import AlertStatus, Referral, Role
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


def concern() -> Alert:
    return Alert(id=9, rule="safeguarding", customer_id=4, status=AlertStatus.OPEN)


def test_a_safeguarding_concern_is_closed_by_a_referral_with_whom_and_the_reference() -> None:
    subject = concern()
    entry = alerts.refer(subject, MANAGER, NOW, Referral.ADULT_SOCIAL_CARE, reference=" ASC-7 ")
    assert subject.status is AlertStatus.REFERRED
    assert subject.closed_reason == "Referred to adult social care, reference ASC-7"
    assert entry.action == "alert.referred"
    assert entry.detail["to"] == "adult_social_care" and "ASC-7" not in str(entry.detail)


def test_a_safeguarding_concern_read_with_no_concern_found() -> None:
    subject = concern()
    alerts.read_no_concern(subject, MANAGER, NOW)
    assert (subject.status, subject.closed_reason) == (AlertStatus.NO_CONCERN, "Read: no concern")


@pytest.mark.parametrize("step", ["dismiss", "escalate"])
def test_a_safeguarding_concern_is_never_dismissed_as_reasonable_or_escalated(step: str) -> None:
    subject = concern()
    with pytest.raises(AlertRefused, match="closed by recording a referral"):
        if step == "dismiss":
            alerts.dismiss(subject, MANAGER, NOW, "They always say this")
        else:
            alerts.escalate(subject, MANAGER, NOW, "CCR-2026-0009")
    assert subject.status is AlertStatus.OPEN


def test_only_a_safeguarding_alert_takes_a_referral_and_other_needs_a_name() -> None:
    with pytest.raises(AlertRefused, match="not a safeguarding alert"):
        alerts.refer(alert(), MANAGER, NOW, Referral.POLICE)
    with pytest.raises(AlertRefused, match="say who"):
        alerts.refer(concern(), MANAGER, NOW, Referral.OTHER)
    with pytest.raises(AlertRefused, match="only a manager or an approver"):
        alerts.refer(concern(), AGENT, NOW, Referral.POLICE)
