"""SQL for letters and appeals: the current terms under a reference, who decided them, the
appeals still undecided once their window has closed, and who may hear an appeal."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from routing.enums import Role
from routing.models import Appeal, Letter, Restriction, StaffUser

# What a letter (and the restriction's letters and appeals) reads, loaded with the revision.
_LETTER_CONTENT = (
    selectinload(Restriction.customer),
    selectinload(Restriction.services),
    selectinload(Restriction.reviews),
    selectinload(Restriction.appeals),
    selectinload(Restriction.letters),
)


def latest_revision(session: Session, reference: str) -> Restriction | None:
    """The newest revision under a reference (the terms that apply, or applied last), with
    what a letter shows loaded."""
    query = (
        select(Restriction)
        .where(Restriction.reference == reference)
        .options(*_LETTER_CONTENT)
        .order_by(Restriction.revision.desc())
        .limit(1)
    )
    return session.scalar(query)


def letter_subject(session: Session, restriction_id: int) -> Restriction | None:
    """One revision with what a letter shows loaded, its row locked (PostgreSQL)."""
    query = (
        select(Restriction)
        .where(Restriction.id == restriction_id)
        .options(*_LETTER_CONTENT)
        .with_for_update(of=Restriction)
    )
    return session.scalar(query)


def decision_makers(session: Session, reference: str) -> set[int]:
    """Every member of staff who proposed or approved any revision under a reference."""
    rows = session.execute(
        select(Restriction.proposed_by_id, Restriction.approved_by_id).where(
            Restriction.reference == reference
        )
    )
    return {staff_id for pair in rows for staff_id in pair if staff_id is not None}


def appeal_for_update(session: Session, appeal_id: int) -> Appeal | None:
    query = (
        select(Appeal)
        .where(Appeal.id == appeal_id)
        .options(selectinload(Appeal.restriction))
        .with_for_update(of=Appeal)
    )
    return session.scalar(query)


def undecided_after_window(session: Session, today: dt.date) -> Sequence[Appeal]:
    """Appeals still undecided whose restriction's appeal window closed before today and
    that no alert has been raised for yet, locked so two workers raise one alert."""
    query = (
        select(Appeal)
        .join(Appeal.restriction)
        .where(
            Appeal.decision.is_(None),
            Appeal.overdue_alerted_at.is_(None),
            Restriction.appeal_deadline < today,
        )
        .options(selectinload(Appeal.restriction))
        .order_by(Appeal.id)
        .with_for_update(of=Appeal, skip_locked=True)
    )
    return session.scalars(query).all()


def active_approvers(session: Session) -> Sequence[StaffUser]:
    """The staff who may hear an appeal, by name."""
    query = (
        select(StaffUser)
        .where(StaffUser.role == Role.APPROVER, StaffUser.active.is_(True))
        .order_by(StaffUser.display_name, StaffUser.email)
    )
    return session.scalars(query).all()


def staff_member(session: Session, staff_id: int) -> StaffUser | None:
    return session.get(StaffUser, staff_id)


def latest_decided_appeal(session: Session, reference: str) -> Appeal | None:
    """The most recent decided appeal under a reference (any revision)."""
    query = (
        select(Appeal)
        .join(Appeal.restriction)
        .where(Restriction.reference == reference, Appeal.decision.is_not(None))
        .order_by(Appeal.decided_at.desc(), Appeal.id.desc())
        .limit(1)
    )
    return session.scalar(query)


def appeals_under(session: Session, reference: str) -> Sequence[Appeal]:
    """Every appeal under a reference, oldest first, for the restriction's page."""
    query = (
        select(Appeal)
        .join(Appeal.restriction)
        .where(Restriction.reference == reference)
        .order_by(Appeal.id)
    )
    return session.scalars(query).all()


def letters_under(session: Session, reference: str) -> Sequence[Letter]:
    """Every letter recorded as sent under a reference, oldest first."""
    query = (
        select(Letter)
        .join(Restriction, Letter.restriction_id == Restriction.id)
        .where(Restriction.reference == reference)
        .order_by(Letter.sent_on, Letter.id)
    )
    return session.scalars(query).all()
