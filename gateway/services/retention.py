"""Retention for everyone: what has outlived its period is deleted, audited by counts.

Records of people no restriction holds on file (their contacts, closed alerts, the
addresses and numbers nothing refers to any more) and the records of finished mail go
after the periods in settings. A person a restriction holds keeps theirs until the last of
their restrictions is purged (gateway/services/maintenance.py); a legal hold or a retention
category keeps that restriction, and so the person's records, beyond it. docs/retention.md
lists every kind of record and its period.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence

from dateutil.relativedelta import relativedelta
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.runtime import Runtime
from gateway.store import retention, spoc_queue
from routing.audit import AuditAction, audit_entry
from routing.lifecycle import Actor

log = logging.getLogger(__name__)

RETENTION_ACTION = AuditAction.RETENTION_DELETED
# After each batch retention rests this many times as long as the batch took: a first run
# over years of records then leaves the database, and the machine's cores, to the gateway at
# least half the time (bench/retention.py: the gateway kept 0.70 of its mail rate while a
# run worked without the rest, 0.89 with it).
BATCH_REST_RATIO = 1.0

Finder = Callable[[Session, int], Sequence[int]]  # (session, last id of the batch before)
Deleter = Callable[[Session, Sequence[int]], int]


def apply_retention(rt: Runtime, now: dt.datetime) -> int:
    """Delete every record past its period; one audit entry gives the counts. Returns the
    number of records deleted."""
    s = rt.settings
    contacts_before = now - relativedelta(months=s.contact_retention_months)
    mail_before = now - dt.timedelta(days=s.mail_record_days)
    alerts_before = now - relativedelta(months=s.closed_alert_months)
    audit_before = now - relativedelta(years=s.audit_retention_years)
    queue_before = now - dt.timedelta(days=s.spoc_item_days)
    counts = {
        "contacts": _in_batches(
            rt,
            lambda session, after: retention.expired_contact_ids(
                session, contacts_before, after=after
            ),
            retention.delete_contacts,
        ),
        "mail_records": _in_batches(
            rt,
            lambda session, after: retention.finished_mail_ids(session, mail_before, after=after),
            retention.delete_mail_records,
        ),
        "closed_alerts": _in_batches(
            rt,
            lambda session, after: retention.closed_alert_ids(session, alerts_before, after=after),
            retention.delete_alerts,
        ),
        "audit_entries": _in_batches(
            rt,
            lambda session, after: retention.old_audit_ids(session, audit_before, after=after),
            retention.delete_audit_entries,
        ),
        # Last: the contacts and alerts deleted above may have been all that named them.
        "identities": _in_batches(
            rt,
            lambda session, after: retention.loose_identity_ids(session, after=after),
            retention.delete_identities,
        ),
    }
    # The SPOC queue's copies, on their own period: delivery being done does not end it.
    items = _in_batches(
        rt,
        lambda session, after: spoc_queue.expired_item_ids(session, queue_before, after=after),
        spoc_queue.delete_items,
    )
    if items:
        counts["spoc_items"] = items
    deleted = sum(counts.values())
    if deleted:
        with rt.uow() as session:
            session.add(
                audit_entry(
                    AuditAction.RETENTION_DELETED,
                    actor=Actor.system().name,
                    at=now,
                    subject_type="register",
                    detail=counts,
                )
            )
    return deleted


def _in_batches(rt: Runtime, find: Finder, remove: Deleter) -> int:
    """Find and delete a batch per transaction, resting between batches, until a batch
    comes back short."""
    total, after = 0, 0
    while True:
        started = time.monotonic()
        try:
            with rt.uow() as session:
                retention.search_in_one_backend(session)
                ids = find(session, after)
                total += remove(session, ids)
        except IntegrityError:
            # Something new came to refer to a record in the batch while it was deleted;
            # the batch is rolled back whole and the next run looks again.
            log.warning("retention: a batch changed while being deleted; left for the next run")
            return total
        if len(ids) < retention.BATCH:
            return total
        # The next batch starts after this one: what this run keeps is not read again, so
        # a first run over years of records takes time in proportion to them.
        after = ids[-1]
        time.sleep((time.monotonic() - started) * BATCH_REST_RATIO)


def delete_person_records(session: Session, customer_id: int) -> dict[str, int]:
    """A customer's contacts, the records of their mail, alerts, identities and SPOC queue
    items, deleted with their last restriction or at their erasure."""
    identity_ids, event_ids, alert_ids = retention.person_record_ids(session, customer_id)
    # Mail still on its way (or a dead letter) stays: the usual period takes it once delivered.
    finished_mail, _ = retention.mail_of_contacts(session, event_ids)
    deleted = {
        "mail_records": in_chunks(session, retention.delete_mail_records, finished_mail),
        "contacts": in_chunks(session, retention.delete_contacts, event_ids),
        "alerts": in_chunks(session, retention.delete_alerts, alert_ids),
        "identities": in_chunks(session, retention.delete_person_identities, identity_ids),
    }
    # Named only when there were any: most people never wrote to a SPOC's queue.
    if items := spoc_queue.delete_items_of_customer(session, customer_id):
        deleted["spoc_items"] = items
    return deleted


def in_chunks(session: Session, remove: Deleter, ids: Sequence[int]) -> int:
    # A long history is many ids: SQLite takes at most 32,766 parameters in one statement.
    step = retention.BATCH
    return sum(remove(session, ids[i : i + step]) for i in range(0, len(ids), step))
