"""The SQL of contact volume: the counted contacts of people, their volume alerts, and the
writes that open, refresh and clear those alerts (services.volume decides what to write).

Statements are built once, at import: evaluating one new contact runs a few indexed
queries on the caller's connection and should not rebuild them each time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import (
    DateTime,
    Result,
    String,
    and_,
    bindparam,
    case,
    delete,
    func,
    or_,
    select,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from routing import alerts as alert_steps
from routing.alerts import RECONTACT
from routing.enums import AlertStatus, Direction
from routing.models import Alert, ContactEvent, Identity, Service, ServiceAddress

EVENTS = ContactEvent.__table__
ALERTS = Alert.__table__
IDENTITIES = Identity.__table__
LIVE_STATUSES = [s.value for s in alert_steps.LIVE]
CLOSING_STATUSES = [AlertStatus.DISMISSED.value, AlertStatus.ESCALATED.value]
EVENTS_PER_QUERY = 1000  # event ids bound in one query (well under any driver's limit)
RESCAN_ROWS_PER_FETCH = 20_000  # a rescan streams millions of rows; fetch them in batches

# Whom a contact counts for now: the customer its identity is linked to, else the customer
# recorded on the event (services.volume explains why).
_OWNER = func.coalesce(IDENTITIES.c.customer_id, EVENTS.c.customer_id)
_FROM = EVENTS.outerjoin(IDENTITIES, IDENTITIES.c.id == EVENTS.c.identity_id)
_COUNTED = and_(EVENTS.c.direction == Direction.INBOUND, EVENTS.c.statutory.is_(False))
_IN_SPAN = and_(EVENTS.c.occurred_at > bindparam("lo"), EVENTS.c.occurred_at <= bindparam("hi"))
# A counted contact, in this column order: (id, occurred_at (naive UTC), channel (its value),
# to_value, duration_seconds, content_hash, identity_id, owner). Plain types: no per-row
# conversion, as a rescan reads millions of rows.
_ROW = (
    EVENTS.c.id,
    type_coerce(EVENTS.c.occurred_at, DateTime()).label("occurred_at"),
    type_coerce(EVENTS.c.channel, String()).label("channel"),
    EVENTS.c.to_value,
    EVENTS.c.duration_seconds,
    EVENTS.c.content_hash,
    EVENTS.c.identity_id,
    _OWNER.label("owner"),
)

_MOMENTS = (
    select(type_coerce(EVENTS.c.occurred_at, DateTime()), EVENTS.c.identity_id, _OWNER)
    .select_from(_FROM)
    .where(EVENTS.c.id.in_(bindparam("ids", expanding=True)), _COUNTED)
)

# A person's contacts: recorded against the customer by an identity linked to no customer
# now, or by an identity linked to the customer now, or by the lone identity. Each part is
# its own indexed range scan. The first part leaves out what the second finds, so a busy
# customer's contacts cross the wire once; the caller still counts any contact once.
_LINKED = IDENTITIES.alias("linked")
_CONTACTS = union_all(
    select(*_ROW)
    .select_from(_FROM)
    .where(
        _COUNTED,
        _IN_SPAN,
        EVENTS.c.customer_id.in_(bindparam("customers", expanding=True)),
        IDENTITIES.c.customer_id.is_(None),
    ),
    select(*_ROW)
    .select_from(_FROM)
    .where(
        _COUNTED,
        _IN_SPAN,
        EVENTS.c.identity_id.in_(
            select(_LINKED.c.id).where(
                _LINKED.c.customer_id.in_(bindparam("linked_to", expanding=True))
            )
        ),
    ),
    select(*_ROW)
    .select_from(_FROM)
    .where(_COUNTED, _IN_SPAN, EVENTS.c.identity_id.in_(bindparam("identities", expanding=True))),
)

# Everyone's, grouped by person (customers positive, lone identities negative) for a rescan.
_EVERYONE = (
    select(*_ROW)
    .select_from(_FROM)
    .where(
        _COUNTED,
        _IN_SPAN,
        or_(EVENTS.c.identity_id.is_not(None), EVENTS.c.customer_id.is_not(None)),
    )
    .order_by(
        case((_OWNER.is_not(None), _OWNER), else_=-EVENTS.c.identity_id),
        EVENTS.c.occurred_at,
        EVENTS.c.id,
    )
    .execution_options(yield_per=RESCAN_ROWS_PER_FETCH)
)

_STATES = select(
    ALERTS.c.id, ALERTS.c.person_key, ALERTS.c.rule, ALERTS.c.status, ALERTS.c.closed_at,
    ALERTS.c.value,
).where(
    ALERTS.c.person_key.is_not(None),
    or_(
        ALERTS.c.status.in_(LIVE_STATUSES),
        and_(ALERTS.c.status.in_(CLOSING_STATUSES), ALERTS.c.closed_at > bindparam("since")),
    ),
)  # fmt: skip
_STATES_OF = _STATES.where(ALERTS.c.person_key.in_(bindparam("people", expanding=True)))

# A rescan rebuilds the volume alerts; a reconsideration alert is not one of them.
_REMOVE_OPEN = delete(ALERTS).where(
    ALERTS.c.person_key.is_not(None),
    ALERTS.c.status == AlertStatus.OPEN,
    ALERTS.c.rule != RECONTACT,
)
_SERVICE_ADDRESSES = select(ServiceAddress.value, Service.name).join(
    Service, Service.id == ServiceAddress.service_id
)
_LIVE_INDEX = next(i for i in ALERTS.indexes if i.name == "uq_alerts_live_person_rule")
_INSERTS: dict[str, Any] = {}


# --- reading contacts ------------------------------------------------------------------------


def counted_moments(
    conn: Connection, event_ids: Sequence[int]
) -> Iterator[tuple[dt.datetime, int | None, int | None]]:
    """(occurred_at (naive UTC), identity id, owner) of those of these events that count."""
    ids = sorted(set(event_ids))
    for start in range(0, len(ids), EVENTS_PER_QUERY):
        chunk = ids[start : start + EVENTS_PER_QUERY]
        yield from conn.execute(_MOMENTS, {"ids": chunk})


def contacts_of_people(
    conn: Connection,
    customers: list[int],
    identities: list[int],
    lo: dt.datetime,
    hi: dt.datetime,
) -> Result[Any]:
    """The counted contacts in (lo, hi] of these customers (through their own id and their
    identities) and lone identities, as rows in _ROW's order, in no particular order. A
    contact can come twice (under a customer and under its identity)."""
    params = {
        "lo": lo,
        "hi": hi,
        "customers": customers,
        "linked_to": customers,
        "identities": identities,
    }
    return conn.execute(_CONTACTS, params)


def everyones_contacts(conn: Connection, since: dt.datetime, until: dt.datetime) -> Result[Any]:
    """Every counted contact in (since, until] as rows in _ROW's order, person by person
    (by owner, then lone identity), each person's in time order; streamed from the database
    (a year can hold millions)."""
    return conn.execute(_EVERYONE, {"lo": since, "hi": until})


# --- volume alerts ---------------------------------------------------------------------------


def alert_state_rows(conn: Connection, people: list[str] | None, since: dt.datetime) -> Result[Any]:
    """(id, person key, rule, status, closed_at, value) of the live volume alerts and of
    those dismissed or escalated after ``since``, of these people (None: everyone)."""
    if people is None:
        return conn.execute(_STATES, {"since": since})
    return conn.execute(_STATES_OF, {"since": since, "people": people})


def remove_open_alerts(conn: Connection) -> int:
    """Delete every open volume alert nobody has acted on; returns how many."""
    return conn.execute(_REMOVE_OPEN).rowcount or 0


def open_alert_unless_live(conn: Connection, row: dict[str, Any]) -> int | None:
    """Insert the alert and return its id; None when the person already has a live alert
    for that rule (another worker opened it a moment ago)."""
    return conn.execute(_insert_unless_live(conn), row).scalar()


def refresh_alert(
    conn: Connection, alert_id: int, *, summary: str, evidence: dict[str, Any], value: int
) -> None:
    """Bring an alert's summary, evidence and figure up to date."""
    conn.execute(
        update(ALERTS)
        .where(ALERTS.c.id == alert_id)
        .values(summary=summary, evidence=evidence, value=value)
    )


def _insert_unless_live(conn: Connection) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING against the one-live-alert-per-person-and-rule index."""
    dialect = conn.dialect.name
    if dialect not in _INSERTS:
        insert_for = postgresql_insert if dialect == "postgresql" else sqlite_insert
        _INSERTS[dialect] = (
            insert_for(ALERTS)
            .on_conflict_do_nothing(
                index_elements=["person_key", "rule"],
                # SQLite matches the conflict target only against the index's own WHERE.
                index_where=_LIVE_INDEX.dialect_options[dialect]["where"],
            )
            .returning(ALERTS.c.id)
        )
    return _INSERTS[dialect]


# --- services --------------------------------------------------------------------------------


def service_addresses(conn: Connection) -> Iterable[tuple[str, str]]:
    """(council mailbox or line, the name of a service it belongs to) for every address."""
    return conn.execute(_SERVICE_ADDRESSES)
