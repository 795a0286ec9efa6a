"""The tables that are plumbing rather than the register's own records: mail on its way,
the register version processes poll, the schedule's slots, call-log imports and API tokens.

They share the register's declarative base, so `metadata` holds every table the
migrations create.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from routing.enums import CallImportStatus, DeliveryStatus
from routing.models import Base, stored_enum, utcnow
from routing.spoc import ItemOutcome

metadata = Base.metadata


class ApiToken(Base):
    """An integration's bearer token; only its SHA-256 is kept, the token is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]


class MailMessage(Base):
    """One message accepted by the SMTP gateway; its bytes live in the spool file `queue_id`."""

    __tablename__ = "mail_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    queue_id: Mapped[str] = mapped_column(String(40), unique=True)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    envelope_from: Mapped[str] = mapped_column(String(320))
    size: Mapped[int] = mapped_column(Integer)
    header_message_id: Mapped[str | None] = mapped_column(String(200))
    spool_removed: Mapped[bool] = mapped_column(Boolean, default=False, index=True)

    deliveries: Mapped[list[MailDelivery]] = relationship(
        back_populates="message", order_by="MailDelivery.id"
    )


class MailDelivery(Base):
    """One copy of a message on its way to one mailbox, with its routing headers and retries."""

    __tablename__ = "mail_deliveries"
    __table_args__ = (Index("ix_mail_deliveries_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("mail_messages.id"), index=True)
    target: Mapped[str] = mapped_column(String(320))
    original_recipients: Mapped[list[str]] = mapped_column(JSON)
    decision: Mapped[str] = mapped_column(String(64))
    restriction_ref: Mapped[str | None] = mapped_column(String(32))
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    notice: Mapped[str | None] = mapped_column(Text)  # the refusal text, for a refusal notice
    status: Mapped[DeliveryStatus] = mapped_column(
        stored_enum(DeliveryStatus), default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    claimed_until: Mapped[dt.datetime | None]
    # host:pid:token of the process holding the claim, so a restart can take back the claims
    # of a process that died instead of waiting for them to lapse.
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    message: Mapped[MailMessage] = relationship(back_populates="deliveries")


class RegisterVersion(Base):
    """A single counter bumped by every register change; processes poll it to refresh."""

    __tablename__ = "register_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ScheduledRun(Base):
    """One row per periodic task and time slot, so several processes enqueue it only once."""

    __tablename__ = "scheduled_runs"
    __table_args__ = (UniqueConstraint("task", "slot", name="uq_scheduled_runs_task_slot"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task: Mapped[str] = mapped_column(String(64))
    slot: Mapped[str] = mapped_column(String(32))
    claimed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    claimed_by: Mapped[str] = mapped_column(String(128))


class CallImport(Base):
    """One call-log file read into contact events: where it came from, how it went, and why.

    Written by every way in (`ccr calls import`, the drop folder, an API upload), so the
    upload status the API reports and the command line's summary are the same record.
    Only counts, line numbers and reasons are kept here, never a caller's number.
    """

    __tablename__ = "call_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    file_name: Mapped[str] = mapped_column(String(255))
    # Where an upload waits for its job; None for files imported in place.
    stored_path: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    format: Mapped[str | None] = mapped_column(String(64))
    encoding: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))  # cli, drop or api
    status: Mapped[CallImportStatus] = mapped_column(
        stored_enum(CallImportStatus), default=CallImportStatus.QUEUED
    )
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    rows_imported: Mapped[int] = mapped_column(Integer, default=0)
    rows_duplicate: Mapped[int] = mapped_column(Integer, default=0)
    rows_bad: Mapped[int] = mapped_column(Integer, default=0)
    flag_counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    # The first bad rows as {"line": n, "reason": "..."}; rows_bad has the full count.
    problems: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    notes: Mapped[list[str]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]


class SpocItem(Base):
    """One routed message for the SPOC of the restriction that applied: a copy of the
    message kept for its own retention period (spoc_item_days), independent of the mail
    records, which go once delivery is done."""

    __tablename__ = "spoc_items"
    __table_args__ = (Index("ix_spoc_items_open", "outcome", "due_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    queue_id: Mapped[str] = mapped_column(String(40), index=True)
    received_at: Mapped[dt.datetime] = mapped_column(index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    restriction_ref: Mapped[str] = mapped_column(String(32), index=True)
    spoc_email: Mapped[str | None] = mapped_column(String(320), index=True)
    decision: Mapped[str] = mapped_column(String(16))  # redirect, copy, file or reject
    sender: Mapped[str] = mapped_column(String(320))
    addressed_to: Mapped[list[str]] = mapped_column(JSON)
    subject: Mapped[str] = mapped_column(String(500))
    message: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    due_on: Mapped[dt.date] = mapped_column(Date)
    read_at: Mapped[dt.datetime | None]
    read_by: Mapped[str | None] = mapped_column(String(320))
    outcome: Mapped[ItemOutcome | None] = mapped_column(stored_enum(ItemOutcome))
    service: Mapped[str | None] = mapped_column(String(200))
    reply_due_on: Mapped[dt.date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    # The safeguarding alert a referral goes through (no foreign key: each keeps its own
    # retention period, and the item outlives a closed alert).
    alert_id: Mapped[int | None] = mapped_column(Integer)
    outcome_at: Mapped[dt.datetime | None]
    outcome_by: Mapped[str | None] = mapped_column(String(320))
