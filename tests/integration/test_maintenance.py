"""Register upkeep against a real database: restrictions expire, reviews are reminded, ended
restrictions go dormant and are purged after retention, and the audit log stays append-only."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator

import pytest
from dateutil.relativedelta import relativedelta
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import DBAPIError

from gateway.bootstrap import bootstrap
from gateway.runtime import Runtime
from gateway.services import maintenance, register_service
from gateway.settings import Settings
from gateway.store import repository
from gateway.store.tables import ScheduledRun
from routing.enums import (
    AlertStatus,
    Category,
    EmailMeasure,
    IdentityKind,
    PhoneMeasure,
    RestrictionStatus,
    ReviewOutcome,
    Role,
    Stage,
)
from routing.identity import normalise_email
from routing.lifecycle import Actor, TransitionRefused
from routing.models import Alert, AuditEntry, Customer, Identity, Restriction, Review, utcnow
from routing.terms import RestrictionDraft

S = RestrictionStatus

# 23:30 UTC on 15 June is already 16 June in London (BST): upkeep must use the London date.
NOW = dt.datetime(2026, 6, 15, 23, 30, tzinfo=dt.UTC)
TODAY = dt.date(2026, 6, 16)
SECOND = dt.timedelta(seconds=1)

# Personal data that a purge must remove from the restriction and keep out of its audit entry.
NAME = "Jo Example"
EMAIL = "jo.example@example.org"
REASON = "Shouted at reception staff on 3 March about a housing repair"
NOTES = "Lives alone; support worker on 07700 900123"
SPOC_NAME = "Sam Spoc"
SPOC_EMAIL = "spoc@council.example.org"
SPOC_PHONE = "020 7946 0001"
REVIEW_NOTES = "Jo's contact has settled since April"


@pytest.fixture
def staff(make_staff: Callable[[str, Role], Actor]) -> dict[str, Actor]:
    """A manager who proposes and a different approver who decides."""
    return {
        "manager": make_staff("manager@council.example.org", Role.MANAGER),
        "approver": make_staff("approver@council.example.org", Role.APPROVER),
    }


def in_force(
    rt: Runtime,
    staff: dict[str, Actor],
    *,
    email: str = EMAIL,
    starts_on: dt.date = TODAY - dt.timedelta(days=30),
    now: dt.datetime = NOW,
    **terms: object,
) -> int:
    """Propose and approve (on its start date) a restriction on a new customer; its id."""
    draft = RestrictionDraft(
        stage=Stage.STAGE1,
        category=Category.A,
        starts_on=starts_on,
        email_measure=EmailMeasure.REDIRECT,
        phone_measure=PhoneMeasure.WINDOWS,
        phone_windows="Tue 10:00-12:00",
        spoc_name=SPOC_NAME,
        spoc_email=SPOC_EMAIL,
        spoc_phone=SPOC_PHONE,
        reason=REASON,
        confidential_notes=NOTES,
        **terms,
    )
    manager, approver = staff["manager"], staff["approver"]
    with rt.uow() as session:
        customer = register_service.add_customer(session, manager, now, name=NAME)
        register_service.link_raw_identity(
            session, manager, now, customer, email, IdentityKind.EMAIL, fold_plus=True, region="GB"
        )
        restriction = register_service.draft_restriction(session, manager, now, customer, draft)
        register_service.submit(session, manager, now, restriction.id)
        register_service.approve(
            session, approver, now, restriction.id, today=starts_on, appeal_days=14
        )
        return restriction.id


def load(rt: Runtime, restriction_id: int) -> Restriction:
    with rt.uow() as session:
        restriction = session.get(Restriction, restriction_id)
        assert restriction is not None
        return restriction


def status(rt: Runtime, restriction_id: int) -> RestrictionStatus:
    return load(rt, restriction_id).status


def audit_of(rt: Runtime, restriction_id: int, action: str) -> list[AuditEntry]:
    """The audit entries with this action about this restriction."""
    restriction = load(rt, restriction_id)
    subject = f"{restriction.reference}/{restriction.revision}"
    with rt.uow() as session:
        entries = repository.audit_entries(session, action_prefix=action)
        return [e for e in entries if e.action == action and e.subject_ref == subject]


def register_version(rt: Runtime) -> int:
    with rt.uow() as session:
        return repository.register_version(session)


def lift(rt: Runtime, staff: dict[str, Actor], restriction_id: int, at: dt.datetime) -> None:
    with rt.uow() as session:
        register_service.lift(
            session, staff["approver"], at, restriction_id, reason=f"{NAME} has moved away"
        )


def dormant_since(rt: Runtime, staff: dict[str, Actor], at: dt.datetime) -> int:
    """A restriction lifted and made dormant at `at` (dormant_after_days is 0 by default)."""
    restriction_id = in_force(rt, staff, starts_on=(at - relativedelta(months=6)).date(), now=at)
    lift(rt, staff, restriction_id, at)
    assert maintenance.make_ended_dormant(rt, at) == 1
    return restriction_id


def in_snapshot(rt: Runtime, email: str, restriction_id: int) -> bool:
    rt.register.invalidate()
    found = rt.register.snapshot().restrictions_for(
        IdentityKind.EMAIL, normalise_email(email).value or ""
    )
    return restriction_id in {terms.id for terms in found}


# --- expiry -------------------------------------------------------------------------------


def test_restriction_that_ended_yesterday_in_london_is_expired_and_leaves_the_register(
    rt: Runtime, staff: dict[str, Actor]
) -> None:
    ended = in_force(rt, staff, email="ended@example.org", ends_on=TODAY - dt.timedelta(days=1))
    last_day = in_force(rt, staff, email="last.day@example.org", ends_on=TODAY)
    assert in_snapshot(rt, "ended@example.org", ended)
    version = register_version(rt)

    assert maintenance.expire_ended(rt, NOW) == 1

    assert status(rt, ended) is S.EXPIRED
    assert load(rt, ended).ended_at == NOW
    assert status(rt, last_day) is S.ACTIVE
    [entry] = audit_of(rt, ended, "restriction.expired")
    assert entry.actor == "system"
    assert register_version(rt) > version
    assert not in_snapshot(rt, "ended@example.org", ended)
    assert in_snapshot(rt, "last.day@example.org", last_day)


def test_expiring_twice_changes_nothing_more(rt: Runtime, staff: dict[str, Actor]) -> None:
    ended = in_force(rt, staff, ends_on=TODAY - dt.timedelta(days=1))
    assert maintenance.expire_ended(rt, NOW) == 1
    version = register_version(rt)
    assert maintenance.expire_ended(rt, NOW) == 0
    assert register_version(rt) == version
    assert len(audit_of(rt, ended, "restriction.expired")) == 1


# --- review reminders ---------------------------------------------------------------------


def with_review_on(rt: Runtime, staff: dict[str, Actor], email: str, review_on: dt.date) -> int:
    """A monthly-reviewed restriction whose next review falls on `review_on`."""
    restriction_id = in_force(
        rt,
        staff,
        email=email,
        starts_on=review_on - relativedelta(months=1),
        review_every_months=1,
    )
    assert load(rt, restriction_id).next_review_on == review_on
    return restriction_id


def test_review_due_within_the_reminder_period_is_reminded_once(
    rt: Runtime, staff: dict[str, Actor]
) -> None:
    days = rt.settings.review_reminder_days
    due = with_review_on(rt, staff, "due@example.org", TODAY + dt.timedelta(days=days))
    later = with_review_on(rt, staff, "later@example.org", TODAY + dt.timedelta(days=days + 1))

    assert maintenance.remind_reviews_due(rt, NOW) == 1
    assert maintenance.remind_reviews_due(rt, NOW) == 0

    [reminder] = audit_of(rt, due, "restriction.review_due")
    assert reminder.detail["review_on"] == (TODAY + dt.timedelta(days=days)).isoformat()
    assert audit_of(rt, later, "restriction.review_due") == []
    with rt.uow() as session:
        [alert] = session.scalars(select(Alert).where(Alert.rule == "review_due")).all()
        reference = session.get(Restriction, due).reference
    assert alert.summary.startswith(f"Review of {reference} is due on")
    assert alert.status is AlertStatus.OPEN


def test_next_review_is_reminded_again_once_it_falls_due(
    rt: Runtime, staff: dict[str, Actor]
) -> None:
    due = with_review_on(rt, staff, "due@example.org", TODAY + dt.timedelta(days=10))
    assert maintenance.remind_reviews_due(rt, NOW) == 1
    with rt.uow() as session:
        register_service.review(
            session, staff["approver"], NOW, due, today=TODAY, outcome=ReviewOutcome.CONTINUE
        )
    assert load(rt, due).next_review_on == TODAY + relativedelta(months=1)

    assert maintenance.remind_reviews_due(rt, NOW) == 0
    assert maintenance.remind_reviews_due(rt, NOW + dt.timedelta(days=20)) == 1
    assert len(audit_of(rt, due, "restriction.review_due")) == 2


# --- dormancy -----------------------------------------------------------------------------


@pytest.fixture
def rt_dormant_after_30_days(settings: Settings) -> Iterator[Runtime]:
    """A runtime for an installation that keeps ended restrictions live on file for 30 days."""
    runtime = bootstrap(settings.model_copy(update={"dormant_after_days": 30}))
    yield runtime
    runtime.close()


def lifted_now(rt: Runtime, staff: dict[str, Actor]) -> int:
    restriction_id = in_force(rt, staff)
    lift(rt, staff, restriction_id, NOW)
    return restriction_id


def expired_now(rt: Runtime, staff: dict[str, Actor]) -> int:
    restriction_id = in_force(rt, staff, ends_on=TODAY - dt.timedelta(days=1))
    assert maintenance.expire_ended(rt, NOW) == 1
    return restriction_id


@pytest.mark.parametrize(
    ("ended", "ended_status"), [(lifted_now, S.LIFTED), (expired_now, S.EXPIRED)]
)
def test_ended_restriction_goes_dormant_after_the_configured_days_not_before(
    rt: Runtime,
    rt_dormant_after_30_days: Runtime,
    staff: dict[str, Actor],
    ended: Callable[[Runtime, dict[str, Actor]], int],
    ended_status: RestrictionStatus,
) -> None:
    restriction_id = ended(rt, staff)
    after_30_days = NOW + dt.timedelta(days=30)

    assert maintenance.make_ended_dormant(rt_dormant_after_30_days, after_30_days - SECOND) == 0
    assert status(rt, restriction_id) is ended_status
    assert maintenance.make_ended_dormant(rt_dormant_after_30_days, after_30_days) == 1

    restriction = load(rt, restriction_id)
    assert restriction.status is S.DORMANT
    assert restriction.dormant_since == after_30_days
    assert len(audit_of(rt, restriction_id, "restriction.dormant")) == 1


# --- purge --------------------------------------------------------------------------------


DORMANT_AT = dt.datetime(2024, 5, 1, 10, 0, tzinfo=dt.UTC)
RETENTION_ENDS = DORMANT_AT + relativedelta(months=24)


def test_purge_waits_until_the_retention_period_has_passed(
    rt: Runtime, staff: dict[str, Actor]
) -> None:
    restriction_id = dormant_since(rt, staff, DORMANT_AT)
    assert rt.settings.retention_months == 24
    assert maintenance.purge_after_retention(rt, RETENTION_ENDS - SECOND) == 0
    assert status(rt, restriction_id) is S.DORMANT
    assert maintenance.purge_after_retention(rt, RETENTION_ENDS) == 1
    assert status(rt, restriction_id) is S.PURGED


def test_purge_removes_personal_content_and_reviews_and_audits_without_personal_data(
    rt: Runtime, staff: dict[str, Actor]
) -> None:
    restriction_id = in_force(rt, staff, starts_on=dt.date(2024, 1, 1), now=DORMANT_AT)
    with rt.uow() as session:
        register_service.review(
            session,
            staff["approver"],
            DORMANT_AT,
            restriction_id,
            today=dt.date(2024, 4, 1),
            outcome=ReviewOutcome.CONTINUE,
            notes=REVIEW_NOTES,
        )
    lift(rt, staff, restriction_id, DORMANT_AT)
    assert maintenance.make_ended_dormant(rt, DORMANT_AT) == 1

    assert maintenance.purge_after_retention(rt, RETENTION_ENDS + dt.timedelta(days=1)) == 1

    purged = load(rt, restriction_id)
    assert purged.status is S.PURGED
    assert purged.purged_at == RETENTION_ENDS + dt.timedelta(days=1)
    assert purged.customer_id is None
    cleared = ("reason", "confidential_notes", "spoc_name", "spoc_email", "spoc_phone")
    assert {name: getattr(purged, name) for name in cleared} == dict.fromkeys(cleared)
    assert purged.phone_windows is None
    assert purged.end_reason is None
    with rt.uow() as session:
        reviews = session.scalar(
            select(func.count()).select_from(Review).where(Review.restriction_id == restriction_id)
        )
    assert reviews == 0
    [entry] = audit_of(rt, restriction_id, "restriction.purged")
    recorded = json.dumps([entry.subject_ref, entry.detail, entry.actor])
    for personal in (NAME, EMAIL, REASON, NOTES, SPOC_NAME, SPOC_EMAIL, "2079460001", REVIEW_NOTES):
        assert personal not in recorded


def test_purge_leaves_no_name_reference_or_linked_identity_for_the_customer(
    rt: Runtime, staff: dict[str, Actor]
) -> None:
    restriction_id = dormant_since(rt, staff, DORMANT_AT)
    with rt.uow() as session:
        customer_id = session.get(Restriction, restriction_id).customer_id
    maintenance.purge_after_retention(rt, RETENTION_ENDS)
    with rt.uow() as session:
        customer = session.get(Customer, customer_id)
        assert (customer.name, customer.customer_ref) == (None, None)
        linked = session.scalars(select(Identity).where(Identity.customer_id == customer_id))
        assert linked.all() == []
        assert repository.audit_entries(session, action_prefix="customer.anonymised")


def test_legal_hold_keeps_a_dormant_restriction_past_its_retention(
    rt: Runtime, staff: dict[str, Actor]
) -> None:
    restriction_id = dormant_since(rt, staff, DORMANT_AT)
    with rt.uow() as session:
        register_service.set_legal_hold(
            session,
            staff["approver"],
            DORMANT_AT,
            restriction_id,
            hold=True,
            reason="Tribunal claim pending",
        )

    assert maintenance.purge_after_retention(rt, RETENTION_ENDS + relativedelta(months=6)) == 0

    held = load(rt, restriction_id)
    assert held.status is S.DORMANT
    assert held.reason == REASON
    assert held.customer_id is not None


# --- proposals that never came into force ----------------------------------------------


def proposed(rt: Runtime, staff: dict[str, Actor], *, submit: bool) -> int:
    """A restriction drafted (and, with `submit`, put forward) on a new customer; its id."""
    draft = RestrictionDraft(
        stage=Stage.STAGE1,
        category=Category.A,
        starts_on=TODAY,
        email_measure=EmailMeasure.REDIRECT,
        spoc_email=SPOC_EMAIL,
        reason=REASON,
    )
    manager, now = staff["manager"], utcnow()
    with rt.uow() as session:
        customer = register_service.add_customer(session, manager, now, name=NAME)
        register_service.link_raw_identity(
            session, manager, now, customer, EMAIL, IdentityKind.EMAIL, fold_plus=True, region="GB"
        )
        restriction = register_service.draft_restriction(session, manager, now, customer, draft)
        if submit:
            register_service.submit(session, manager, now, restriction.id)
        return restriction.id


def test_a_withdrawn_proposal_ends_and_is_purged_with_the_persons_records(
    rt: Runtime, staff: dict[str, Actor]
) -> None:
    restriction_id = proposed(rt, staff, submit=True)
    withdrawn_at = utcnow()
    with rt.uow() as session:
        register_service.withdraw(
            session, staff["approver"], withdrawn_at, restriction_id, reason="Not needed now"
        )
    assert status(rt, restriction_id) is S.WITHDRAWN
    assert not in_snapshot(rt, EMAIL, restriction_id)
    assert len(audit_of(rt, restriction_id, "restriction.withdrawn")) == 1

    assert maintenance.make_ended_dormant(rt, withdrawn_at) == 1
    retention_ends = withdrawn_at + relativedelta(months=rt.settings.retention_months)
    assert maintenance.purge_after_retention(rt, retention_ends - SECOND) == 0
    assert maintenance.purge_after_retention(rt, retention_ends) == 1
    purged = load(rt, restriction_id)
    assert (purged.status, purged.reason, purged.customer_id) == (S.PURGED, None, None)
    with rt.uow() as session:
        assert repository.find_identity(session, IdentityKind.EMAIL, EMAIL) is None


def test_withdrawing_needs_a_reason_and_a_proposal(rt: Runtime, staff: dict[str, Actor]) -> None:
    draft_id = proposed(rt, staff, submit=False)
    with rt.uow() as session, pytest.raises(TransitionRefused, match="reason"):
        register_service.withdraw(session, staff["manager"], NOW, draft_id, reason=" ")
    active_id = in_force(rt, staff, email="active@example.org")
    with rt.uow() as session, pytest.raises(TransitionRefused, match="it is active"):
        register_service.withdraw(session, staff["approver"], NOW, active_id, reason="No")
    assert status(rt, active_id) is S.ACTIVE


@pytest.mark.parametrize("submit", [False, True], ids=["draft", "awaiting approval"])
def test_a_proposal_nobody_touches_is_withdrawn_after_the_set_months_not_before(
    rt: Runtime, staff: dict[str, Actor], submit: bool
) -> None:
    restriction_id = proposed(rt, staff, submit=submit)
    touched = load(rt, restriction_id).updated_at
    months = rt.settings.abandoned_proposal_months
    idle_until = touched + relativedelta(months=months)

    assert maintenance.withdraw_abandoned_proposals(rt, idle_until - dt.timedelta(days=1)) == 0
    assert maintenance.withdraw_abandoned_proposals(rt, idle_until + SECOND) == 1
    assert maintenance.withdraw_abandoned_proposals(rt, idle_until + SECOND) == 0
    withdrawn = load(rt, restriction_id)
    assert withdrawn.status is S.WITHDRAWN
    assert withdrawn.end_reason == f"withdrawn by the system: unchanged for {months} months"
    [entry] = audit_of(rt, restriction_id, "restriction.withdrawn")
    assert entry.actor == "system"


# --- the whole upkeep job -----------------------------------------------------------------


def test_run_maintenance_reports_counts_per_task_and_a_second_run_does_nothing(
    rt: Runtime, staff: dict[str, Actor]
) -> None:
    long_dormant = dormant_since(rt, staff, NOW - relativedelta(months=25))
    ended = in_force(rt, staff, email="ended@example.org", ends_on=TODAY - dt.timedelta(days=1))
    review_due = with_review_on(rt, staff, "due@example.org", TODAY + dt.timedelta(days=7))

    first = maintenance.run_maintenance(NOW.isoformat())
    again = maintenance.run_maintenance(NOW.isoformat())

    # The expired restriction also goes dormant at once: dormant_after_days is 0 by default.
    assert first == {
        "expire_ended": 1,
        "remind_reviews_due": 1,
        "withdraw_abandoned_proposals": 0,
        "alert_undecided_appeals": 0,
        "make_ended_dormant": 1,
        "purge_after_retention": 1,
        "apply_retention": 0,
        "forget_old_schedule_claims": 0,
    }
    assert again == dict.fromkeys(first, 0)
    assert status(rt, long_dormant) is S.PURGED
    assert status(rt, ended) is S.DORMANT
    assert status(rt, review_due) is S.ACTIVE


def test_schedule_claims_older_than_a_week_are_forgotten(rt: Runtime) -> None:
    with rt.uow() as session:
        for days_ago, slot in ((8, "old"), (6, "recent")):
            session.add(
                ScheduledRun(
                    task="maintenance",
                    slot=slot,
                    claimed_by="test",
                    claimed_at=NOW - dt.timedelta(days=days_ago),
                )
            )
    assert maintenance.forget_old_schedule_claims(rt, NOW) == 1
    with rt.uow() as session:
        assert session.scalars(select(ScheduledRun.slot)).all() == ["recent"]


# --- the audit log ------------------------------------------------------------------------


def test_audit_log_refuses_updates_and_deletes(rt: Runtime, staff: dict[str, Actor]) -> None:
    restriction_id = in_force(rt, staff)
    before = len(audit_of(rt, restriction_id, "restriction.approved"))
    assert before == 1

    with pytest.raises(DBAPIError, match="append-only"), rt.uow() as session:
        session.execute(update(AuditEntry).values(action="restriction.tampered"))
    with pytest.raises(DBAPIError, match="append-only"), rt.uow() as session:
        session.execute(delete(AuditEntry))

    assert len(audit_of(rt, restriction_id, "restriction.approved")) == before
    assert audit_of(rt, restriction_id, "restriction.tampered") == []


def test_audit_entries_older_than_the_set_years_are_deleted_and_recent_ones_never(
    rt: Runtime, staff: dict[str, Actor]
) -> None:
    now = utcnow()
    years = rt.settings.audit_retention_years
    ages = {"older than the period": relativedelta(years=years, days=1),
            "within the period": relativedelta(years=years, days=-1),
            "a year old": relativedelta(years=1)}  # fmt: skip
    with rt.uow() as session:
        for what, age in ages.items():
            session.add(
                AuditEntry(
                    at=now - age,
                    actor="system",
                    action="test.entry",
                    subject_type="test",
                    subject_ref=what,
                )
            )

    assert maintenance.apply_retention(rt, now) == 1
    with rt.uow() as session:
        left = {e.subject_ref for e in repository.audit_entries(session, action_prefix="test.")}
        [deleted] = repository.audit_entries(session, action_prefix="retention.deleted")
    assert left == {"within the period", "a year old"}
    assert deleted.detail["audit_entries"] == 1

    # Whatever the settings say, the database keeps the last two years.
    with pytest.raises(DBAPIError, match="older than two years"), rt.uow() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.subject_ref == "a year old"))
    with pytest.raises(DBAPIError, match="append-only"), rt.uow() as session:
        session.execute(update(AuditEntry).values(actor="someone else"))
