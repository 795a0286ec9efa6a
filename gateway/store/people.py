"""The SQL that finds one person and reads everything held on them (subject access)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session, selectinload

from gateway.store.tables import MailMessage
from routing.models import Alert, AuditEntry, ContactEvent, Customer, Identity, Restriction

# Contact events are read in pages of this many, so a long history never sits in memory
# as ORM objects all at once.
EVENT_PAGE = 2000


@dataclass(frozen=True)
class PersonRecord:
    """Who a subject access request is about: a customer with every identity linked to them,
    or one identity that no customer record holds."""

    customer: Customer | None
    identities: tuple[Identity, ...]

    @property
    def identity_ids(self) -> list[int]:
        return [identity.id for identity in self.identities]


def person_of_customer(session: Session, customer: Customer) -> PersonRecord:
    query = select(Identity).where(Identity.customer_id == customer.id).order_by(Identity.id)
    return PersonRecord(customer, tuple(session.scalars(query)))


def restrictions_of(session: Session, customer_id: int) -> Sequence[Restriction]:
    query = (
        select(Restriction)
        .where(Restriction.customer_id == customer_id)
        .options(
            selectinload(Restriction.reviews),
            selectinload(Restriction.services),
            selectinload(Restriction.letters),
            selectinload(Restriction.appeals),
        )
        .order_by(Restriction.reference, Restriction.revision)
    )
    return session.scalars(query).all()


def _of_person(model: type[ContactEvent] | type[Alert], person: PersonRecord) -> object:
    by_identity = model.identity_id.in_(person.identity_ids) if person.identity_ids else None
    by_customer = model.customer_id == person.customer.id if person.customer is not None else None
    clauses = [c for c in (by_customer, by_identity) if c is not None]
    return or_(*clauses) if clauses else and_(False)


def contact_events_of(session: Session, person: PersonRecord) -> Iterator[list[ContactEvent]]:
    """The person's contact events, oldest first, in pages (keyset on id)."""
    after = 0
    while True:
        query = (
            select(ContactEvent)
            .where(_of_person(ContactEvent, person), ContactEvent.id > after)
            .options(selectinload(ContactEvent.flags))
            .order_by(ContactEvent.id)
            .limit(EVENT_PAGE)
        )
        page = session.scalars(query).all()
        if not page:
            return
        yield list(page)
        session.expunge_all()
        after = page[-1].id


def mail_queue_id(event: ContactEvent) -> str | None:
    """The spool queue id of the message a mail contact event records (its source key is
    `queue_id:recipient`), or None for a call."""
    if event.source != "smtp" or not event.source_key:
        return None
    return event.source_key.partition(":")[0]


def mail_records(session: Session, queue_ids: Sequence[str]) -> list[MailMessage]:
    """The gateway's records of these messages (sender, size, each copy and where it went),
    oldest first; read in chunks, as a long history is many ids."""
    found: list[MailMessage] = []
    unique = sorted(set(queue_ids))
    for start in range(0, len(unique), EVENT_PAGE):
        query = (
            select(MailMessage)
            .where(MailMessage.queue_id.in_(unique[start : start + EVENT_PAGE]))
            .options(selectinload(MailMessage.deliveries))
        )
        found.extend(session.scalars(query))
    return sorted(found, key=lambda message: message.id)


def person_event_ids(session: Session, person: PersonRecord) -> list[int]:
    """The ids of every contact event held on the person."""
    return list(session.scalars(select(ContactEvent.id).where(_of_person(ContactEvent, person))))


def alerts_of(session: Session, person: PersonRecord) -> Sequence[Alert]:
    query = select(Alert).where(_of_person(Alert, person)).order_by(Alert.id)
    return session.scalars(query).all()


def audit_of(
    session: Session,
    person: PersonRecord,
    references: Sequence[str],
    alert_ids: Sequence[int],
) -> Sequence[AuditEntry]:
    """Who viewed or changed the person's record: entries about the customer, any of their
    restrictions (by reference, with or without the revision) and their alerts."""
    clauses = []
    if person.customer is not None:
        clauses.append(
            and_(
                AuditEntry.subject_type == "customer",
                AuditEntry.subject_ref == str(person.customer.id),
            )
        )
    for reference in references:
        clauses.append(
            and_(
                AuditEntry.subject_type == "restriction",
                or_(
                    AuditEntry.subject_ref == reference,
                    AuditEntry.subject_ref.like(f"{reference}/%"),
                ),
            )
        )
    if alert_ids:
        clauses.append(
            and_(
                AuditEntry.subject_type == "alert",
                AuditEntry.subject_ref.in_([str(i) for i in alert_ids]),
            )
        )
    if not clauses:
        return []
    return session.scalars(select(AuditEntry).where(or_(*clauses)).order_by(AuditEntry.id)).all()


# --- rectification and erasure ---------------------------------------------------------------


def customer_by_id(session: Session, customer_id: int) -> Customer | None:
    return session.get(Customer, customer_id)


def identity_for_update(session: Session, identity_id: int) -> Identity | None:
    """The identity, locked until the unit of work ends (PostgreSQL; SQLite locks the file)."""
    return session.scalar(select(Identity).where(Identity.id == identity_id).with_for_update())


def count_of(
    session: Session, model: type[ContactEvent] | type[Alert], person: PersonRecord
) -> int:
    """How many contact events (or alerts) are held on the person."""
    query = select(func.count()).select_from(model).where(_of_person(model, person))
    return session.scalar(query) or 0


def detach_identity_contacts(session: Session, identity_id: int, customer_id: int) -> int:
    """Contact events of an identity stop counting as the customer's (it was unlinked)."""
    statement = (
        update(ContactEvent)
        .where(ContactEvent.identity_id == identity_id, ContactEvent.customer_id == customer_id)
        .values(customer_id=None)
    )
    return session.execute(statement).rowcount or 0


def lone_identity_record_ids(session: Session, identity_id: int) -> tuple[list[int], list[int]]:
    """The contact events and alerts of an identity no customer holds."""
    # Only what no customer's restriction claimed: those contacts are that customer's evidence.
    events = select(ContactEvent.id).where(
        ContactEvent.identity_id == identity_id, ContactEvent.customer_id.is_(None)
    )
    alerts = select(Alert.id).where(Alert.identity_id == identity_id, Alert.customer_id.is_(None))
    return list(session.scalars(events)), list(session.scalars(alerts))
