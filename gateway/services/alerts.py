"""Alerts for managers: list them, acknowledge, dismiss with a reason, or escalate toward a
warning (a draft restriction, never an active one). Each step in the caller's unit of work,
each audited by routing.alerts.

Escalation drafts through register_service, exactly as a manager proposing a restriction
by hand would: the draft must still be submitted and approved by a different approver.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from gateway.runtime import Runtime
from gateway.services import register_service
from gateway.store import alerts as alert_store
from gateway.store import repository
from routing import alerts as steps
from routing.alerts import AlertRefused
from routing.audit import AuditAction, audit_entry
from routing.enums import AlertStatus, Category, IdentityKind, Referral, Stage
from routing.lifecycle import Actor
from routing.models import Alert, Customer, Identity, Restriction
from routing.terms import RestrictionDraft


@dataclass(frozen=True, slots=True)
class AlertLine:
    """One alert as the list shows it: the person by reference or id, never an address."""

    id: int
    status: AlertStatus
    urgent: bool
    opened_at: dt.datetime
    rule: str
    person: str
    summary: str

    def text(self, zone: dt.tzinfo) -> str:
        opened = self.opened_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        flag = "URGENT " if self.urgent else ""
        return f"{self.id}\t{self.status.value}\t{opened}\t{self.person}\t{flag}{self.summary}"


def staff_actor(session: Session, email: str) -> Actor:
    """The Actor for an active staff account, named by its email (`--by`)."""
    user = repository.staff_by_email(session, email)
    if user is None or not user.active:
        raise AlertRefused(f"no active staff account {email.strip().lower()!r}")
    return Actor(user.email, user.role, user.id)


def live_alerts(session: Session, *, include_acknowledged: bool = True) -> list[AlertLine]:
    """Open (and acknowledged) alerts, urgent first, then oldest first."""
    statuses = steps.LIVE if include_acknowledged else frozenset({AlertStatus.OPEN})
    return [
        AlertLine(
            alert.id,
            alert.status,
            alert.urgent,
            alert.opened_at,
            alert.rule,
            person_label(alert, customer_ref, kind),
            alert.summary,
        )
        for alert, customer_ref, kind in alert_store.alerts_with_people(session, statuses)
    ]


def person_label(alert: Alert, customer_ref: str | None, kind: IdentityKind | None) -> str:
    """Whom an alert is about, by customer reference or id: no address or number."""
    if alert.customer_id is not None:
        return f"customer {customer_ref}" if customer_ref else f"customer #{alert.customer_id}"
    if alert.identity_id is not None:
        return f"{kind.value if kind else 'identity'} #{alert.identity_id}"
    return "-"


def record_listing(session: Session, actor: str, now: dt.datetime, shown: int) -> None:
    """Audit that someone listed the alerts (they name customers by reference)."""
    session.add(
        audit_entry(
            AuditAction.ALERTS_LISTED,
            actor=actor,
            at=now,
            subject_type="alerts",
            detail={"shown": shown},
        )
    )


def describe_alert(
    session: Session, rt: Runtime, alert_id: int, *, actor: str, now: dt.datetime
) -> list[str]:
    """An alert for a person to read: the rule, the figures, the window and a text chart of
    the days up to it. No address or number; the viewing is audited."""
    alert = _load(session, alert_id)
    customer = session.get(Customer, alert.customer_id) if alert.customer_id else None
    identity = session.get(Identity, alert.identity_id) if alert.identity_id else None
    who = person_label(
        alert, customer.customer_ref if customer else None, identity and identity.kind
    )
    opened = alert.opened_at.astimezone(rt.timezone).strftime("%Y-%m-%d %H:%M")
    lines = [
        f"alert {alert.id} ({alert.status.value}{', urgent' if alert.urgent else ''}): {who}",
        f"opened {opened}; rule {alert.rule}",
        alert.summary,
    ]
    if alert.closed_at is not None:
        closed = alert.closed_at.astimezone(rt.timezone).strftime("%Y-%m-%d %H:%M")
        lines.append(f"closed {closed}: {alert.closed_reason or 'no note'}")
    lines.extend(_evidence_lines(alert.evidence or {}))
    session.add(
        audit_entry(
            AuditAction.ALERT_VIEWED,
            actor=actor,
            at=now,
            subject_type="alert",
            subject_ref=str(alert.id),
            detail={"customer_id": alert.customer_id, "identity_id": alert.identity_id},
        )
    )
    return lines


def _evidence_lines(evidence: dict) -> list[str]:
    if "series" not in evidence:
        return [f"evidence: {', '.join(sorted(evidence))}"] if evidence else []
    events = evidence.get("events", [])
    shown = ", ".join(str(i) for i in events[:20]) + (" ..." if len(events) > 20 else "")
    lines = [
        evidence.get("explanation", ""),
        f"threshold {evidence.get('threshold')}, seen {evidence.get('value')} "
        f"{evidence.get('unit', '')}",
        f"contact events counted: {evidence.get('event_count', len(events))} ({shown})",
        f"per day ({evidence.get('unit', '')}):",
    ]
    series = evidence["series"]
    peak = max((point["value"] for point in series), default=0) or 1
    for point in series:
        bar = "#" * round(40 * point["value"] / peak) if point["value"] else ""
        lines.append(f"  {point['day']} {point['value']:>5} {bar}")
    return lines


def acknowledge_alert(session: Session, actor: Actor, now: dt.datetime, alert_id: int) -> Alert:
    alert = _load(session, alert_id)
    session.add(steps.acknowledge(alert, actor, now))
    session.flush()
    return alert


def dismiss_alert(
    session: Session, actor: Actor, now: dt.datetime, alert_id: int, *, reason: str | None
) -> Alert:
    alert = _load(session, alert_id)
    session.add(steps.dismiss(alert, actor, now, reason))
    session.flush()
    return alert


def refer_alert(
    session: Session,
    actor: Actor,
    now: dt.datetime,
    alert_id: int,
    to: Referral,
    *,
    reference: str | None = None,
    other: str | None = None,
) -> Alert:
    alert = _load(session, alert_id)
    session.add(steps.refer(alert, actor, now, to, reference=reference, other=other))
    session.flush()
    return alert


def no_concern_alert(
    session: Session, actor: Actor, now: dt.datetime, alert_id: int, *, note: str | None = None
) -> Alert:
    alert = _load(session, alert_id)
    session.add(steps.read_no_concern(alert, actor, now, note))
    session.flush()
    return alert


def escalate_alert(
    session: Session,
    rt: Runtime,
    actor: Actor,
    now: dt.datetime,
    alert_id: int,
    *,
    reason: str | None = None,
) -> Restriction:
    """Close the alert as escalated and draft a warning for its person (a DRAFT: it does
    nothing until submitted and approved by someone else). A lone identity first becomes a
    customer, so the warning has someone to name."""
    alert = _load(session, alert_id)
    steps.check_escalation(alert, actor)
    customer = _customer_for(session, rt, actor, now, alert)
    draft = RestrictionDraft(
        stage=Stage.WARNING,
        category=Category.C,  # unreasonable levels of contact
        starts_on=rt.today(now),
        review_every_months=rt.settings.default_review_months,
        reason=f"Proposed from contact volume alert {alert.id}: {_rule_title(alert)}",
    )
    restriction = register_service.draft_restriction(session, actor, now, customer, draft)
    alert.customer_id = customer.id
    session.add(steps.escalate(alert, actor, now, restriction.reference, reason))
    session.flush()
    return restriction


def _customer_for(
    session: Session, rt: Runtime, actor: Actor, now: dt.datetime, alert: Alert
) -> Customer:
    if alert.customer_id is not None:
        customer = session.get(Customer, alert.customer_id)
        assert customer is not None
        return customer
    identity = session.get(Identity, alert.identity_id)
    if identity is None:
        raise AlertRefused(f"alert {alert.id}: its identity no longer exists")
    if identity.customer_id is not None:  # linked since the alert opened
        customer = session.get(Customer, identity.customer_id)
        assert customer is not None
        return customer
    customer = register_service.add_customer(session, actor, now, name=None)
    # Linking moves the identity's volume alerts, this one included, to the customer.
    register_service.link_raw_identity(
        session,
        actor,
        now,
        customer,
        identity.value,
        identity.kind,
        fold_plus=rt.settings.fold_plus_addresses,
        region=rt.settings.phone_region,
    )
    return customer


def _rule_title(alert: Alert) -> str:
    return str((alert.evidence or {}).get("title") or alert.rule)


def _load(session: Session, alert_id: int) -> Alert:
    alert = alert_store.alert_for_update(session, alert_id)
    if alert is None:
        raise AlertRefused(f"no alert with id {alert_id}")
    return alert
