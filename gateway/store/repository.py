"""SQL in one place: the queries the gateway, the jobs, the web app and the CLI share."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import NamedTuple

from sqlalchemy import Integer, Select, cast, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, selectinload

from gateway.store.tables import RegisterVersion, ScheduledRun
from routing.enums import IdentityKind, RestrictionStatus
from routing.identity import NormalisedIdentity
from routing.models import (
    AuditEntry,
    Customer,
    Identity,
    ImportedRestriction,
    Restriction,
    RestrictionService,
    Service,
    ServiceAddress,
    StaffUser,
    utcnow,
)

LIVE = RestrictionStatus.ACTIVE
# An imported restriction's provenance and who must confirm it, for pages read after the
# unit of work has ended.
WITH_PROVENANCE = selectinload(Restriction.imported).selectinload(ImportedRestriction.confirmer)


def register_version(session: Session) -> int:
    """The counter every register change bumps."""
    return session.scalar(select(RegisterVersion.version).where(RegisterVersion.id == 1)) or 0


def bump_register_version(session: Session) -> None:
    """Tell every process the register changed; called inside the changing transaction."""
    session.execute(
        update(RegisterVersion)
        .where(RegisterVersion.id == 1)
        .values(version=RegisterVersion.version + 1, changed_at=utcnow())
    )


def active_restriction_links(session: Session) -> Iterator[tuple[Restriction, str, str]]:
    """(restriction, identity kind, identity value) for every identity of a live restriction."""
    query = (
        select(Restriction, Identity.kind, Identity.value)
        .join(Identity, Identity.customer_id == Restriction.customer_id)
        .where(Restriction.status == LIVE)
        .execution_options(yield_per=5000)
    )
    for row in session.execute(query):
        yield row[0], row[1], row[2]


def scope_of_active_restrictions(session: Session) -> dict[int, list[tuple[str, str]]]:
    """restriction id -> [(service name, normalised address or line)] for scoped restrictions."""
    query = (
        select(RestrictionService.restriction_id, Service.name, ServiceAddress.value)
        .join(Service, Service.id == RestrictionService.service_id)
        .outerjoin(ServiceAddress, ServiceAddress.service_id == Service.id)
        .join(Restriction, Restriction.id == RestrictionService.restriction_id)
        .where(Restriction.status == LIVE, Restriction.scope_all.is_(False))
    )
    scopes: dict[int, list[tuple[str, str]]] = {}
    for restriction_id, name, address in session.execute(query):
        scopes.setdefault(restriction_id, []).append((name, address or ""))
    return scopes


def find_identity(session: Session, kind: IdentityKind, value: str) -> Identity | None:
    return session.scalar(select(Identity).where(Identity.kind == kind, Identity.value == value))


def get_or_create_identity(session: Session, identity: NormalisedIdentity) -> Identity:
    """The stored identity for a normalised value, created on first sight."""
    assert identity.value is not None, "only understood identities are stored"
    found = find_identity(session, identity.kind, identity.value)
    if found is None:
        found = Identity(kind=identity.kind, value=identity.value)
        session.add(found)
        session.flush()
    return found


class StoredIdentity(NamedTuple):
    """An identity's row as intake and call recording need it."""

    id: int
    value: str
    customer_id: int | None


IDENTITIES = Identity.__table__


def ensure_identities(
    session: Session, identities: Sequence[NormalisedIdentity]
) -> dict[str, StoredIdentity]:
    """The stored identities for these values (by value), creating the new ones.

    Insert-or-ignore, so two gateway processes meeting the same new sender at once do not
    fail each other's batches. Core statements: this runs in every intake transaction.
    """
    wanted = {(i.kind, i.value) for i in identities if i.ok and i.value}
    found = _identities_by_value(session, wanted)
    missing = wanted - {(kind, value) for kind, value in wanted if value in found}
    if missing:
        now = utcnow()
        # In a fixed order, so two processes adding the same new senders cannot deadlock.
        rows = [
            {"kind": kind, "value": value, "created_at": now} for kind, value in sorted(missing)
        ]
        session.execute(_insert_ignoring_duplicates(session, Identity, rows))
        found.update(_identities_by_value(session, missing))
    return found


def _identities_by_value(
    session: Session, wanted: set[tuple[IdentityKind, str]]
) -> dict[str, StoredIdentity]:
    found: dict[str, StoredIdentity] = {}
    conn = session.connection()
    for kind in {k for k, _ in wanted}:
        values = [v for k, v in wanted if k == kind]
        query = select(IDENTITIES.c.id, IDENTITIES.c.value, IDENTITIES.c.customer_id).where(
            IDENTITIES.c.kind == kind, IDENTITIES.c.value.in_(values)
        )
        found.update((row.value, StoredIdentity(*row)) for row in conn.execute(query))
    return found


def _insert_ignoring_duplicates(session: Session, model: type, rows: list[dict]):
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    return insert(model).values(rows).on_conflict_do_nothing()


def customer_by_ref(session: Session, customer_ref: str) -> Customer | None:
    return session.scalar(select(Customer).where(Customer.customer_ref == customer_ref))


def customer_count(session: Session) -> int:
    """How many customers the register holds."""
    return session.scalar(select(func.count(Customer.id))) or 0


def restrictions_of_customer(session: Session, customer_id: int) -> Sequence[Restriction]:
    query = (
        select(Restriction)
        .where(Restriction.customer_id == customer_id)
        .options(WITH_PROVENANCE)
        .order_by(Restriction.reference, Restriction.revision)
    )
    return session.scalars(query).all()


def restriction_for_update(session: Session, restriction_id: int) -> Restriction | None:
    """Load one restriction, locking its row on PostgreSQL so two approvers cannot race."""
    return session.scalar(
        select(Restriction).where(Restriction.id == restriction_id).with_for_update()
    )


def revisions_for_update(session: Session, reference: str) -> Sequence[Restriction]:
    """Every revision under one reference, oldest first, their rows locked (PostgreSQL)."""
    query = (
        select(Restriction)
        .where(Restriction.reference == reference)
        .order_by(Restriction.revision)
        .with_for_update()
    )
    return session.scalars(query).all()


def next_reference_number(session: Session, year: int) -> int:
    """The next free sequence number for CCR-<year>-NNNN references (numeric, past 9999 too)."""
    prefix = f"CCR-{year}-"
    number = cast(func.substr(Restriction.reference, len(prefix) + 1), Integer)
    highest = session.scalar(
        select(func.max(number)).where(Restriction.reference.like(prefix + "%"))
    )
    return (highest or 0) + 1


def register_rows(session: Session) -> Sequence[Restriction]:
    """Every current (not superseded, not purged) restriction, for export."""
    query = (
        select(Restriction)
        .where(Restriction.status.not_in([RestrictionStatus.VARIED, RestrictionStatus.PURGED]))
        .options(selectinload(Restriction.imported), selectinload(Restriction.approved_by))
        .order_by(Restriction.reference)
    )
    return session.scalars(query).all()


def active_ending_before(session: Session, day: dt.date) -> Sequence[Restriction]:
    query = _active().where(Restriction.ends_on.is_not(None), Restriction.ends_on < day)
    return session.scalars(query).all()


def active_review_due_unreminded(session: Session, by_day: dt.date) -> Sequence[Restriction]:
    query = _active().where(
        Restriction.next_review_on.is_not(None),
        Restriction.next_review_on <= by_day,
        (Restriction.review_reminder_for.is_(None))
        | (Restriction.review_reminder_for != Restriction.next_review_on),
    )
    return session.scalars(query).all()


def ended_since(session: Session, before: dt.datetime) -> Sequence[Restriction]:
    ended = [
        RestrictionStatus.LIFTED,
        RestrictionStatus.EXPIRED,
        RestrictionStatus.VARIED,
        RestrictionStatus.WITHDRAWN,
    ]
    query = select(Restriction).where(Restriction.status.in_(ended), Restriction.ended_at <= before)
    return session.scalars(query).all()


def proposals_unchanged_since(session: Session, before: dt.datetime) -> Sequence[Restriction]:
    """Drafts and proposals awaiting approval nobody has changed since `before`, locked."""
    proposals = [RestrictionStatus.DRAFT, RestrictionStatus.PENDING_APPROVAL]
    query = (
        select(Restriction)
        .where(Restriction.status.in_(proposals), Restriction.updated_at <= before)
        .with_for_update()
    )
    return session.scalars(query).all()


def dormant_since_before(session: Session, before: dt.datetime) -> Sequence[Restriction]:
    """Dormant restrictions not under a legal hold or kept by a retention category, locked:
    a hold placed while the purge runs waits for it (and then finds the record purged), or,
    committed first, keeps the record out of it (PostgreSQL reads the locked row again
    before it takes it)."""
    query = (
        select(Restriction)
        .where(
            Restriction.status == RestrictionStatus.DORMANT,
            Restriction.dormant_since <= before,
            Restriction.legal_hold.is_(False),
            Restriction.retention_category.is_(None),
        )
        .with_for_update()
    )
    return session.scalars(query).all()


def _active() -> Select[tuple[Restriction]]:
    return select(Restriction).where(Restriction.status == LIVE)


def staff_by_email(session: Session, email: str, *, for_update: bool = False) -> StaffUser | None:
    """The account with this email. `for_update` locks its row until the transaction ends,
    so concurrent sign-in attempts count their failures one after another."""
    query = select(StaffUser).where(StaffUser.email == email.strip().lower())
    return session.scalar(query.with_for_update() if for_update else query)


def service_by_name(session: Session, name: str) -> Service | None:
    return session.scalar(select(Service).where(Service.name == name))


def service_by_name_folded(session: Session, name: str) -> Service | None:
    """The service whose name matches ignoring case ("council tax" is "Council Tax")."""
    return session.scalar(select(Service).where(func.lower(Service.name) == name.lower()))


def service_for_update(session: Session, service_id: int) -> Service | None:
    return session.get(Service, service_id)


def services_with_addresses(session: Session) -> Sequence[Service]:
    """Every service, by name, with its mailboxes and lines loaded."""
    query = select(Service).options(selectinload(Service.addresses)).order_by(Service.name)
    return session.scalars(query).all()


def restrictions_in_force_per_service(session: Session) -> dict[int, int]:
    """service id -> how many live restrictions are scoped to it."""
    query = (
        select(RestrictionService.service_id, func.count())
        .join(Restriction, Restriction.id == RestrictionService.restriction_id)
        .where(Restriction.status == LIVE, Restriction.scope_all.is_(False))
        .group_by(RestrictionService.service_id)
    )
    return {service_id: count for service_id, count in session.execute(query)}


def claim_scheduled_run(session: Session, task: str, slot: str, claimed_by: str) -> None:
    """Record a claim on a task's time slot; a second claim fails the unique constraint."""
    session.add(ScheduledRun(task=task, slot=slot, claimed_by=claimed_by))
    session.flush()


def release_scheduled_run(session: Session, task: str, slot: str) -> None:
    session.execute(
        delete(ScheduledRun).where(ScheduledRun.task == task, ScheduledRun.slot == slot)
    )


def delete_schedule_claims_before(session: Session, before: dt.datetime) -> int:
    result = session.execute(delete(ScheduledRun).where(ScheduledRun.claimed_at < before))
    return result.rowcount or 0


def audit_entries(session: Session, *, action_prefix: str = "") -> Sequence[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.id)
    if action_prefix:
        query = query.where(AuditEntry.action.startswith(action_prefix))
    return session.scalars(query).all()
