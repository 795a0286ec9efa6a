"""The SQL of calls: contact events and flags recorded from calls, the call_imports rows,
and the earlier calls that call limits count.

Recording is the hot path of a call-log import (thousands of calls a batch): events go in
by binary COPY on PostgreSQL, by one insert-or-ignore statement elsewhere, and flags by
one executemany; no ORM objects per call.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import Any

from psycopg.errors import UniqueViolation
from sqlalchemy import Result, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from gateway.store.tables import CallImport
from routing.enums import CallImportStatus, Channel, Direction
from routing.models import ContactEvent, Flag, Restriction

EVENTS = ContactEvent.__table__
FLAGS = Flag.__table__


# --- contact events and flags ----------------------------------------------------------------

# The contact event columns a call writes, with their types for PostgreSQL's binary COPY;
# the others take their defaults (statutory and safeguarding false, no content hash).
EVENT_COLUMNS = (
    ("occurred_at", "timestamptz"),
    ("channel", "text"),
    ("direction", "text"),
    ("source", "text"),
    ("source_key", "text"),
    ("identity_id", "int4"),
    ("customer_id", "int4"),
    ("from_value", "text"),
    ("to_value", "text"),
    ("restriction_id", "int4"),
    ("outcome", "text"),
    ("would_outcome", "text"),
    ("mode", "text"),
    ("reasons", "text"),  # JSON text, cast on the way into the json column
    ("duration_seconds", "int4"),
    ("created_at", "timestamptz"),
)
_NAMES = [name for name, _ in EVENT_COLUMNS]
_REASONS = _NAMES.index("reasons")


def insert_new_events(
    session: Session, rows: list[tuple[Any, ...]], *, duplicates_likely: bool = True
) -> dict[str, int]:
    """Insert the events not recorded yet; source_key -> id for those inserted now.

    ``duplicates_likely`` false lets PostgreSQL try its fast path first (see below).
    """
    if not rows:
        return {}
    if session.get_bind().dialect.name == "postgresql":
        if not duplicates_likely:
            try:
                with session.begin_nested():  # a savepoint, for a COPY that meets a duplicate
                    return _copy_new_events(session, rows)
            except UniqueViolation:
                pass  # recorded before, or by someone else meanwhile: the careful way
        return _insert_ignoring_recorded(session, rows)
    statement = (
        sqlite_insert(EVENTS).on_conflict_do_nothing().returning(EVENTS.c.id, EVENTS.c.source_key)
    )
    values = [
        {
            **dict(zip(_NAMES, row, strict=True)),
            "reasons": json.loads(row[_REASONS]),
            "statutory": False,
            "safeguarding": False,
        }
        for row in rows
    ]
    return {key: event_id for event_id, key in session.execute(statement, values)}


# PostgreSQL, the fast path: take ids for the batch from the table's sequence and COPY it
# straight into contact_events. COPY writes rows in bulk and skips the per-row speculative
# insertion of INSERT ... ON CONFLICT, which cost most of an import's database time. A call
# recorded before (a file imported again) or by another process meanwhile makes the COPY
# fail on the unique constraint: it is rolled back to its savepoint, and the batch goes the
# careful way below, which skips what is recorded. The caller says when duplicates are
# likely (the previous batch had some), so a re-imported file does not try COPY each time.
#
# Binary COPY sends each value in its type's binary form. timestamp and timestamptz share
# theirs (microseconds since 2000-01-01), so aware UTC datetimes sent as timestamptz land
# in the naive-UTC columns as UTCDateTime stores them, with no conversion per row; json's
# binary form is its text, and varchar's is text's.
_BINARY_TYPES = [kind for _, kind in EVENT_COLUMNS]
_COPY_EVENTS = (
    f"COPY contact_events (id, {', '.join(_NAMES)}, statutory, safeguarding) "
    "FROM STDIN (FORMAT BINARY)"
)
_ID_SEQUENCE = "SELECT pg_get_serial_sequence('contact_events', 'id')"
# The sequence's name as a parameter: a constant, resolved once. Looked up in the same
# statement it would be resolved again for every id, at ten times the cost of nextval.
_NEW_IDS = "SELECT array_agg(nextval(%s::regclass)) FROM generate_series(1, %s)"
_KEY = _NAMES.index("source_key")

# The careful path: binary COPY into a per-connection temporary table, then one
# INSERT ... SELECT that skips what is already recorded, whoever recorded it and when.
_BATCH_TABLE = "ccr_call_batch"
_CREATE_BATCH_TABLE = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {_BATCH_TABLE} ("
    + ", ".join(f"{name} {kind}" for name, kind in EVENT_COLUMNS)
    + ") ON COMMIT DELETE ROWS"
)
_COPY_BATCH = f"COPY {_BATCH_TABLE} ({', '.join(_NAMES)}) FROM STDIN (FORMAT BINARY)"
_SELECT_FROM_BATCH = {
    "occurred_at": "occurred_at AT TIME ZONE 'UTC'",
    "created_at": "created_at AT TIME ZONE 'UTC'",
    "reasons": "reasons::json",
}
_INSERT_FROM_BATCH = (
    f"INSERT INTO contact_events ({', '.join(_NAMES)}, statutory, safeguarding) "
    f"SELECT {', '.join(_SELECT_FROM_BATCH.get(name, name) for name in _NAMES)}, false, false "
    f"FROM {_BATCH_TABLE} ON CONFLICT DO NOTHING RETURNING id, source_key"
)


def _copy_new_events(session: Session, rows: list[tuple[Any, ...]]) -> dict[str, int]:
    with session.connection().connection.driver_connection.cursor() as cursor:
        cursor.execute(_ID_SEQUENCE)
        (sequence,) = cursor.fetchone() or (None,)
        cursor.execute(_NEW_IDS, (sequence, len(rows)))
        (ids,) = cursor.fetchone() or ([],)
        with cursor.copy(_COPY_EVENTS) as copy:
            copy.set_types(["int4", *_BINARY_TYPES, "bool", "bool"])
            for event_id, row in zip(ids, rows, strict=True):
                copy.write_row((event_id, *row, False, False))
    return {row[_KEY]: event_id for event_id, row in zip(ids, rows, strict=True)}


def _insert_ignoring_recorded(session: Session, rows: list[tuple[Any, ...]]) -> dict[str, int]:
    with session.connection().connection.driver_connection.cursor() as cursor:
        cursor.execute(_CREATE_BATCH_TABLE)
        cursor.execute(f"TRUNCATE {_BATCH_TABLE}")  # a batch stored twice in one transaction
        with cursor.copy(_COPY_BATCH) as copy:
            copy.set_types(_BINARY_TYPES)
            for row in rows:
                copy.write_row(row)
        cursor.execute(_INSERT_FROM_BATCH)
        return {key: event_id for event_id, key in cursor.fetchall()}


def insert_flags(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert flag rows (one executemany); nothing when there are none."""
    if rows:
        session.execute(FLAGS.insert(), rows)


def inbound_calls_between(
    session: Session, customer_ids: Iterable[int], first: dt.datetime, last: dt.datetime
) -> Result[Any]:
    """(customer id, source, source key, start) of these customers' inbound calls that
    started at or after `first` and before `last`; one query."""
    query = select(
        EVENTS.c.customer_id, EVENTS.c.source, EVENTS.c.source_key, EVENTS.c.occurred_at
    ).where(
        EVENTS.c.customer_id.in_(sorted(customer_ids)),
        EVENTS.c.channel == Channel.PHONE,
        EVENTS.c.direction == Direction.INBOUND,
        EVENTS.c.occurred_at >= first,
        EVENTS.c.occurred_at < last,
    )
    return session.execute(query)


def event_by_source_key(session: Session, source: str, source_key: str) -> ContactEvent | None:
    """The contact event recorded from `source` under `source_key`, if there is one."""
    return session.scalar(
        select(ContactEvent).where(
            ContactEvent.source == source, ContactEvent.source_key == source_key
        )
    )


def flags_of_event(session: Session, event_id: int) -> Result[Any]:
    """(kind, restriction reference, mode, detail) of an event's flags, in the order made."""
    return session.execute(
        select(Flag.kind, Restriction.reference, Flag.mode, Flag.detail)
        .join(Restriction, Restriction.id == Flag.restriction_id)
        .where(Flag.contact_event_id == event_id)
        .order_by(Flag.id)
    )


# --- call_imports rows -----------------------------------------------------------------------


def mark_import_running(session: Session, import_id: int, now: dt.datetime) -> None:
    _update_import(
        session, import_id, {"status": CallImportStatus.RUNNING, "started_at": now, "error": None}
    )


def record_import_format(session: Session, import_id: int, format_name: str, encoding: str) -> None:
    _update_import(session, import_id, {"format": format_name, "encoding": encoding})


def record_import_progress(session: Session, import_id: int, counts: Mapping[str, Any]) -> None:
    """Store an import's running counts (rows_read, rows_imported, ..., problems)."""
    _update_import(session, import_id, counts)


def finish_import(
    session: Session,
    import_id: int,
    counts: Mapping[str, Any],
    *,
    status: CallImportStatus,
    error: str | None,
    sha256: str,
    notes: list[str],
    now: dt.datetime,
) -> None:
    """Store an import's final counts and outcome, in one statement."""
    outcome = {"status": status, "error": error, "sha256": sha256, "notes": notes}
    _update_import(session, import_id, {**counts, **outcome, "finished_at": now})


def mark_import_failed(
    session: Session, import_id: int, error: str, now: dt.datetime, *, forget_file: bool = False
) -> None:
    """Record an import as failed; `forget_file` also clears the path of its stored upload."""
    values: dict[str, Any] = {"status": CallImportStatus.FAILED, "error": error}
    if forget_file:
        values["stored_path"] = None
    _update_import(session, import_id, {**values, "finished_at": now})


def earlier_import_of(session: Session, sha256: str, import_id: int) -> int | None:
    """The first other finished import of content with this digest, if any."""
    return session.scalar(
        select(CallImport.id)
        .where(
            CallImport.sha256 == sha256,
            CallImport.id != import_id,
            CallImport.status == CallImportStatus.DONE,
        )
        .order_by(CallImport.id)
        .limit(1)
    )


def _update_import(session: Session, import_id: int, values: Mapping[str, Any]) -> None:
    session.execute(update(CallImport).where(CallImport.id == import_id).values(**values))
