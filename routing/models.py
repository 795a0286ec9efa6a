"""The register's own records, as SQLAlchemy mappings (no engine, no session: those live in
gateway/store/, with the tables that are plumbing)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from routing.enums import (
    AlertStatus,
    AppealDecision,
    Category,
    Channel,
    Direction,
    EmailMeasure,
    FlagKind,
    IdentityKind,
    ImportConfirmation,
    LetterKind,
    LetterMethod,
    Mode,
    Outcome,
    PhoneMeasure,
    ResponseTimetable,
    RestrictionStatus,
    RetentionCategory,
    ReviewOutcome,
    Role,
    Stage,
)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Stores naive UTC and hands back aware UTC, so SQLite and PostgreSQL behave alike."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


def stored_enum(enum_cls: type[StrEnum]) -> Enum:
    # Stored as plain strings: adding a value later needs no database type migration.
    return Enum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        length=32,
        values_callable=lambda members: [m.value for m in members],
    )


def utcnow() -> dt.datetime:
    """The current time, aware, in UTC."""
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dt.datetime: UTCDateTime}


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_ref: Mapped[str | None] = mapped_column(String(64), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    identities: Mapped[list[Identity]] = relationship(back_populates="customer")
    restrictions: Mapped[list[Restriction]] = relationship(
        back_populates="customer", foreign_keys="Restriction.customer_id"
    )


class Identity(Base):
    """One normalised email address or phone number, linked to a customer once known."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("kind", "value", name="uq_identities_kind_value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[IdentityKind] = mapped_column(stored_enum(IdentityKind))
    value: Mapped[str] = mapped_column(String(320))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    linked_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    customer: Mapped[Customer | None] = relationship(back_populates="identities")


class Service(Base):
    """A named group of council mailboxes and phone lines a restriction can be scoped to."""

    __tablename__ = "services"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str | None] = mapped_column(Text)

    addresses: Mapped[list[ServiceAddress]] = relationship(
        back_populates="service", cascade="all, delete-orphan"
    )


class ServiceAddress(Base):
    __tablename__ = "service_addresses"
    __table_args__ = (UniqueConstraint("service_id", "kind", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    kind: Mapped[IdentityKind] = mapped_column(stored_enum(IdentityKind))
    value: Mapped[str] = mapped_column(String(320))

    service: Mapped[Service] = relationship(back_populates="addresses")


class RestrictionService(Base):
    __tablename__ = "restriction_services"

    restriction_id: Mapped[int] = mapped_column(
        ForeignKey("restrictions.id", ondelete="CASCADE"), primary_key=True
    )
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"), primary_key=True)


class StaffUser(Base):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(stored_enum(Role))
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Sessions are signed cookies that cannot be recalled, so each carries the generation it
    # began in; bumping this (sign-out, new password, role change, deactivation) ends them all.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Set by an admin's password reset: the temporary password only opens the change page.
    must_change_password: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )


class Restriction(Base):
    """One Customer Contact Restriction and its lifecycle dates.

    A variation ends this row (status ``varied``) and starts a successor under the same
    reference, so the terms that applied on any day stay on record for an appeal.
    """

    __tablename__ = "restrictions"
    __table_args__ = (
        UniqueConstraint("reference", "revision", name="uq_restrictions_reference_revision"),
        Index("ix_restrictions_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), index=True)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    status: Mapped[RestrictionStatus] = mapped_column(stored_enum(RestrictionStatus))
    mode: Mapped[Mode] = mapped_column(stored_enum(Mode), default=Mode.ENFORCE)
    stage: Mapped[Stage] = mapped_column(stored_enum(Stage))
    category: Mapped[Category] = mapped_column(stored_enum(Category))
    reason: Mapped[str | None] = mapped_column(Text)
    confidential_notes: Mapped[str | None] = mapped_column(Text)
    # Why this stage is warranted, for the stages whose approval needs one (a setting).
    business_case: Mapped[str | None] = mapped_column(Text)

    email_measure: Mapped[EmailMeasure] = mapped_column(
        stored_enum(EmailMeasure), default=EmailMeasure.NONE
    )
    phone_measure: Mapped[PhoneMeasure] = mapped_column(
        stored_enum(PhoneMeasure), default=PhoneMeasure.NONE
    )
    phone_windows: Mapped[str | None] = mapped_column(String(500))
    max_calls_per_day: Mapped[int | None]
    max_calls_per_week: Mapped[int | None]
    max_call_minutes: Mapped[int | None]
    spoc_name: Mapped[str | None] = mapped_column(String(200))
    spoc_email: Mapped[str | None] = mapped_column(String(320))
    spoc_phone: Mapped[str | None] = mapped_column(String(32))
    # How often the SPOC responds; a digest of what is due goes on this timetable.
    response_timetable: Mapped[ResponseTimetable] = mapped_column(
        stored_enum(ResponseTimetable), default=ResponseTimetable.NONE, server_default="none"
    )
    scope_all: Mapped[bool] = mapped_column(Boolean, default=True)
    exempt_addresses: Mapped[list[str]] = mapped_column(JSON, default=list)

    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date | None] = mapped_column(Date)
    review_every_months: Mapped[int] = mapped_column(Integer, default=3)
    next_review_on: Mapped[dt.date | None] = mapped_column(Date)
    last_reviewed_on: Mapped[dt.date | None] = mapped_column(Date)
    review_reminder_for: Mapped[dt.date | None] = mapped_column(Date)
    notified_on: Mapped[dt.date | None] = mapped_column(Date)
    appeal_deadline: Mapped[dt.date | None] = mapped_column(Date)

    proposed_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    proposed_at: Mapped[dt.datetime | None]
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    approved_at: Mapped[dt.datetime | None]
    # The approver's declaration of no prior involvement in the case: True where the stage
    # asked for it, None where it did not.
    no_prior_involvement: Mapped[bool | None] = mapped_column(Boolean)
    ended_at: Mapped[dt.datetime | None]
    end_reason: Mapped[str | None] = mapped_column(Text)
    dormant_since: Mapped[dt.datetime | None]
    purged_at: Mapped[dt.datetime | None]
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    legal_hold_reason: Mapped[str | None] = mapped_column(Text)
    # A case kept beyond the retention period, with the person's contacts and identities.
    retention_category: Mapped[RetentionCategory | None] = mapped_column(
        stored_enum(RetentionCategory)
    )
    superseded_by_id: Mapped[int | None] = mapped_column(ForeignKey("restrictions.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    customer: Mapped[Customer | None] = relationship(
        back_populates="restrictions", foreign_keys=[customer_id]
    )
    services: Mapped[list[Service]] = relationship(secondary="restriction_services")
    proposed_by: Mapped[StaffUser | None] = relationship(foreign_keys=[proposed_by_id])
    approved_by: Mapped[StaffUser | None] = relationship(foreign_keys=[approved_by_id])
    reviews: Mapped[list[Review]] = relationship(
        back_populates="restriction", cascade="all, delete-orphan", order_by="Review.id"
    )
    superseded_by: Mapped[Restriction | None] = relationship(
        remote_side=[id], foreign_keys=[superseded_by_id]
    )
    # Letters sent and appeals heard are part of the case: purged with it.
    letters: Mapped[list[Letter]] = relationship(cascade="all, delete-orphan", order_by="Letter.id")
    appeals: Mapped[list[Appeal]] = relationship(
        back_populates="restriction", cascade="all, delete-orphan", order_by="Appeal.id"
    )
    imported: Mapped[ImportedRestriction | None] = relationship(
        back_populates="restriction", cascade="all, delete-orphan", uselist=False
    )


class ImportedRestriction(Base):
    """Where an imported restriction came from, as the spreadsheet gave it, and whether the
    approver named on the import has confirmed it.

    An imported restriction is in force from the import (it was decided outside the system
    and a gap would let mail through), but nobody approved it here: this record says who ran
    the import, what the file said about the decision, and who must stand by it.
    """

    __tablename__ = "imported_restrictions"
    __table_args__ = (Index("ix_imported_restrictions_confirmer", "confirmer_id", "state"),)

    restriction_id: Mapped[int] = mapped_column(
        ForeignKey("restrictions.id", ondelete="CASCADE"), primary_key=True
    )
    imported_at: Mapped[dt.datetime]
    imported_by: Mapped[str] = mapped_column(String(64))  # the OS account: "cli:jo"
    source_file: Mapped[str] = mapped_column(String(255))
    # As the spreadsheet gives them (a name or an address; not checked against staff).
    approved_by: Mapped[str | None] = mapped_column(String(320))
    approved_on: Mapped[dt.date | None] = mapped_column(Date)
    decided_by: Mapped[str | None] = mapped_column(String(320))
    confirmer_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    state: Mapped[ImportConfirmation] = mapped_column(
        stored_enum(ImportConfirmation), default=ImportConfirmation.AWAITING
    )
    settled_at: Mapped[dt.datetime | None]

    restriction: Mapped[Restriction] = relationship(back_populates="imported")
    confirmer: Mapped[StaffUser] = relationship()


class Review(Base):
    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    restriction_id: Mapped[int] = mapped_column(
        ForeignKey("restrictions.id", ondelete="CASCADE"), index=True
    )
    reviewed_on: Mapped[dt.date] = mapped_column(Date)
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    outcome: Mapped[ReviewOutcome] = mapped_column(stored_enum(ReviewOutcome))
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    restriction: Mapped[Restriction] = relationship(back_populates="reviews")


class Letter(Base):
    """A letter to the customer recorded as sent: its kind, date and how it went.

    Sending a letter about a decision starts the appeal window (routing.appeals).
    """

    __tablename__ = "letters"

    id: Mapped[int] = mapped_column(primary_key=True)
    restriction_id: Mapped[int] = mapped_column(
        ForeignKey("restrictions.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[LetterKind] = mapped_column(stored_enum(LetterKind))
    sent_on: Mapped[dt.date] = mapped_column(Date)
    method: Mapped[LetterMethod] = mapped_column(stored_enum(LetterMethod))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Appeal(Base):
    """A customer's appeal against a restriction: lodged, heard by someone who did not
    decide the restriction, and decided with reasons."""

    __tablename__ = "appeals"

    id: Mapped[int] = mapped_column(primary_key=True)
    restriction_id: Mapped[int] = mapped_column(
        ForeignKey("restrictions.id", ondelete="CASCADE"), index=True
    )
    received_on: Mapped[dt.date] = mapped_column(Date)
    received_how: Mapped[LetterMethod] = mapped_column(stored_enum(LetterMethod))
    lodged_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    lodged_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    hearer_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    decision: Mapped[AppealDecision | None] = mapped_column(stored_enum(AppealDecision))
    reasons: Mapped[str | None] = mapped_column(Text)
    decided_on: Mapped[dt.date | None] = mapped_column(Date)
    decided_at: Mapped[dt.datetime | None]
    # Set when the alert "the window closed with this appeal undecided" was raised: once only.
    overdue_alerted_at: Mapped[dt.datetime | None]

    restriction: Mapped[Restriction] = relationship(back_populates="appeals")


class ContactEvent(Base):
    """One email or call, restricted or not, with the decision and the reasons for it."""

    __tablename__ = "contact_events"
    __table_args__ = (
        UniqueConstraint("source", "source_key", name="uq_contact_events_source_key"),
        Index("ix_contact_events_identity_time", "identity_id", "occurred_at"),
        Index("ix_contact_events_customer_time", "customer_id", "occurred_at"),
        # Flagged calls by time, for today's call flags (migration 0006).
        Index(
            "ix_contact_events_flagged_time",
            "occurred_at",
            postgresql_where=text("outcome = 'flag' OR would_outcome = 'flag'"),
            sqlite_where=text("outcome = 'flag' OR would_outcome = 'flag'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(index=True)
    channel: Mapped[Channel] = mapped_column(stored_enum(Channel))
    direction: Mapped[Direction] = mapped_column(stored_enum(Direction), default=Direction.INBOUND)
    source: Mapped[str] = mapped_column(String(32))
    source_key: Mapped[str | None] = mapped_column(String(200))
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    from_value: Mapped[str | None] = mapped_column(String(320))
    to_value: Mapped[str | None] = mapped_column(String(320))
    restriction_id: Mapped[int | None] = mapped_column(ForeignKey("restrictions.id"))
    outcome: Mapped[Outcome] = mapped_column(stored_enum(Outcome))
    would_outcome: Mapped[Outcome | None] = mapped_column(stored_enum(Outcome))
    mode: Mapped[Mode | None] = mapped_column(stored_enum(Mode))
    reasons: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    statutory: Mapped[bool] = mapped_column(Boolean, default=False)
    safeguarding: Mapped[bool] = mapped_column(Boolean, default=False)
    duration_seconds: Mapped[int | None]
    content_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    flags: Mapped[list[Flag]] = relationship(back_populates="contact_event")


class Flag(Base):
    """A call that broke a restriction, for contact-centre staff to see."""

    __tablename__ = "flags"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_event_id: Mapped[int] = mapped_column(ForeignKey("contact_events.id"), index=True)
    restriction_id: Mapped[int | None] = mapped_column(ForeignKey("restrictions.id"))
    kind: Mapped[FlagKind] = mapped_column(stored_enum(FlagKind))
    mode: Mapped[Mode] = mapped_column(stored_enum(Mode))
    detail: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    contact_event: Mapped[ContactEvent] = relationship(back_populates="flags")


class Alert(Base):
    """A possible unreasonable level of contact, for a manager to judge (never a restriction)."""

    __tablename__ = "alerts"
    __table_args__ = (
        # Contact volume: at most one open or acknowledged alert per person and rule, held by
        # the database so two workers evaluating the same person cannot both open one.
        Index(
            "uq_alerts_live_person_rule",
            "person_key",
            "rule",
            unique=True,
            postgresql_where=text("status IN ('open', 'acknowledged')"),
            sqlite_where=text("status IN ('open', 'acknowledged')"),
        ),
        Index("ix_alerts_person_key", "person_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rule: Mapped[str] = mapped_column(String(64))
    # "c:<customer id>" or "i:<identity id>" for contact volume alerts (routing.volume); other
    # alerts (safeguarding, reviews) leave it empty and are never deduplicated.
    person_key: Mapped[str | None] = mapped_column(String(32))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id"), index=True)
    status: Mapped[AlertStatus] = mapped_column(stored_enum(AlertStatus), default=AlertStatus.OPEN)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    summary: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Contact volume: the figure the alert shows (evidence["value"]), kept in a column so each
    # new contact compares with it without reading and decoding the evidence.
    value: Mapped[int | None] = mapped_column(Integer)
    opened_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[dt.datetime | None]
    closed_reason: Mapped[str | None] = mapped_column(Text)


class AuditEntry(Base):
    """Append-only: the migration adds triggers that refuse UPDATE and DELETE."""

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_ref: Mapped[str | None] = mapped_column(String(64), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    source: Mapped[str | None] = mapped_column(String(64))


__all__ = [
    "Alert",
    "Appeal",
    "AuditEntry",
    "Base",
    "ContactEvent",
    "Customer",
    "Flag",
    "Identity",
    "ImportedRestriction",
    "Letter",
    "Restriction",
    "RestrictionService",
    "Review",
    "Service",
    "ServiceAddress",
    "StaffUser",
    "utcnow",
]
