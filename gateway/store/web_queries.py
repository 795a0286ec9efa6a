"""The queries behind the staff web pages: dashboard figures, customer search, a customer's
record, contacts and chart series, alerts, call flags, the mail log, the audit log, staff
accounts and API tokens. Read-only; views call these and never build SQL."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select
from sqlalchemy.orm import Session, selectinload

from gateway.store.repository import WITH_PROVENANCE
from gateway.store.tables import ApiToken, MailDelivery, MailMessage
from routing.alerts import LIVE as LIVE_ALERTS
from routing.audit import AuditAction
from routing.enums import (
    AlertStatus,
    Channel,
    DeliveryStatus,
    Direction,
    FlagKind,
    IdentityKind,
    Mode,
    Outcome,
    RestrictionStatus,
)
from routing.identity import normalise_email, normalise_phone
from routing.models import (
    Alert,
    Appeal,
    AuditEntry,
    ContactEvent,
    Customer,
    Flag,
    Identity,
    Restriction,
    Service,
    StaffUser,
)

# A search shows at most this many customers: enough to pick from, few enough to read.
SEARCH_LIMIT = 50
# Statuses a restriction is "on the register" in, for the register list.
CURRENT_STATUSES = (
    RestrictionStatus.DRAFT,
    RestrictionStatus.PENDING_APPROVAL,
    RestrictionStatus.ACTIVE,
)


# --- dashboard --------------------------------------------------------------------------------


def active_restriction_count(session: Session) -> int:
    query = select(func.count()).where(Restriction.status == RestrictionStatus.ACTIVE)
    return session.scalar(query) or 0


@dataclass(frozen=True, slots=True)
class ReviewDue:
    restriction_id: int
    reference: str
    customer_id: int | None
    next_review_on: dt.date


@dataclass(frozen=True, slots=True)
class ReviewsDue:
    shown: list[ReviewDue]  # soonest (most overdue) first
    total: int  # how many are due altogether, shown or not
    offset: int = 0  # how many come before those shown
    overdue: int = 0  # how many of the total were due before `today` (when it was given)

    @property
    def more(self) -> int:
        """How many are due after those shown."""
        return max(self.total - self.offset - len(self.shown), 0)


def reviews_due(
    session: Session,
    until: dt.date,
    *,
    limit: int,
    offset: int = 0,
    today: dt.date | None = None,
) -> ReviewsDue:
    """Active restrictions whose next review falls on or before `until` (overdue ones too),
    at most `limit` of them from `offset`, how many there are in all, and how many of those
    were due before `today`.

    One query: the counts ride along on every row as window aggregates (computed before
    the LIMIT), so a busy register costs one capped read, not counts and a list.
    """
    total = func.count().over().label("total")
    late = case((Restriction.next_review_on < (today or dt.date.min), 1), else_=0)
    overdue = func.sum(late).over().label("overdue")
    query = (
        select(
            Restriction.id,
            Restriction.reference,
            Restriction.customer_id,
            Restriction.next_review_on,
            total,
            overdue,
        )
        .where(*_review_due_by(until))
        .order_by(Restriction.next_review_on, Restriction.reference, Restriction.id)
        .offset(offset)
        .limit(limit)
    )
    rows = session.execute(query).all()
    shown = [ReviewDue(*row[:4]) for row in rows]
    if rows:
        return ReviewsDue(shown, rows[0].total, offset, int(rows[0].overdue or 0))
    # Past the last page no row carries the total: only then is it counted apart.
    count = session.scalar(select(func.count()).where(*_review_due_by(until))) if offset else 0
    return ReviewsDue(shown, count or 0, offset)


def _review_due_by(until: dt.date) -> list[ColumnElement[bool]]:
    return [
        Restriction.status == RestrictionStatus.ACTIVE,
        Restriction.next_review_on.is_not(None),
        Restriction.next_review_on <= until,
    ]


def awaiting_approval_count(session: Session, approver_id: int | None) -> int:
    """Proposals waiting for approval that this approver did not propose (the proposer may
    never approve their own)."""
    query = select(func.count()).where(Restriction.status == RestrictionStatus.PENDING_APPROVAL)
    if approver_id is not None:
        query = query.where(
            (Restriction.proposed_by_id.is_(None)) | (Restriction.proposed_by_id != approver_id)
        )
    return session.scalar(query) or 0


def urgent_alert_count(session: Session) -> int:
    """Urgent alerts (a safeguarding concern, a dormant case contacting again) still waiting."""
    query = select(func.count()).where(Alert.status.in_(LIVE_ALERTS), Alert.urgent.is_(True))
    return session.scalar(query) or 0


def open_alert_count(session: Session) -> int:
    """Alerts still waiting for a manager (open or acknowledged)."""
    return session.scalar(select(func.count()).where(Alert.status.in_(LIVE_ALERTS))) or 0


def call_flag_count(session: Session, start: dt.datetime, end: dt.datetime) -> int:
    """Flags on calls made in [start, end)."""
    query = (
        select(func.count())
        .select_from(Flag)
        .join(ContactEvent, ContactEvent.id == Flag.contact_event_id)
        .where(_flagged_between(start, end))
    )
    return session.scalar(query) or 0


def _flagged_between(start: dt.datetime, end: dt.datetime) -> ColumnElement[bool]:
    # Every flagged call has outcome "flag" (or would have, in shadow mode): saying so lets
    # the database read the partial index of flagged calls by time (migration 0006).
    flagged = or_(ContactEvent.outcome == Outcome.FLAG, ContactEvent.would_outcome == Outcome.FLAG)
    return and_(flagged, ContactEvent.occurred_at >= start, ContactEvent.occurred_at < end)


def dead_letter_count(session: Session) -> int:
    query = select(func.count()).where(MailDelivery.status == DeliveryStatus.DEAD)
    return session.scalar(query) or 0


# --- the register -----------------------------------------------------------------------------


def register_list(
    session: Session, statuses: Sequence[RestrictionStatus] = CURRENT_STATUSES
) -> Sequence[Restriction]:
    """Restrictions in these statuses with their customers, by reference."""
    query = (
        select(Restriction)
        .where(Restriction.status.in_(statuses))
        .options(selectinload(Restriction.customer))
        .order_by(Restriction.reference, Restriction.revision)
    )
    return session.scalars(query).all()


def restriction(session: Session, restriction_id: int) -> Restriction | None:
    """One restriction with what its pages show (customer, services, reviews) loaded, so
    it can still be read after its unit of work has ended."""
    query = (
        select(Restriction)
        .where(Restriction.id == restriction_id)
        .options(
            selectinload(Restriction.customer),
            selectinload(Restriction.services),
            selectinload(Restriction.reviews),
            WITH_PROVENANCE,
        )
    )
    return session.scalar(query)


def revisions(session: Session, reference: str) -> Sequence[Restriction]:
    """Every revision under one reference, oldest first: the terms that applied over time."""
    query = (
        select(Restriction)
        .where(Restriction.reference == reference)
        .options(selectinload(Restriction.reviews))
        .order_by(Restriction.revision)
    )
    return session.scalars(query).all()


def restriction_history(session: Session, reference: str) -> Sequence[AuditEntry]:
    """The changes to one reference (every revision), oldest first, from the audit log."""
    query = (
        select(AuditEntry)
        .where(
            AuditEntry.subject_type == "restriction",
            AuditEntry.subject_ref.like(f"{_escape_like(reference)}/%", escape="\\"),
            # Who looked is for the audit log; the history is what happened to it.
            AuditEntry.action.not_in(
                [AuditAction.RESTRICTION_VIEWED.value, AuditAction.LETTER_RENDERED.value]
            ),
        )
        .order_by(AuditEntry.id)
    )
    return session.scalars(query).all()


def services(session: Session) -> Sequence[Service]:
    return session.scalars(select(Service).order_by(Service.name)).all()


def staff_names(session: Session, ids: set[int | None]) -> dict[int, str]:
    """Staff id -> the name to show (display name, else email)."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(
        select(StaffUser.id, StaffUser.display_name, StaffUser.email).where(
            StaffUser.id.in_(wanted)
        )
    )
    return {id_: name or email for id_, name, email in rows}


# --- customers --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CustomerMatch:
    id: int
    customer_ref: str | None
    name: str | None
    live_references: tuple[str, ...]


def search_customers(
    session: Session, text: str, *, fold_plus: bool, region: str, limit: int = SEARCH_LIMIT
) -> list[CustomerMatch]:
    """Customers whose name contains `text`, or whose reference, email address or phone
    number is `text` (addresses and numbers normalised as the gateway does)."""
    text = text.strip()
    if not text:
        return []
    query = (
        select(Customer)
        .where(or_(*_customer_conditions(text, fold_plus=fold_plus, region=region)))
        .order_by(Customer.name, Customer.id)
        .limit(limit)
    )
    customers = session.scalars(query).all()
    live = _live_references(session, [c.id for c in customers])
    return [
        CustomerMatch(c.id, c.customer_ref, c.name, tuple(live.get(c.id, ()))) for c in customers
    ]


def _customer_conditions(text: str, *, fold_plus: bool, region: str) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [
        Customer.customer_ref == text,
        func.lower(Customer.name).like(f"%{_escape_like(text.lower())}%", escape="\\"),
    ]
    for kind, value in _identity_readings(text, fold_plus=fold_plus, region=region):
        owners = select(Identity.customer_id).where(Identity.kind == kind, Identity.value == value)
        conditions.append(Customer.id.in_(owners))
    return conditions


def _identity_readings(
    text: str, *, fold_plus: bool, region: str
) -> list[tuple[IdentityKind, str]]:
    """What `text` could be as an identity: an email address, a phone number, or neither."""
    readings = []
    if "@" in text:
        email = normalise_email(text, fold_plus=fold_plus)
        if email.ok and email.value:
            readings.append((IdentityKind.EMAIL, email.value))
    elif any(ch.isdigit() for ch in text):
        phone = normalise_phone(text, region=region)
        if phone.ok and phone.value:
            readings.append((IdentityKind.PHONE, phone.value))
    return readings


def _live_references(session: Session, customer_ids: list[int]) -> dict[int, list[str]]:
    if not customer_ids:
        return {}
    query = (
        select(Restriction.customer_id, Restriction.reference)
        .where(
            Restriction.customer_id.in_(customer_ids),
            Restriction.status == RestrictionStatus.ACTIVE,
        )
        .order_by(Restriction.reference)
    )
    found: dict[int, list[str]] = {}
    for customer_id, reference in session.execute(query):
        found.setdefault(customer_id, []).append(reference)
    return found


def customer(session: Session, customer_id: int) -> Customer | None:
    return session.get(Customer, customer_id)


def identities_of(session: Session, customer_id: int) -> Sequence[Identity]:
    query = (
        select(Identity)
        .where(Identity.customer_id == customer_id)
        .order_by(Identity.kind, Identity.value)
    )
    return session.scalars(query).all()


def restrictions_in_force(
    session: Session, customer_id: int, day: dt.date
) -> Sequence[Restriction]:
    """The customer's active restrictions that apply on `day` (as a lookup would find them),
    with their services, by reference."""
    query = (
        select(Restriction)
        .where(
            Restriction.customer_id == customer_id,
            Restriction.status == RestrictionStatus.ACTIVE,
            Restriction.starts_on <= day,
            or_(Restriction.ends_on.is_(None), Restriction.ends_on >= day),
        )
        .options(selectinload(Restriction.services))
        .order_by(Restriction.reference)
    )
    return session.scalars(query).all()


def _linked_identities(session: Session, customer_id: int) -> list[int]:
    return list(session.scalars(select(Identity.id).where(Identity.customer_id == customer_id)))


def _contacts_of(session: Session, customer_id: int) -> ColumnElement[bool]:
    # A customer's contacts: recorded against them, or made from an identity linked to them
    # now (linking never rewrites recorded events; see gateway/linking.py).
    # The linked ids are read first and given as values: PostgreSQL then combines the two
    # (person, time) indexes, where a subquery in the OR made it scan every contact by time
    # (bench/web.py: seconds, not milliseconds, at 10 million contacts).
    linked = _linked_identities(session, customer_id)
    return or_(ContactEvent.customer_id == customer_id, ContactEvent.identity_id.in_(linked))


def recent_contacts(session: Session, customer_id: int, limit: int = 50) -> Sequence[ContactEvent]:
    """The customer's latest contact events, newest first, with their call flags.

    Read as the newest `limit` of each path to the customer (their own, and each linked
    identity's), each along its (person, time) index, then merged: a busy customer's page
    reads a few hundred index entries, not every contact of their year.
    """
    paths = [ContactEvent.customer_id == customer_id] + [
        ContactEvent.identity_id == identity_id
        for identity_id in _linked_identities(session, customer_id)
    ]
    newest: set[tuple[dt.datetime, int]] = set()
    for path in paths:
        query = (
            select(ContactEvent.occurred_at, ContactEvent.id)
            .where(path)
            .order_by(ContactEvent.occurred_at.desc(), ContactEvent.id.desc())
            .limit(limit)
        )
        newest.update(tuple(row) for row in session.execute(query))
    chosen = [event_id for _, event_id in sorted(newest, reverse=True)[:limit]]
    query = (
        select(ContactEvent)
        .where(ContactEvent.id.in_(chosen))
        .options(selectinload(ContactEvent.flags))
        .order_by(ContactEvent.occurred_at.desc(), ContactEvent.id.desc())
    )
    return session.scalars(query).all() if chosen else []


@dataclass(frozen=True, slots=True)
class DailyContacts:
    day: dt.date
    emails: int
    calls: int

    @property
    def total(self) -> int:
        return self.emails + self.calls


def daily_contacts(
    session: Session, customer_id: int, *, last_day: dt.date, days: int, zone: ZoneInfo
) -> list[DailyContacts]:
    """Inbound emails and calls per council calendar day, for the `days` up to `last_day`."""
    first_day = last_day - dt.timedelta(days=days - 1)
    start = dt.datetime.combine(first_day, dt.time(), zone).astimezone(dt.UTC)
    end = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC)
    query = select(ContactEvent.occurred_at, ContactEvent.channel).where(
        _contacts_of(session, customer_id),
        ContactEvent.occurred_at >= start,
        ContactEvent.occurred_at < end,
        ContactEvent.direction == Direction.INBOUND,
    )
    counts = Counter(
        (occurred.astimezone(zone).date(), channel) for occurred, channel in session.execute(query)
    )
    return [
        DailyContacts(day, counts[(day, Channel.EMAIL)], counts[(day, Channel.PHONE)])
        for day in (first_day + dt.timedelta(days=n) for n in range(days))
    ]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# --- the mail log -------------------------------------------------------------------------------

# Messages per page of the mail log; pages continue by message id (the primary key).
MAIL_PAGE_SIZE = 50
DEAD_LETTERS_SHOWN = 200


@dataclass(frozen=True, slots=True)
class MailLogPage:
    messages: Sequence[MailMessage]  # newest first, each with its deliveries loaded
    older_than: int | None  # the id the next (older) page starts below; None: no more


def mail_log(
    session: Session,
    *,
    before: int | None = None,
    decision: str | None = None,
    limit: int = MAIL_PAGE_SIZE,
) -> MailLogPage:
    """Messages the gateway accepted, newest first, with every copy and how it went.

    Keyset pagination on the primary key: the thousandth page costs what the first does.
    `decision` keeps messages with a copy of that decision (shadow copies read
    "deliver; would=redirect", so they count under what was done, "deliver").
    """
    query = select(MailMessage).options(selectinload(MailMessage.deliveries))
    if before is not None:
        query = query.where(MailMessage.id < before)
    if decision:
        copies = select(MailDelivery.message_id).where(
            or_(MailDelivery.decision == decision, MailDelivery.decision.like(f"{decision};%"))
        )
        query = query.where(MailMessage.id.in_(copies))
    found = session.scalars(query.order_by(MailMessage.id.desc()).limit(limit + 1)).all()
    shown = found[:limit]
    return MailLogPage(shown, shown[-1].id if len(found) > limit else None)


def dead_letters(session: Session, limit: int = DEAD_LETTERS_SHOWN) -> Sequence[MailDelivery]:
    """Copies the gateway gave up delivering, oldest first, with their messages."""
    query = (
        select(MailDelivery)
        .where(MailDelivery.status == DeliveryStatus.DEAD)
        .options(selectinload(MailDelivery.message))
        .order_by(MailDelivery.id)
        .limit(limit)
    )
    return session.scalars(query).all()


# --- alerts -------------------------------------------------------------------------------------

ALERT_PAGE_SIZE = 50


@dataclass(frozen=True, slots=True)
class AlertRow:
    """One alert as the list shows it, with what names its person (no address or number)."""

    alert: Alert
    customer_ref: str | None
    customer_name: str | None
    identity_kind: IdentityKind | None


def alerts_list(
    session: Session,
    *,
    statuses: Sequence[AlertStatus],
    rule: str | None = None,
    offset: int = 0,
    limit: int = ALERT_PAGE_SIZE,
) -> tuple[list[AlertRow], bool]:
    """Alerts in these statuses, open and acknowledged ones first, urgent first, newest first;
    and whether there are more after this page."""
    waiting = case((Alert.status.in_(LIVE_ALERTS), 0), else_=1)
    query = (
        select(Alert, Customer.customer_ref, Customer.name, Identity.kind)
        .outerjoin(Customer, Customer.id == Alert.customer_id)
        .outerjoin(Identity, Identity.id == Alert.identity_id)
        .where(Alert.status.in_(statuses))
        .order_by(waiting, Alert.urgent.desc(), Alert.opened_at.desc(), Alert.id.desc())
        .offset(offset)
        .limit(limit + 1)
    )
    if rule:
        query = query.where(Alert.rule == rule)
    rows = [AlertRow(*row) for row in session.execute(query)]
    return rows[:limit], len(rows) > limit


def alert_rules_seen(session: Session) -> list[str]:
    """The rules alerts have been raised under, for the list's filter."""
    return list(session.scalars(select(Alert.rule).distinct().order_by(Alert.rule)))


def alert(session: Session, alert_id: int) -> AlertRow | None:
    query = (
        select(Alert, Customer.customer_ref, Customer.name, Identity.kind)
        .outerjoin(Customer, Customer.id == Alert.customer_id)
        .outerjoin(Identity, Identity.id == Alert.identity_id)
        .where(Alert.id == alert_id)
    )
    row = session.execute(query).first()
    return AlertRow(*row) if row else None


def contact_events(session: Session, ids: Sequence[int]) -> Sequence[ContactEvent]:
    """These contact events (an alert's evidence), oldest first."""
    if not ids:
        return []
    query = (
        select(ContactEvent)
        .where(ContactEvent.id.in_(list(ids)))
        .order_by(ContactEvent.occurred_at, ContactEvent.id)
    )
    return session.scalars(query).all()


# --- call flags ---------------------------------------------------------------------------------

FLAG_PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class FlagRow:
    """A flagged call as contact-centre staff see it: never the confidential notes."""

    id: int
    kind: FlagKind
    mode: Mode
    detail: str
    occurred_at: dt.datetime
    line: str | None
    duration_seconds: int | None
    restriction_id: int | None
    reference: str | None
    customer_id: int | None
    customer_name: str | None
    event_id: int  # the call


def call_flags(
    session: Session,
    start: dt.datetime,
    end: dt.datetime,
    *,
    kind: FlagKind | None = None,
    offset: int = 0,
    limit: int = FLAG_PAGE_SIZE,
) -> tuple[list[FlagRow], bool]:
    """Flags on calls made in [start, end), newest first; and whether more follow."""
    query = (
        _flag_rows()
        .where(_flagged_between(start, end))
        .order_by(ContactEvent.occurred_at.desc(), Flag.id.desc())
        .offset(offset)
        .limit(limit + 1)
    )
    if kind is not None:
        query = query.where(Flag.kind == kind)
    rows = [FlagRow(*row) for row in session.execute(query)]
    return rows[:limit], len(rows) > limit


def _flag_rows() -> Select[Any]:
    return (
        select(
            Flag.id,
            Flag.kind,
            Flag.mode,
            Flag.detail,
            ContactEvent.occurred_at,
            ContactEvent.to_value,
            ContactEvent.duration_seconds,
            Flag.restriction_id,
            Restriction.reference,
            Restriction.customer_id,
            Customer.name,
            ContactEvent.id,
        )
        .join(ContactEvent, ContactEvent.id == Flag.contact_event_id)
        .outerjoin(Restriction, Restriction.id == Flag.restriction_id)
        .outerjoin(Customer, Customer.id == Restriction.customer_id)
    )


def customer_call_flags(
    session: Session, customer_id: int, since: dt.datetime, limit: int = 20
) -> list[FlagRow]:
    """The customer's flagged calls since `since`, newest first, at most `limit`.

    Read like recent_contacts: the newest flagged calls along each path to the customer
    (their own events, and each linked number's), each along its (person, time) index and
    no further back than `since`, then merged.
    """
    paths = [ContactEvent.customer_id == customer_id] + [
        ContactEvent.identity_id == identity_id
        for identity_id in _linked_identities(session, customer_id)
    ]
    flagged = or_(ContactEvent.outcome == Outcome.FLAG, ContactEvent.would_outcome == Outcome.FLAG)
    newest: set[tuple[dt.datetime, int]] = set()
    for path in paths:
        query = (
            select(ContactEvent.occurred_at, ContactEvent.id)
            .where(path, flagged, ContactEvent.occurred_at >= since)
            .order_by(ContactEvent.occurred_at.desc(), ContactEvent.id.desc())
            .limit(limit)
        )
        newest.update(tuple(row) for row in session.execute(query))
    chosen = [event_id for _, event_id in sorted(newest, reverse=True)[:limit]]
    if not chosen:
        return []
    query = (
        _flag_rows()
        .where(ContactEvent.id.in_(chosen))
        .order_by(ContactEvent.occurred_at.desc(), Flag.id.desc())
        .limit(limit)
    )
    return [FlagRow(*row) for row in session.execute(query)]


# --- the audit log ------------------------------------------------------------------------------

AUDIT_PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None  # an action ("customer.viewed") or its family ("customer")
    subject_type: str | None = None
    subject_ref: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class AuditPage:
    entries: Sequence[AuditEntry]  # newest first
    older_than: int | None


def audit_log(
    session: Session,
    wanted: AuditFilter,
    *,
    before: int | None = None,
    limit: int = AUDIT_PAGE_SIZE,
) -> AuditPage:
    """Audit entries matching the filter, newest first, a page at a time by id (keyset)."""
    query = select(AuditEntry).where(*_audit_conditions(wanted))
    if before is not None:
        query = query.where(AuditEntry.id < before)
    found = session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit + 1)).all()
    shown = found[:limit]
    return AuditPage(shown, shown[-1].id if len(found) > limit else None)


def _audit_conditions(wanted: AuditFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if wanted.actor:
        conditions.append(func.lower(AuditEntry.actor) == wanted.actor.strip().lower())
    if wanted.action:
        family = f"{_escape_like(wanted.action)}.%"
        conditions.append(
            or_(AuditEntry.action == wanted.action, AuditEntry.action.like(family, escape="\\"))
        )
    if wanted.subject_type:
        conditions.append(AuditEntry.subject_type == wanted.subject_type)
    if wanted.subject_ref:
        conditions.append(AuditEntry.subject_ref == wanted.subject_ref)
    if wanted.start:
        conditions.append(AuditEntry.at >= wanted.start)
    if wanted.end:
        conditions.append(AuditEntry.at < wanted.end)
    return conditions


def audit_subject_types(session: Session) -> list[str]:
    return list(
        session.scalars(
            select(AuditEntry.subject_type).distinct().order_by(AuditEntry.subject_type)
        )
    )


# --- staff accounts, API tokens and retention ---------------------------------------------------


def staff_accounts(session: Session) -> Sequence[StaffUser]:
    """Every staff account, active ones first, by email."""
    query = select(StaffUser).order_by(StaffUser.active.desc(), StaffUser.email)
    return session.scalars(query).all()


def staff_account(session: Session, user_id: int) -> StaffUser | None:
    return session.get(StaffUser, user_id)


@dataclass(frozen=True, slots=True)
class TokenRow:
    """An API token as admins see it: never its hash."""

    id: int
    name: str
    scopes: list[str]
    prefix: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


def api_tokens(session: Session) -> list[TokenRow]:
    """Every token, live ones first, by name."""
    query = select(
        ApiToken.id,
        ApiToken.name,
        ApiToken.scopes,
        ApiToken.prefix,
        ApiToken.created_at,
        ApiToken.last_used_at,
        ApiToken.revoked_at,
    ).order_by(ApiToken.revoked_at.is_not(None), ApiToken.name)
    return [TokenRow(*row) for row in session.execute(query)]


def api_token_name(session: Session, token_id: int) -> str | None:
    return session.scalar(select(ApiToken.name).where(ApiToken.id == token_id))


def legal_holds(session: Session) -> Sequence[Restriction]:
    """Restrictions kept past their retention period for a legal reason."""
    query = (
        select(Restriction)
        .where(Restriction.legal_hold.is_(True))
        .order_by(Restriction.reference, Restriction.revision)
    )
    return session.scalars(query).all()


@dataclass(frozen=True, slots=True)
class ConcernRow:
    """A safeguarding alert nobody has closed yet, for the urgent banners."""

    id: int
    opened_at: dt.datetime
    acknowledged: bool


def safeguarding_waiting(session: Session, customer_id: int | None = None) -> list[ConcernRow]:
    """Safeguarding alerts still open or acknowledged, oldest first (all, or one customer's)."""
    query = select(Alert.id, Alert.opened_at, Alert.status).where(
        Alert.rule == "safeguarding", Alert.status.in_(LIVE_ALERTS)
    )
    if customer_id is not None:
        query = query.where(Alert.customer_id == customer_id)
    rows = session.execute(query.order_by(Alert.opened_at, Alert.id)).all()
    return [ConcernRow(i, at, status is AlertStatus.ACKNOWLEDGED) for i, at, status in rows]


# --- appeals ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AppealWaiting:
    restriction_id: int
    reference: str
    received_on: dt.date
    deadline: dt.date | None
    hearer: str | None  # the named hearer's name or email; None: nobody named yet


def appeals_waiting(session: Session) -> list[AppealWaiting]:
    """Appeals lodged and not yet decided, the longest waiting first, with their hearers."""
    query = (
        select(
            Restriction.id,
            Restriction.reference,
            Appeal.received_on,
            Restriction.appeal_deadline,
            func.coalesce(StaffUser.display_name, StaffUser.email),
        )
        .join(Restriction, Restriction.id == Appeal.restriction_id)
        .outerjoin(StaffUser, StaffUser.id == Appeal.hearer_id)
        .where(Appeal.decision.is_(None))
        .order_by(Appeal.received_on, Appeal.id)
    )
    return [AppealWaiting(*row) for row in session.execute(query)]


def appeals_waiting_count(session: Session) -> int:
    query = select(func.count()).select_from(Appeal).where(Appeal.decision.is_(None))
    return session.scalar(query) or 0
