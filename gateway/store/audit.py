"""The SQL of writing audit entries in bulk: rows (dicts of the audit_entries columns)
written by the jobs and the lookup on a connection, without ORM bookkeeping."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Connection

from routing.models import AuditEntry

_INSERT = insert(AuditEntry)


def write_audit_rows(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Append these audit entries in one executemany."""
    conn.execute(_INSERT, rows)
