"""Periodic register upkeep: expire, remind about reviews, withdraw abandoned proposals,
raise an alert for appeals left undecided after their window, make dormant, purge.

Each task is an idempotent job: running it twice, or in two processes, changes nothing more.
"""

from __future__ import annotations

import datetime as dt
import logging

from dateutil.relativedelta import relativedelta
from sqlalchemy.orm import Session

from gateway.runtime import Runtime, runtime
from gateway.services.appeals import alert_undecided_appeals
from gateway.services.retention import apply_retention, delete_person_records
from gateway.store import repository
from gateway.store import retention as retention_store
from routing import lifecycle
from routing.audit import AuditAction, audit_entry
from routing.lifecycle import Actor
from routing.models import Alert, Customer, Restriction, utcnow

log = logging.getLogger(__name__)


def run_maintenance(now_iso: str | None = None) -> dict[str, int]:
    """Run every upkeep task once; the job the scheduler enqueues. Returns counts per task."""
    now = dt.datetime.fromisoformat(now_iso) if now_iso else utcnow()
    rt = runtime()
    counts = {task.__name__: task(rt, now) for task in TASKS}
    log.debug("maintenance done: %s", counts)
    return counts


def expire_ended(rt: Runtime, now: dt.datetime) -> int:
    """Active restrictions whose end date has passed become expired."""
    today = rt.today(now)
    with rt.uow() as session:
        ended = repository.active_ending_before(session, today)
        for restriction in ended:
            session.add(lifecycle.expire(restriction, now, today))
        _register_changed(session, ended)
    return len(ended)


def remind_reviews_due(rt: Runtime, now: dt.datetime) -> int:
    """Open an alert, once per due date, for each review falling due within the reminder period."""
    by_day = rt.today(now) + dt.timedelta(days=rt.settings.review_reminder_days)
    with rt.uow() as session:
        due = repository.active_review_due_unreminded(session, by_day)
        for restriction in due:
            restriction.review_reminder_for = restriction.next_review_on
            session.add(_review_alert(restriction, now))
            session.add(
                lifecycle.audit(
                    Actor.system(),
                    AuditAction.RESTRICTION_REVIEW_DUE,
                    restriction,
                    now,
                    review_on=restriction.next_review_on.isoformat(),
                )
            )
    return len(due)


def _review_alert(restriction: Restriction, now: dt.datetime) -> Alert:
    due = restriction.next_review_on.isoformat() if restriction.next_review_on else "soon"
    return Alert(
        rule="review_due",
        customer_id=restriction.customer_id,
        summary=f"Review of {restriction.reference} is due on {due}.",
        evidence={"reference": restriction.reference, "review_on": due},
        opened_at=now,
    )


def withdraw_abandoned_proposals(rt: Runtime, now: dt.datetime) -> int:
    """Proposals nobody has changed for the set months are withdrawn, so that they end."""
    months = rt.settings.abandoned_proposal_months
    with rt.uow() as session:
        idle = repository.proposals_unchanged_since(session, now - relativedelta(months=months))
        for restriction in idle:
            session.add(lifecycle.abandon(restriction, now, idle_months=months))
    return len(idle)


def make_ended_dormant(rt: Runtime, now: dt.datetime) -> int:
    """Ended restrictions are kept on file, unenforced, once the grace period has passed."""
    before = now - dt.timedelta(days=rt.settings.dormant_after_days)
    with rt.uow() as session:
        ended = repository.ended_since(session, before)
        for restriction in ended:
            session.add(lifecycle.make_dormant(restriction, now))
    return len(ended)


def purge_after_retention(rt: Runtime, now: dt.datetime) -> int:
    """Dormant restrictions past the retention period lose their personal content."""
    months = rt.settings.retention_months
    with rt.uow() as session:
        expired = repository.dormant_since_before(session, now - relativedelta(months=months))
        customers = {r.customer_id for r in expired if r.customer_id is not None}
        for restriction in expired:
            session.add(lifecycle.purge(restriction, now, retention_months=months))
        session.flush()
        for customer_id in customers:
            _anonymise_if_nothing_remains(session, customer_id, now)
    return len(expired)


def _anonymise_if_nothing_remains(session: Session, customer_id: int, now: dt.datetime) -> None:
    """A customer with no restriction left on file keeps no name or reference, and their
    identities, contacts and alerts go with the last restriction (counted in the audit)."""
    if repository.restrictions_of_customer(session, customer_id):
        return
    customer = session.get(Customer, customer_id)
    if customer is None:
        return
    customer.name = None
    customer.customer_ref = None
    if retention_store.live_alert_count(session, customer_id):
        # An alert still waiting for a person (a safeguarding concern, a reconsideration)
        # keeps the records it rests on: the identities are only unlinked, and the usual
        # periods take them and their contacts once nothing refers to them.
        for identity in list(customer.identities):
            identity.customer_id = None
            identity.linked_at = None
        deleted: dict[str, int] = {"kept_for_open_alerts": 1}
    else:
        deleted = delete_person_records(session, customer_id)
        session.expire(customer, ["identities"])
    session.add(
        audit_entry(
            AuditAction.CUSTOMER_ANONYMISED,
            actor=Actor.system().name,
            at=now,
            subject_type="customer",
            subject_ref=str(customer_id),
            detail=deleted,
        )
    )
    repository.bump_register_version(session)


def forget_old_schedule_claims(rt: Runtime, now: dt.datetime) -> int:
    """Schedule claims older than a week have done their job (one run per slot)."""
    with rt.uow() as session:
        return repository.delete_schedule_claims_before(session, now - dt.timedelta(days=7))


def _register_changed(session: Session, changed: object) -> None:
    if changed:
        repository.bump_register_version(session)


TASKS = (
    expire_ended,
    remind_reviews_due,
    withdraw_abandoned_proposals,
    alert_undecided_appeals,
    make_ended_dormant,
    purge_after_retention,
    apply_retention,
    forget_old_schedule_claims,
)

__all__ = ["TASKS", "run_maintenance"]
