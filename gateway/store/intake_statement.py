"""Intake's statements: a batch in one PostgreSQL statement (identities, messages,
deliveries, contacts), or, on the general path, a few Core statements.

Intake stores every batch of messages in one transaction. Sent as separate statements
(look up the senders' identities, insert the missing ones, insert messages, deliveries and
contact events), that transaction cost more CPU than anything else the gateway did per
message, nearly all of it in the client libraries preparing each statement and its
parameters. Here the batch goes as three JSON documents into one statement of fixed text,
which PostgreSQL unpacks with ``jsonb_to_recordset``: one round trip, and psycopg and
SQLAlchemy prepare the statement once per process.

The rows are the ones intake builds for its general path (SQLite, and batches with an
alert), so both paths store the same thing; this module only knows how to send them.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, TextClause, text
from sqlalchemy.dialects import postgresql

from gateway.store.tables import MailDelivery, MailMessage
from routing.enums import IdentityKind
from routing.models import Alert, ContactEvent

MESSAGES = MailMessage.__table__
DELIVERIES = MailDelivery.__table__
EVENTS = ContactEvent.__table__
ALERTS = Alert.__table__

# Event columns filled from the sender's identity, which the statement itself finds or makes.
_FROM_PERSON = {
    "identity_id": "people.id",
    # A restriction's customer when a restriction decided, else the identity's (as the
    # general path's _contact_event_row does).
    "customer_id": "CASE WHEN events.restriction_id IS NULL THEN people.customer_id "
    "ELSE events.customer_id END",
    "from_value": "people.value",
}


@dataclass(frozen=True, slots=True)
class StoredBatch:
    message_ids: dict[str, int]  # by queue id
    event_ids: dict[str, int]  # by source key
    linked_senders: set[str]  # the sender identities (values) the events could be linked to


def store_batch(
    conn: Connection,
    messages: Sequence[dict[str, Any]],
    deliveries: Sequence[dict[str, Any]],
    events: Sequence[dict[str, Any]],
    now: dt.datetime,
) -> StoredBatch:
    """Insert the rows in one statement and return the new ids.

    ``deliveries`` name their message by ``queue_id``; ``events`` name their sender by
    ``person`` (an email identity's value, or None) and leave ``identity_id``,
    ``customer_id`` (unless a restriction set it) and ``from_value`` to be filled from it.
    """
    statement = _statement(_keys(messages), _keys(deliveries), _keys(events))
    rows = conn.execute(
        statement,
        {
            "messages": _json(messages),
            "deliveries": _json(deliveries),
            "events": _json(events),
            "now": _naive_utc(now),
            "kind": IdentityKind.EMAIL.value,
        },
    )
    found = StoredBatch({}, {}, set())
    for kind, row_id, key in rows:
        if kind == "message":
            found.message_ids[key] = row_id
        elif kind == "event":
            found.event_ids[key] = row_id
        else:
            found.linked_senders.add(key)
    return found


def _keys(rows: Sequence[dict[str, Any]]) -> tuple[str, ...]:
    """The rows' keys: every row of a kind has the same ones (one builder makes them)."""
    if not rows:
        raise ValueError("a batch statement needs at least one row of each kind")
    keys = tuple(rows[0])
    assert all(tuple(row) == keys for row in rows), "rows of one kind differ in their keys"
    return keys


@functools.lru_cache(maxsize=8)
def _statement(
    message_keys: tuple[str, ...], delivery_keys: tuple[str, ...], event_keys: tuple[str, ...]
) -> TextClause:
    """The statement for rows with these keys (always the same ones: built once)."""
    delivery_columns = [k for k in delivery_keys if k != "queue_id"]
    event_columns = [k for k in event_keys if k != "person"]
    event_values = ", ".join(_FROM_PERSON.get(k, f"events.{k}") for k in event_columns)
    return text(
        f"""
        WITH wanted AS (
            SELECT DISTINCT person AS value
            FROM jsonb_to_recordset(CAST(:events AS jsonb)) AS events(person text)
            WHERE person IS NOT NULL
            ORDER BY value  -- two processes adding the same new senders lock them alike
        ), created AS (
            INSERT INTO identities (kind, value, created_at)
            SELECT :kind, value, CAST(:now AS timestamp) FROM wanted
            ON CONFLICT DO NOTHING
            RETURNING id, value, customer_id
        ), people AS (
            SELECT id, value, customer_id FROM created
            UNION ALL
            SELECT known.id, known.value, known.customer_id
            FROM identities AS known JOIN wanted ON known.value = wanted.value
            WHERE known.kind = :kind
        ), messages AS (
            INSERT INTO mail_messages ({", ".join(message_keys)})
            SELECT {", ".join(message_keys)}
            FROM {_recordset("messages", MESSAGES, message_keys)}
            RETURNING id, queue_id
        ), deliveries AS (
            INSERT INTO mail_deliveries (message_id, {", ".join(delivery_columns)})
            SELECT messages.id, {", ".join(f"deliveries.{k}" for k in delivery_columns)}
            FROM {_recordset("deliveries", DELIVERIES, delivery_keys)}
            JOIN messages ON messages.queue_id = deliveries.queue_id
        ), events AS (
            INSERT INTO contact_events ({", ".join(event_columns)})
            SELECT {event_values}
            FROM {_recordset("events", EVENTS, event_keys)}
            LEFT JOIN people ON people.value = events.person
            RETURNING id, source_key
        )
        SELECT 'message', id, queue_id FROM messages
        UNION ALL SELECT 'event', id, source_key FROM events
        UNION ALL SELECT 'person', id, value FROM people
        """
    )


def _recordset(name: str, table: Table, keys: tuple[str, ...]) -> str:
    """``jsonb_to_recordset`` over one parameter, each key typed as its column is."""
    dialect = postgresql.dialect()
    typed = []
    for key in keys:
        column = table.c.get(key)
        sql_type = column.type.compile(dialect=dialect) if column is not None else "text"
        typed.append(f"{key} {sql_type}")
    return f"jsonb_to_recordset(CAST(:{name} AS jsonb)) AS {name}({', '.join(typed)})"


def _json(rows: Sequence[dict[str, Any]]) -> str:
    return json.dumps(rows, default=_plain, ensure_ascii=False, separators=(",", ":"))


def _plain(value: object) -> object:
    if isinstance(value, dt.datetime):
        return _naive_utc(value).isoformat()
    raise TypeError(f"cannot store a {type(value).__name__} in a batch")


def _naive_utc(moment: dt.datetime) -> dt.datetime:
    # As routing.models.UTCDateTime stores every time: naive, in UTC; a naive time in is a bug.
    if moment.tzinfo is None:
        raise ValueError("naive datetime given for a UTC column")
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


# --- the general path --------------------------------------------------------------------------


def insert_messages(conn: Connection, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert message rows; their new ids, in the rows' order."""
    returning = MESSAGES.insert().returning(MESSAGES.c.id, sort_by_parameter_order=True)
    return list(conn.execute(returning, rows).scalars())


def insert_deliveries(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert delivery rows (each naming its message by id); nothing when there are none."""
    if rows:
        conn.execute(DELIVERIES.insert(), rows)


def insert_contact_events(conn: Connection, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert contact event rows; their new ids, in the rows' order."""
    returning = EVENTS.insert().returning(EVENTS.c.id, sort_by_parameter_order=True)
    return list(conn.execute(returning, rows).scalars())


def insert_alerts(conn: Connection, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert alert rows (one statement each: they are rare); returns their ids."""
    return [conn.scalar(ALERTS.insert().values(row).returning(ALERTS.c.id)) for row in rows]
