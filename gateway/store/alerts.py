"""The SQL of volume alerts: the managers' list and steps, and what linking shares."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from routing import alerts as steps
from routing.audit import AuditAction
from routing.enums import AlertStatus, IdentityKind
from routing.lifecycle import Actor
from routing.models import Alert, Customer, Identity
from routing.volume import person_key


def alerts_with_people(
    session: Session, statuses: Iterable[AlertStatus]
) -> Sequence[Row[tuple[Alert, str | None, IdentityKind | None]]]:
    """(alert, customer reference, identity kind) of the alerts in these statuses, urgent
    first, then oldest first; the reference or kind is None when the alert has none."""
    query = (
        select(Alert, Customer.customer_ref, Identity.kind)
        .outerjoin(Customer, Customer.id == Alert.customer_id)
        .outerjoin(Identity, Identity.id == Alert.identity_id)
        .where(Alert.status.in_(statuses))
        .order_by(Alert.urgent.desc(), Alert.opened_at, Alert.id)
    )
    return session.execute(query).all()


def alert_for_update(session: Session, alert_id: int) -> Alert | None:
    """One alert, its row locked (PostgreSQL) so two managers' steps go one after another."""
    return session.scalar(select(Alert).where(Alert.id == alert_id).with_for_update())


def live_alerts_of(session: Session, identities: Sequence[Identity]) -> list[Alert]:
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

    Called by services.register_service.link_identity whenever an identity is linked."""
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
        session.add(steps.alert_audit(Actor.system(), AuditAction.ALERT_MOVED, alert, now))
        session.flush()  # one at a time: the live-alert index is checked row by row
        moved += 1
    return moved, merged


def _live_by_rule(session: Session, key: str) -> dict[str, Alert]:
    query = select(Alert).where(Alert.person_key == key, Alert.status.in_(steps.LIVE))
    return {alert.rule: alert for alert in session.scalars(query)}
