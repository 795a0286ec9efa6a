"""The SQL of imported restrictions awaiting the confirmation of the approver named on the
import (gateway/services/import_confirmation.py decides what to change)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from routing.enums import ImportConfirmation
from routing.models import ImportedRestriction, Restriction

_AWAITING = ImportConfirmation.AWAITING


def awaiting_count(session: Session, confirmer_id: int) -> int:
    """How many imported restrictions wait for this approver to confirm or withdraw them."""
    query = select(func.count()).where(
        ImportedRestriction.confirmer_id == confirmer_id, ImportedRestriction.state == _AWAITING
    )
    return session.scalar(query) or 0


def awaiting(session: Session, confirmer_id: int) -> Sequence[Restriction]:
    """This approver's imported restrictions to confirm, by reference, with their customer
    and provenance loaded."""
    query = (
        select(Restriction)
        .join(ImportedRestriction, ImportedRestriction.restriction_id == Restriction.id)
        .where(
            ImportedRestriction.confirmer_id == confirmer_id,
            ImportedRestriction.state == _AWAITING,
        )
        .options(joinedload(Restriction.customer), joinedload(Restriction.imported))
        .order_by(Restriction.reference, Restriction.revision)
    )
    return session.scalars(query).unique().all()


def imported_for_update(session: Session, restriction_ids: Sequence[int]) -> list[Restriction]:
    """The imported restrictions with these ids, locked for the change, in id order."""
    query = (
        select(Restriction)
        .join(ImportedRestriction, ImportedRestriction.restriction_id == Restriction.id)
        .where(Restriction.id.in_(restriction_ids))
        .order_by(Restriction.id)
        .with_for_update(of=Restriction)
    )
    return list(session.scalars(query))
