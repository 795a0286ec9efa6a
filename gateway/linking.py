"""Linking a person's email addresses and phone numbers to one customer, so that their
contacts count together for contact volume, from now on and for the past.

The link itself goes through register_service.link_identity (role check, audit, register
version), as every other way of linking does, and that moves the identity's volume alerts
to the customer (`move_alerts_to_customer`: each continues as the customer's, or merges
into the customer's own alert for the same rule). Counting then combines by itself: the
volume queries read a customer's contacts through its identities (see gateway/volume.py),
so no recorded event is rewritten. `link_identities` then evaluates the customer's
combined contacts at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway import register_service, repository
from gateway.bootstrap import Runtime
from gateway.register_service import RegisterError
from gateway.volume import reevaluate_person
from routing import alerts as steps
from routing.enums import AlertStatus, IdentityKind
from routing.identity import NormalisedIdentity, normalise
from routing.lifecycle import Actor, TransitionRefused
from routing.models import Alert, Customer, Identity
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
    if actor.role not in steps.MANAGERS:
        raise TransitionRefused("only a manager or an approver may link identities")
    if not identities:
        raise RegisterError("name at least one email address or phone number to link")
    wanted = [_normalised(rt, raw, kind) for raw, kind in identities]
    known = [repository.find_identity(session, i.kind, i.value or "") for i in wanted]
    customer, created = _customer(session, actor, now, customer_ref, known)
    before = _live_alerts_of(session, [i for i in known if i is not None])
    # register_service moves each newly linked identity's alerts (_volume_alerts_follow).
    linked = [register_service.link_identity(session, actor, now, customer, i) for i in wanted]
    result = LinkResult(customer.id, customer.customer_ref, created, [i.id for i in linked])
    result.alerts_merged = sum(1 for a in before if a.status is AlertStatus.MERGED)
    result.alerts_moved = len(before) - result.alerts_merged
    session.flush()
    result.alerts_opened = reevaluate_person(session, rt, person_key(customer.id, None), now)
    return result


def _live_alerts_of(session: Session, identities: Sequence[Identity]) -> list[Alert]:
    """The open or acknowledged volume alerts of identities not linked to a customer yet."""
    keys = [person_key(None, i.id) for i in identities if i.customer_id is None]
    if not keys:
        return []
    query = select(Alert).where(Alert.person_key.in_(keys), Alert.status.in_(steps.LIVE))
    return list(session.scalars(query))


def move_alerts_to_customer(
    session: Session, identity_ids: Sequence[int], customer_id: int, now: dt.datetime
) -> tuple[int, int]:
    """The volume alerts of these identities become the customer's; an open one whose rule
    the customer already has open is merged into it. Returns (moved, merged).

    Called by register_service.link_identity whenever an identity is linked."""
    keys = [person_key(None, identity_id) for identity_id in identity_ids]
    into = person_key(customer_id, None)
    query = select(Alert).where(Alert.person_key.in_(keys)).order_by(Alert.id)
    live = _live_by_rule(session, into)
    moved = merged = 0
    for alert in session.scalars(query):
        if alert.status in steps.LIVE and alert.rule in live:
            session.add(steps.merge(alert, live[alert.rule].id, now))
            merged += 1
            continue
        alert.person_key, alert.customer_id = into, customer_id
        if alert.status in steps.LIVE:
            live[alert.rule] = alert
        session.add(steps.alert_audit(Actor.system(), "alert.moved", alert, now))
        session.flush()  # one at a time: the live-alert index is checked row by row
        moved += 1
    return moved, merged


def _live_by_rule(session: Session, key: str) -> dict[str, Alert]:
    query = select(Alert).where(Alert.person_key == key, Alert.status.in_(steps.LIVE))
    return {alert.rule: alert for alert in session.scalars(query)}


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
