"""The "confirm imported restrictions" task: the approver named on a register import stands
by each imported restriction, or withdraws it (lifted at once), several at a time.

Each restriction's change has its own audit entry; a withdrawal bumps the register version,
so every process stops enforcing it within seconds (the caller reloads its own at once).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from gateway.services.register_service import RegisterError
from gateway.store import register_imports, repository
from routing import lifecycle
from routing.lifecycle import Actor
from routing.models import Restriction


@dataclass(frozen=True, slots=True)
class Settled:
    """What one confirm or withdraw did: the references changed."""

    references: tuple[str, ...]


def awaiting(session: Session, actor: Actor) -> Sequence[Restriction]:
    """The imported restrictions on this approver's work list."""
    if actor.user_id is None:
        return []
    return register_imports.awaiting(session, actor.user_id)


def awaiting_count(session: Session, actor: Actor) -> int:
    return 0 if actor.user_id is None else register_imports.awaiting_count(session, actor.user_id)


def confirm(
    session: Session, actor: Actor, now: dt.datetime, restriction_ids: Sequence[int]
) -> Settled:
    """Stand by each restriction ticked; refused as a whole if any one cannot be."""
    restrictions = _chosen(session, restriction_ids)
    for restriction in restrictions:
        session.add(lifecycle.confirm_import(restriction, actor, now))
    session.flush()
    return Settled(tuple(r.reference for r in restrictions))


def withdraw(
    session: Session,
    actor: Actor,
    now: dt.datetime,
    restriction_ids: Sequence[int],
    *,
    reason: str,
) -> Settled:
    """Withdraw (lift) each restriction ticked, with the reason; all or none."""
    restrictions = _chosen(session, restriction_ids)
    for restriction in restrictions:
        session.add(lifecycle.withdraw_import(restriction, actor, now, reason))
    repository.bump_register_version(session)
    session.flush()
    return Settled(tuple(r.reference for r in restrictions))


def _chosen(session: Session, restriction_ids: Sequence[int]) -> list[Restriction]:
    if not restriction_ids:
        raise RegisterError("tick at least one restriction")
    found = register_imports.imported_for_update(session, sorted(set(restriction_ids)))
    if len(found) != len(set(restriction_ids)):
        raise RegisterError("one of the ticked restrictions was not imported")
    return found
