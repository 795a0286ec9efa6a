"""Restriction lifecycle: every allowed move, the refused ones, four eyes, dates and audit."""

from __future__ import annotations

import datetime as dt

import pytest

from routing import lifecycle
from routing.enums import (
    Category,
    EmailMeasure,
    Mode,
    RestrictionStatus,
    ReviewOutcome,
    Role,
    Stage,
)
from routing.lifecycle import Actor, TransitionRefused
from routing.models import Customer, Restriction

S = RestrictionStatus
NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
TODAY = dt.date(2026, 11, 23)
MANAGER = Actor("manager@council.example.org", Role.MANAGER, 1)
APPROVER = Actor("approver@council.example.org", Role.APPROVER, 2)
OTHER_APPROVER = Actor("approver2@council.example.org", Role.APPROVER, 3)
AGENT = Actor("agent@council.example.org", Role.AGENT, 4)
ADMIN = Actor("admin@council.example.org", Role.ADMIN, 5)


def restriction(status: RestrictionStatus = S.DRAFT, **fields: object) -> Restriction:
    values: dict = {
        "reference": "CCR-2026-0001",
        "revision": 1,
        "customer": Customer(name="Jo Example"),
        "status": status,
        "mode": Mode.ENFORCE,
        "stage": Stage.STAGE1,
        "category": Category.C,
        "email_measure": EmailMeasure.REDIRECT,
        "spoc_email": "spoc@council.example.org",
        "starts_on": TODAY,
        "review_every_months": 3,
        "scope_all": True,
        "exempt_addresses": [],
        "legal_hold": False,
        "reviews": [],
        **fields,
    }
    return Restriction(**values)


def active(**fields: object) -> Restriction:
    r = restriction(S.DRAFT, **fields)
    lifecycle.submit(r, MANAGER, NOW)
    lifecycle.approve(r, APPROVER, NOW, today=TODAY, appeal_days=14)
    return r


# --- the happy path ------------------------------------------------------------------------


def test_manager_proposes_and_a_different_approver_brings_it_into_force() -> None:
    r = restriction()
    submitted = lifecycle.submit(r, MANAGER, NOW)
    assert r.status is S.PENDING_APPROVAL
    assert r.proposed_by_id == MANAGER.user_id
    approved = lifecycle.approve(r, APPROVER, NOW, today=TODAY, appeal_days=14)
    assert r.status is S.ACTIVE
    assert r.approved_by_id == APPROVER.user_id
    assert [submitted.action, approved.action] == ["restriction.submitted", "restriction.approved"]
    assert approved.actor == APPROVER.name
    assert approved.subject_ref == "CCR-2026-0001/1"


def test_approval_sets_the_appeal_deadline_and_first_review() -> None:
    r = active()
    assert r.notified_on == TODAY
    assert r.appeal_deadline == dt.date(2026, 12, 7)
    assert r.next_review_on == dt.date(2027, 2, 23)


def test_six_monthly_review_interval_is_honoured() -> None:
    assert active(review_every_months=6).next_review_on == dt.date(2027, 5, 23)


def test_review_date_from_the_end_of_a_month_clamps_to_the_shorter_month() -> None:
    assert lifecycle.next_review_date(dt.date(2026, 11, 30), 3) == dt.date(2027, 2, 28)


def test_a_future_start_schedules_the_review_from_the_start_date() -> None:
    assert active(starts_on=dt.date(2027, 1, 1)).next_review_on == dt.date(2027, 4, 1)


def test_lift_records_who_when_and_why() -> None:
    r = active()
    entry = lifecycle.lift(r, OTHER_APPROVER, NOW, "behaviour has improved")
    assert r.status is S.LIFTED
    assert r.ended_at == NOW
    assert r.end_reason == "behaviour has improved"
    assert "behaviour has improved" not in str(entry.detail)  # free text stays off the audit log


def test_expire_only_after_the_end_date() -> None:
    r = active(ends_on=TODAY)
    with pytest.raises(TransitionRefused, match="end date has not passed"):
        lifecycle.expire(r, NOW, TODAY)
    entry = lifecycle.expire(r, NOW, TODAY + dt.timedelta(days=1))
    assert r.status is S.EXPIRED
    assert entry.actor == "system"


def test_variation_ends_old_terms_and_starts_a_new_revision() -> None:
    r = active()
    successor, entry = lifecycle.vary(
        r,
        OTHER_APPROVER,
        NOW,
        {"email_measure": EmailMeasure.COPY},
        today=TODAY,
        reason="less restrictive measure at review",
    )
    assert r.status is S.VARIED
    assert r.superseded_by is successor
    assert successor.status is S.ACTIVE
    assert (successor.reference, successor.revision) == ("CCR-2026-0001", 2)
    assert successor.email_measure is EmailMeasure.COPY
    assert successor.spoc_email == r.spoc_email  # unchanged terms carry over
    assert successor.approved_by_id == OTHER_APPROVER.user_id
    assert entry.detail["changes"] == {"email_measure": "copy"}


def test_variation_cannot_change_who_the_restriction_is_about() -> None:
    with pytest.raises(TransitionRefused, match="customer_id cannot be changed"):
        lifecycle.vary(active(), OTHER_APPROVER, NOW, {"customer_id": 99}, today=TODAY, reason="x")


def test_confidential_notes_are_not_copied_into_the_audit_log() -> None:
    _successor, entry = lifecycle.vary(
        active(),
        OTHER_APPROVER,
        NOW,
        {"confidential_notes": "police reference 123"},
        today=TODAY,
        reason="notes updated",
    )
    assert "police reference" not in str(entry.detail)


def test_review_continue_moves_the_next_review_on() -> None:
    r = active()
    review, entry = lifecycle.record_review(
        r,
        OTHER_APPROVER,
        NOW,
        today=dt.date(2027, 2, 20),
        outcome=ReviewOutcome.CONTINUE,
        notes="still needed",
    )
    assert r.reviews == [review]
    assert r.last_reviewed_on == dt.date(2027, 2, 20)
    assert r.next_review_on == dt.date(2027, 5, 20)
    assert entry.detail["outcome"] == "continue"


def test_ended_restriction_goes_dormant_then_is_purged_of_personal_content() -> None:
    r = active(reason="abusive calls", confidential_notes="notes", spoc_name="Team")
    lifecycle.lift(r, OTHER_APPROVER, NOW, "ended")
    lifecycle.make_dormant(r, NOW)
    later = NOW + dt.timedelta(days=2 * 366)
    entry = lifecycle.purge(r, later, retention_months=24)
    assert r.status is S.PURGED
    assert (r.reason, r.confidential_notes, r.spoc_name, r.spoc_email) == (None,) * 4
    assert r.customer is None
    assert entry.action == "restriction.purged"


def test_purge_waits_for_the_whole_retention_period() -> None:
    r = active()
    lifecycle.lift(r, OTHER_APPROVER, NOW, "ended")
    lifecycle.make_dormant(r, NOW)
    with pytest.raises(TransitionRefused, match="retention period has not ended"):
        lifecycle.purge(r, NOW + dt.timedelta(days=700), retention_months=24)


def test_legal_hold_blocks_purge_until_released() -> None:
    r = active()
    lifecycle.lift(r, OTHER_APPROVER, NOW, "ended")
    lifecycle.make_dormant(r, NOW)
    lifecycle.set_legal_hold(r, ADMIN, NOW, hold=True, reason="tribunal claim")
    with pytest.raises(TransitionRefused, match="already under a legal hold"):
        lifecycle.set_legal_hold(r, ADMIN, NOW, hold=True, reason="another claim")
    later = NOW + dt.timedelta(days=3 * 365)
    with pytest.raises(TransitionRefused, match="legal hold"):
        lifecycle.purge(r, later, retention_months=24)
    lifecycle.set_legal_hold(r, ADMIN, NOW, hold=False, reason="claim closed")
    # Why it was held, and why released: both kept (the audit entry holds no free text).
    assert (r.legal_hold, r.legal_hold_reason) == (False, "tribunal claim\nReleased: claim closed")
    with pytest.raises(TransitionRefused, match="not under a legal hold"):
        lifecycle.set_legal_hold(r, ADMIN, NOW, hold=False, reason="again")
    lifecycle.purge(r, later, retention_months=24)
    assert r.status is S.PURGED
    assert r.legal_hold_reason is None  # free text goes with the rest of the record


# --- refusals ------------------------------------------------------------------------------


def test_approver_cannot_approve_their_own_proposal() -> None:
    r = restriction()
    lifecycle.submit(r, APPROVER, NOW)
    with pytest.raises(TransitionRefused, match="approver proposed it"):
        lifecycle.approve(r, APPROVER, NOW, today=TODAY, appeal_days=14)
    assert r.status is S.PENDING_APPROVAL


def test_proposer_cannot_review_vary_or_lift_their_own_restriction() -> None:
    r = restriction()
    lifecycle.submit(r, APPROVER, NOW)
    lifecycle.approve(r, OTHER_APPROVER, NOW, today=TODAY, appeal_days=14)
    with pytest.raises(TransitionRefused, match="proposed it"):
        lifecycle.record_review(r, APPROVER, NOW, today=TODAY, outcome=ReviewOutcome.CONTINUE)
    with pytest.raises(TransitionRefused, match="proposed it"):
        lifecycle.vary(r, APPROVER, NOW, {"mode": Mode.SHADOW}, today=TODAY, reason="x")
    with pytest.raises(TransitionRefused, match="proposed it"):
        lifecycle.lift(r, APPROVER, NOW, reason="no longer needed")
    assert r.status is S.ACTIVE


@pytest.mark.parametrize("actor", [MANAGER, AGENT, ADMIN])
def test_only_approvers_approve(actor: Actor) -> None:
    r = restriction(S.PENDING_APPROVAL, proposed_by_id=99)
    with pytest.raises(
        TransitionRefused, match="only an approver or a senior approver may approve"
    ):
        lifecycle.approve(r, actor, NOW, today=TODAY, appeal_days=14)


def test_agents_cannot_propose() -> None:
    with pytest.raises(
        TransitionRefused, match="only a manager, an approver or a senior approver may propose"
    ):
        lifecycle.submit(restriction(), AGENT, NOW)


@pytest.mark.parametrize(
    ("status", "move"),
    [
        (S.DRAFT, lambda r: lifecycle.approve(r, APPROVER, NOW, today=TODAY, appeal_days=14)),
        (S.DRAFT, lambda r: lifecycle.lift(r, APPROVER, NOW, "x")),
        (S.PENDING_APPROVAL, lambda r: lifecycle.lift(r, APPROVER, NOW, "x")),
        (S.ACTIVE, lambda r: lifecycle.submit(r, MANAGER, NOW)),
        (S.ACTIVE, lambda r: lifecycle.make_dormant(r, NOW)),
        (S.LIFTED, lambda r: lifecycle.lift(r, APPROVER, NOW, "x")),
        (S.LIFTED, lambda r: lifecycle.approve(r, APPROVER, NOW, today=TODAY, appeal_days=14)),
        (S.EXPIRED, lambda r: lifecycle.vary(r, APPROVER, NOW, {}, today=TODAY, reason="x")),
        (S.DORMANT, lambda r: lifecycle.lift(r, APPROVER, NOW, "x")),
        (S.PURGED, lambda r: lifecycle.make_dormant(r, NOW)),
        (S.VARIED, lambda r: lifecycle.lift(r, APPROVER, NOW, "x")),
    ],
)
def test_moves_out_of_order_are_refused_and_change_nothing(status, move) -> None:
    r = restriction(status, proposed_by_id=99)
    with pytest.raises(TransitionRefused, match=f"it is {status.value.replace('_', ' ')}"):
        move(r)
    assert r.status is status


@pytest.mark.parametrize(
    "move",
    [
        lambda r: lifecycle.lift(r, APPROVER, NOW, "  "),
        lambda r: lifecycle.vary(r, APPROVER, NOW, {}, today=TODAY, reason=""),
    ],
)
def test_ending_or_varying_needs_a_reason(move) -> None:
    r = active()
    with pytest.raises(TransitionRefused, match="reason"):
        move(r)
    assert r.status is S.ACTIVE


def test_review_of_an_inactive_restriction_is_refused() -> None:
    r = active()
    lifecycle.lift(r, OTHER_APPROVER, NOW, "ended")
    with pytest.raises(TransitionRefused, match="not active"):
        lifecycle.record_review(r, OTHER_APPROVER, NOW, today=TODAY, outcome=ReviewOutcome.CONTINUE)


def test_every_status_has_a_rule_for_where_it_may_go() -> None:
    assert set(lifecycle.ALLOWED_MOVES) == set(RestrictionStatus)
    assert lifecycle.ALLOWED_MOVES[S.PURGED] == frozenset()
