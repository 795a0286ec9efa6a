"""Linking a person's email addresses and phone numbers to one customer, so that their
contacts count together for contact volume, from now on and for the past.

The link itself goes through register_service.link_identity (role check, audit, register
version), as every other way of linking does, and that moves the identity's volume alerts
to the customer (`store.alerts.move_alerts_to_customer`: each continues as the customer's,
or merges into the customer's own alert for the same rule). Counting then combines by
itself: the volume queries read a customer's contacts through its identities, so no
recorded event is rewritten. `link_identities` then evaluates the customer's combined
contacts at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from gateway.runtime import Runtime
from gateway.services import register_service
from gateway.services.register_service import RegisterError
from gateway.services.volume import reevaluate_person
from gateway.store import repository
from gateway.store.alerts import live_alerts_of
from routing.enums import AlertStatus, IdentityKind
from routing.identity import NormalisedIdentity, normalise
from routing.lifecycle import Actor, TransitionRefused
from routing.models import Customer, Identity
from routing.roles import Permission, may
from routing.volume import person_key


@dataclass
class LinkResult:
    """What linking did, by id (for the command's one-line answer and for tests)."""

    customer_id: int
    customer_ref: str | None
    customer_created: bool
    identity_ids: list[int] = field(default_factory=list)
    alerts_moved: int = 0
    alerts_merged: int = 0
    alerts_opened: list[int] = field(default_factory=list)


def link_identities(
    session: Session,
    rt: Runtime,
    actor: Actor,
    now: dt.datetime,
    identities: Sequence[tuple[str, IdentityKind]],
    *,
    customer_ref: str | None = None,
) -> LinkResult:
    """Link these addresses and numbers (as typed) to one customer: the one named by
    ``customer_ref`` (created if new), else the one some of them already belong to, else a
    new customer. Raises RegisterError or TransitionRefused with one line."""
    if not may(actor.role, Permission.EDIT_CUSTOMERS):
        raise TransitionRefused("only a manager or an approver may link identities")
    if not identities:
        raise RegisterError("name at least one email address or phone number to link")
    wanted = [_normalised(rt, raw, kind) for raw, kind in identities]
    known = [repository.find_identity(session, i.kind, i.value or "") for i in wanted]
    customer, created = _customer(session, actor, now, customer_ref, known)
    before = live_alerts_of(session, [i for i in known if i is not None])
    # register_service moves each newly linked identity's alerts (_volume_alerts_follow).
    linked = [register_service.link_identity(session, actor, now, customer, i) for i in wanted]
    result = LinkResult(customer.id, customer.customer_ref, created, [i.id for i in linked])
    result.alerts_merged = sum(1 for a in before if a.status is AlertStatus.MERGED)
    result.alerts_moved = len(before) - result.alerts_merged
    session.flush()
    result.alerts_opened = reevaluate_person(session, rt, person_key(customer.id, None), now)
    return result


def _normalised(rt: Runtime, raw: str, kind: IdentityKind) -> NormalisedIdentity:
    settings = rt.settings
    identity = normalise(
        raw, kind, fold_plus=settings.fold_plus_addresses, region=settings.phone_region
    )
    if not identity.ok:
        raise RegisterError(
            f"that {kind.value} is {identity.state.value}: only a readable address or number "
            "can be linked"
        )
    return identity


def _customer(
    session: Session,
    actor: Actor,
    now: dt.datetime,
    customer_ref: str | None,
    known: Sequence[Identity | None],
) -> tuple[Customer, bool]:
    """The customer to link to, and whether it was created now."""
    if customer_ref:
        found = repository.customer_by_ref(session, customer_ref)
        if found is not None:
            return found, False
        return register_service.add_customer(
            session, actor, now, name=None, customer_ref=customer_ref
        ), True
    owners = sorted({i.customer_id for i in known if i is not None and i.customer_id})
    if len(owners) > 1:
        raise RegisterError(
            f"these already belong to different customers (#{owners[0]} and #{owners[1]}); "
            "unlink one first"
        )
    if owners:
        customer = session.get(Customer, owners[0])
        assert customer is not None
        return customer, False
    return register_service.add_customer(session, actor, now, name=None), True
