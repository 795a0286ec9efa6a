"""The SQL of retention: records that have outlived their period, found and deleted in
batches so that no transaction holds many rows for long.

Each finder returns a batch in id order from just after `after`, the last id of the batch
before: a batch starts where the one before stopped, so the records a run keeps (a
restricted person's old contacts, say) are read once per run, not once per batch."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import Select, and_, delete, exists, func, or_, select, text, update
from sqlalchemy.orm import Session

from gateway.store.tables import MailDelivery, MailMessage
from routing.alerts import LIVE as LIVE_ALERTS
from routing.enums import DeliveryStatus
from routing.models import Alert, AuditEntry, ContactEvent, Flag, Identity, Restriction

BATCH = 5000
# Not finished: copies on their way, and dead letters, which stay visible until a person
# retries them (a dead letter may be a statutory request nobody has read).
IN_FLIGHT = (DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.DEAD)


def search_in_one_backend(session: Session) -> None:
    """Keep this transaction's searches to the one PostgreSQL backend that runs them.

    A first run reads years of contacts; planned in parallel, each batch's search would
    take workers from the cores the gateway needs (bench/README.md, "Retention")."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))


def _kept_customers() -> Select[tuple[int | None]]:
    """Customers a restriction still holds on file (a purged one lets go of its customer):
    their contacts and identities go only when the last restriction is purged."""
    return select(Restriction.customer_id).where(Restriction.customer_id.is_not(None))


def expired_contact_ids(
    session: Session, before: dt.datetime, limit: int = BATCH, *, after: int = 0
) -> list[int]:
    """Contact events older than `before` of people no restriction holds on file."""
    owner = func.coalesce(ContactEvent.customer_id, Identity.customer_id)
    query = (
        select(ContactEvent.id)
        .outerjoin(Identity, Identity.id == ContactEvent.identity_id)
        .where(
            ContactEvent.id > after,
            ContactEvent.occurred_at < before,
            or_(owner.is_(None), owner.not_in(_kept_customers())),
        )
        .order_by(ContactEvent.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def delete_contacts(session: Session, event_ids: Sequence[int]) -> int:
    """Delete contact events and the call flags on them."""
    if not event_ids:
        return 0
    session.execute(delete(Flag).where(Flag.contact_event_id.in_(event_ids)))
    result = session.execute(delete(ContactEvent).where(ContactEvent.id.in_(event_ids)))
    return result.rowcount or 0


def finished_mail_ids(
    session: Session, before: dt.datetime, limit: int = BATCH, *, after: int = 0
) -> list[int]:
    """Messages received before `before` whose every copy was delivered."""
    in_flight = select(MailDelivery.message_id).where(MailDelivery.status.in_(IN_FLIGHT))
    query = (
        select(MailMessage.id)
        .where(
            MailMessage.id > after,
            MailMessage.received_at < before,
            MailMessage.id.not_in(in_flight),
        )
        .order_by(MailMessage.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def delete_mail_records(session: Session, message_ids: Sequence[int]) -> int:
    """Delete delivered messages' records and their deliveries (their spool files went when
    the last copy was delivered)."""
    if not message_ids:
        return 0
    session.execute(delete(MailDelivery).where(MailDelivery.message_id.in_(message_ids)))
    result = session.execute(delete(MailMessage).where(MailMessage.id.in_(message_ids)))
    return result.rowcount or 0


def mail_of_contacts(session: Session, event_ids: Sequence[int]) -> tuple[list[int], list[int]]:
    """The gateway's records of the messages these contact events record: (those whose every
    copy was delivered, those with a copy still on its way or held as a dead letter)."""
    queue_ids: set[str] = set()
    for start in range(0, len(event_ids), BATCH):
        keys = select(ContactEvent.source_key).where(
            ContactEvent.id.in_(event_ids[start : start + BATCH]),
            ContactEvent.source == "smtp",
        )
        queue_ids.update(key.partition(":")[0] for key in session.scalars(keys) if key)
    finished: list[int] = []
    unfinished: list[int] = []
    ordered = sorted(queue_ids)
    in_flight = select(MailDelivery.message_id).where(MailDelivery.status.in_(IN_FLIGHT))
    for start in range(0, len(ordered), BATCH):
        query = select(MailMessage.id, MailMessage.id.in_(in_flight)).where(
            MailMessage.queue_id.in_(ordered[start : start + BATCH])
        )
        for message_id, waiting in session.execute(query):
            (unfinished if waiting else finished).append(message_id)
    return finished, unfinished


def closed_alert_ids(
    session: Session, before: dt.datetime, limit: int = BATCH, *, after: int = 0
) -> list[int]:
    """Alerts closed before `before`, of people no restriction holds on file."""
    query = (
        select(Alert.id)
        .where(
            Alert.id > after,
            Alert.closed_at < before,
            or_(Alert.customer_id.is_(None), Alert.customer_id.not_in(_kept_customers())),
        )
        .order_by(Alert.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def delete_alerts(session: Session, alert_ids: Sequence[int]) -> int:
    if not alert_ids:
        return 0
    return session.execute(delete(Alert).where(Alert.id.in_(alert_ids))).rowcount or 0


def old_audit_ids(
    session: Session, before: dt.datetime, limit: int = BATCH, *, after: int = 0
) -> list[int]:
    """Audit entries written before `before`."""
    query = (
        select(AuditEntry.id)
        .where(AuditEntry.id > after, AuditEntry.at < before)
        .order_by(AuditEntry.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def delete_audit_entries(session: Session, entry_ids: Sequence[int]) -> int:
    """Delete old audit entries (the database refuses any younger than two years)."""
    if not entry_ids:
        return 0
    return session.execute(delete(AuditEntry).where(AuditEntry.id.in_(entry_ids))).rowcount or 0


def _unused(identity_id: object) -> list[object]:
    return [
        ~exists().where(ContactEvent.identity_id == identity_id),
        ~exists().where(Alert.identity_id == identity_id),
    ]


def loose_identity_ids(session: Session, limit: int = BATCH, *, after: int = 0) -> list[int]:
    """Addresses and numbers no customer, contact or alert refers to any more."""
    query = (
        select(Identity.id)
        .where(Identity.id > after, Identity.customer_id.is_(None), *_unused(Identity.id))
        .order_by(Identity.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def delete_identities(session: Session, identity_ids: Sequence[int]) -> int:
    """Delete identities still unused as the statement runs (a contact may have arrived)."""
    if not identity_ids:
        return 0
    statement = delete(Identity).where(
        Identity.id.in_(identity_ids), Identity.customer_id.is_(None), *_unused(Identity.id)
    )
    return session.execute(statement).rowcount or 0


def person_record_ids(session: Session, customer_id: int) -> tuple[list[int], list[int], list[int]]:
    """A customer's identities, contact events and alerts (to go with their last restriction)."""
    identity_ids = list(
        session.scalars(select(Identity.id).where(Identity.customer_id == customer_id))
    )
    # By identity only where no other customer's restriction claimed the contact (the
    # restriction matched may have been another person's, through Reply-To, say).
    by_person = [ContactEvent.customer_id == customer_id]
    alerts_by_person = [Alert.customer_id == customer_id]
    if identity_ids:
        by_person.append(
            and_(ContactEvent.identity_id.in_(identity_ids), ContactEvent.customer_id.is_(None))
        )
        alerts_by_person.append(
            and_(Alert.identity_id.in_(identity_ids), Alert.customer_id.is_(None))
        )
    event_ids = list(session.scalars(select(ContactEvent.id).where(or_(*by_person))))
    alert_ids = list(session.scalars(select(Alert.id).where(or_(*alerts_by_person))))
    return identity_ids, event_ids, alert_ids


def live_alert_count(session: Session, customer_id: int) -> int:
    """Urgent alerts about a customer still waiting for a person (a safeguarding concern, a
    reconsideration): while one waits, nothing about the customer is deleted."""
    query = select(func.count(Alert.id)).where(
        Alert.customer_id == customer_id,
        Alert.status.in_(LIVE_ALERTS),
        Alert.urgent.is_(True),
    )
    return session.scalar(query) or 0


def delete_person_identities(session: Session, identity_ids: Sequence[int]) -> int:
    """Unlink a customer's identities and delete those nothing else refers to (a contact
    another person's restriction claimed keeps its address, unlinked)."""
    if not identity_ids:
        return 0
    session.execute(
        update(Identity)
        .where(Identity.id.in_(identity_ids))
        .values(customer_id=None, linked_at=None)
    )
    return delete_identities(session, identity_ids)
