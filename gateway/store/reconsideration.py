"""The SQL that finds people whose restriction is dormant among new contacts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, exists, func, select
from sqlalchemy.orm import aliased

from routing.enums import Direction, RestrictionStatus
from routing.models import ContactEvent, Identity, Restriction


@dataclass(frozen=True, slots=True)
class DormantCase:
    customer_id: int
    reference: str
    ended_at: dt.datetime | None
    dormant_since: dt.datetime
    contacted_at: dt.datetime


def dormant_cases_contacting(conn: Connection, event_ids: Sequence[int]) -> list[DormantCase]:
    """Dormant restrictions of the people who made these inbound contacts after it went
    dormant, with the first such contact."""
    if not event_ids:
        return []
    owner = func.coalesce(ContactEvent.customer_id, Identity.customer_id)
    in_force = aliased(Restriction)
    query = (
        select(
            Restriction.customer_id,
            Restriction.reference,
            Restriction.ended_at,
            Restriction.dormant_since,
            func.min(ContactEvent.occurred_at),
        )
        .select_from(ContactEvent)
        .outerjoin(Identity, Identity.id == ContactEvent.identity_id)
        .join(Restriction, Restriction.customer_id == owner)
        .where(
            ContactEvent.id.in_(event_ids),
            ContactEvent.direction == Direction.INBOUND,
            # A statutory request is a right, never a sign the behaviour is back.
            ContactEvent.statutory.is_(False),
            Restriction.status == RestrictionStatus.DORMANT,
            ContactEvent.occurred_at > Restriction.dormant_since,
            # A varied restriction's earlier terms go dormant while the new ones are in force.
            ~exists().where(
                in_force.customer_id == Restriction.customer_id,
                in_force.status == RestrictionStatus.ACTIVE,
            ),
        )
        .group_by(
            Restriction.customer_id,
            Restriction.reference,
            Restriction.ended_at,
            Restriction.dormant_since,
        )
    )
    return [DormantCase(*row) for row in conn.execute(query)]
