"""The SQL of the SPOC's queue: items inserted with the intake's batch, the list and its
counts, one item, its outcome, and the deletions for retention and erasure."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from gateway.store.tables import SpocItem
from routing.alerts import SAFEGUARDING
from routing.enums import ResponseTimetable, RestrictionStatus
from routing.models import Alert, Customer, Restriction
from routing.spoc import ItemOutcome

ITEMS = SpocItem.__table__
PAGE_SIZE = 50
BATCH = 5000


class Show:
    """The list's filters: what is still waiting (the default), what is overdue, all."""

    WAITING = "waiting"
    OVERDUE = "overdue"
    UNREAD = "unread"
    ALL = "all"


def insert_items(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Append queue items (dicts of the spoc_items columns) in one executemany."""
    if rows:
        conn.execute(ITEMS.insert(), rows)


# --- conditions ------------------------------------------------------------------------------


def _waiting() -> ColumnElement[bool]:
    return or_(SpocItem.outcome.is_(None), SpocItem.outcome == ItemOutcome.REPLY_DUE)


def _overdue(today: dt.date) -> ColumnElement[bool]:
    no_outcome = and_(SpocItem.outcome.is_(None), SpocItem.due_on < today)
    reply_late = and_(SpocItem.outcome == ItemOutcome.REPLY_DUE, SpocItem.reply_due_on < today)
    return or_(no_outcome, reply_late)


def _shown(show: str, today: dt.date) -> ColumnElement[bool] | None:
    return {
        Show.WAITING: _waiting(),
        Show.OVERDUE: _overdue(today),
        Show.UNREAD: SpocItem.read_at.is_(None),
    }.get(show)


# --- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ItemRow:
    """One item as the list shows it: never the message itself."""

    id: int
    received_at: dt.datetime
    sender: str
    addressed_to: list[str]
    subject: str
    decision: str
    restriction_ref: str
    spoc_email: str | None
    due_on: dt.date
    read_at: dt.datetime | None
    outcome: ItemOutcome | None
    reply_due_on: dt.date | None
    customer_ref: str | None


_ROW_COLUMNS = (
    SpocItem.id,
    SpocItem.received_at,
    SpocItem.sender,
    SpocItem.addressed_to,
    SpocItem.subject,
    SpocItem.decision,
    SpocItem.restriction_ref,
    SpocItem.spoc_email,
    SpocItem.due_on,
    SpocItem.read_at,
    SpocItem.outcome,
    SpocItem.reply_due_on,
    Customer.customer_ref,
)


def items_page(
    session: Session,
    *,
    today: dt.date,
    show: str,
    spoc_email: str | None,
    offset: int = 0,
    limit: int = PAGE_SIZE,
) -> tuple[list[ItemRow], bool]:
    """A page of items, oldest due first (what is late comes first), and whether there are
    more. `spoc_email` limits it to one SPOC's items; None shows every SPOC's."""
    query = (
        select(*_ROW_COLUMNS)
        .outerjoin(Customer, Customer.id == SpocItem.customer_id)
        .order_by(func.coalesce(SpocItem.reply_due_on, SpocItem.due_on), SpocItem.id)
        .offset(offset)
        .limit(limit + 1)
    )
    if (condition := _shown(show, today)) is not None:
        query = query.where(condition)
    if spoc_email is not None:
        query = query.where(func.lower(SpocItem.spoc_email) == spoc_email.lower())
    rows = [ItemRow(*row) for row in session.execute(query)]
    return rows[:limit], len(rows) > limit


@dataclass(frozen=True, slots=True)
class QueueCounts:
    unread: int
    overdue: int


def counts(session: Session, today: dt.date, spoc_email: str | None) -> QueueCounts:
    """How many items are unread and how many overdue (one SPOC's, or all)."""
    query = select(
        func.count().filter(SpocItem.read_at.is_(None)), func.count().filter(_overdue(today))
    )
    if spoc_email is not None:
        query = query.where(func.lower(SpocItem.spoc_email) == spoc_email.lower())
    unread, overdue = session.execute(query).one()
    return QueueCounts(unread or 0, overdue or 0)


def item(session: Session, item_id: int) -> tuple[SpocItem, str | None] | None:
    """One item with its customer's reference, the message included."""
    query = (
        select(SpocItem, Customer.customer_ref)
        .outerjoin(Customer, Customer.id == SpocItem.customer_id)
        .where(SpocItem.id == item_id)
    )
    row = session.execute(query).one_or_none()
    return (row[0], row[1]) if row else None


def items_of_customer(session: Session, customer_id: int) -> Sequence[SpocItem]:
    """A person's items, oldest first (for their subject access export)."""
    query = select(SpocItem).where(SpocItem.customer_id == customer_id).order_by(SpocItem.id)
    return session.scalars(query).all()


def safeguarding_alert_for(session: Session, item: SpocItem) -> Alert | None:
    """The safeguarding alert the intake raised for this item's message, if it raised one
    (its evidence names the message's queue id)."""
    query = select(Alert).where(
        Alert.rule == SAFEGUARDING,
        Alert.customer_id == item.customer_id,
        Alert.opened_at == item.received_at,
    )
    return next(
        (a for a in session.scalars(query) if (a.evidence or {}).get("queue_id") == item.queue_id),
        None,
    )


@dataclass(frozen=True, slots=True)
class Timetabled:
    """An active restriction whose SPOC responds on a timetable."""

    reference: str
    spoc_email: str
    starts_on: dt.date
    timetable: ResponseTimetable


def timetabled_restrictions(session: Session) -> list[Timetabled]:
    query = select(
        Restriction.reference,
        Restriction.spoc_email,
        Restriction.starts_on,
        Restriction.response_timetable,
    ).where(
        Restriction.status == RestrictionStatus.ACTIVE,
        Restriction.response_timetable != ResponseTimetable.NONE,
        Restriction.spoc_email.is_not(None),
    )
    return [Timetabled(*row) for row in session.execute(query)]


def waiting_items(session: Session, references: Sequence[str]) -> list[ItemRow]:
    """Every item still waiting (no outcome, or a reply due) under these restrictions."""
    if not references:
        return []
    query = (
        select(*_ROW_COLUMNS)
        .outerjoin(Customer, Customer.id == SpocItem.customer_id)
        .where(SpocItem.restriction_ref.in_(references), _waiting())
        .order_by(SpocItem.id)
    )
    return [ItemRow(*row) for row in session.execute(query)]


# --- deleting --------------------------------------------------------------------------------


def expired_item_ids(
    session: Session, before: dt.datetime, limit: int = BATCH, *, after: int = 0
) -> list[int]:
    """Items whose message arrived before `before`, in id order after `after`."""
    query = (
        select(SpocItem.id)
        .where(SpocItem.id > after, SpocItem.received_at < before)
        .order_by(SpocItem.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def delete_items(session: Session, item_ids: Sequence[int]) -> int:
    if not item_ids:
        return 0
    return session.execute(delete(SpocItem).where(SpocItem.id.in_(item_ids))).rowcount or 0


def delete_items_of_customer(session: Session, customer_id: int) -> int:
    """Every item about this person (their erasure, or their last restriction purged)."""
    result = session.execute(delete(SpocItem).where(SpocItem.customer_id == customer_id))
    return result.rowcount or 0
