"""What a manager may do with an alert, and the audit entry each step leaves.

open -> acknowledged -> dismissed (with a reason) or escalated (toward a warning or a
restriction, always as a draft for people to decide). An open alert can also be dismissed
or escalated at once. A safeguarding alert is about a person at risk, not about how much
they contact the council: it is never dismissed as reasonable or escalated toward a
warning, but closed by what was done: referred (to whom, with their reference) or read
with no concern found. Each function checks the step, changes the alert and returns the
audit entry; the caller adds both to its unit of work. Audit entries name the alert and
the person by id only, never an address, a number or the free text of a reason.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from routing.audit import AuditAction, audit_entry
from routing.enums import AlertStatus, Referral
from routing.lifecycle import Actor
from routing.models import Alert, AuditEntry
from routing.roles import Permission, may

A = AlertStatus

LIVE = frozenset({A.OPEN, A.ACKNOWLEDGED})  # one of these per person and rule at most
SAFEGUARDING = "safeguarding"  # the rule of every safeguarding alert
# A person whose restriction is dormant contacted the council again: reconsider it.
RECONTACT = "dormant_contact"
REFERRAL_NAMES = {
    Referral.POLICE: "the police",
    Referral.ADULT_SOCIAL_CARE: "adult social care",
    Referral.CHILDRENS_SERVICES: "children's services",
    Referral.OTHER: "another agency",
}


class AlertRefused(ValueError):
    """An alert step that is not allowed; the message says why in one line."""


def acknowledge(alert: Alert, actor: Actor, now: dt.datetime) -> AuditEntry:
    """A manager has seen the alert and is looking into it."""
    _require_manager(actor, "acknowledge an alert")
    _require_status(alert, frozenset({A.OPEN}), "acknowledge")
    alert.status = A.ACKNOWLEDGED
    return alert_audit(actor, AuditAction.ALERT_ACKNOWLEDGED, alert, now)


def dismiss(alert: Alert, actor: Actor, now: dt.datetime, reason: str | None) -> AuditEntry:
    """A manager judges the contact reasonable; the reason is kept on the alert."""
    _require_manager(actor, "dismiss an alert")
    _require_not_safeguarding(alert, "dismiss")
    if not reason or not reason.strip():
        raise AlertRefused(f"a reason is required to dismiss alert {alert.id}")
    _require_status(alert, LIVE, "dismiss")
    _close(alert, A.DISMISSED, now, reason.strip())
    return alert_audit(actor, AuditAction.ALERT_DISMISSED, alert, now, reason_given=True)


def escalate(
    alert: Alert, actor: Actor, now: dt.datetime, restriction_ref: str, reason: str | None = None
) -> AuditEntry:
    """A manager takes the alert forward: the draft ``restriction_ref`` was made for it."""
    _require_manager(actor, "escalate an alert")
    _require_not_safeguarding(alert, "escalate")
    _require_status(alert, LIVE, "escalate")
    _close(alert, A.ESCALATED, now, (reason or "").strip() or None)
    return alert_audit(actor, AuditAction.ALERT_ESCALATED, alert, now, restriction=restriction_ref)


def check_escalation(alert: Alert, actor: Actor) -> None:
    """Refuse an escalation before anything is drafted for it."""
    _require_manager(actor, "escalate an alert")
    _require_not_safeguarding(alert, "escalate")
    _require_status(alert, LIVE, "escalate")
    if alert.customer_id is None and alert.identity_id is None:
        raise AlertRefused(f"alert {alert.id} names no person to propose a restriction for")


def refer(
    alert: Alert,
    actor: Actor,
    now: dt.datetime,
    to: Referral,
    *,
    reference: str | None = None,
    other: str | None = None,
) -> AuditEntry:
    """A safeguarding concern was passed on: to whom, and their reference if they gave one."""
    _require_manager(actor, "record a safeguarding referral")
    _require_safeguarding(alert, "record a referral for")
    _require_status(alert, LIVE, "record a referral for")
    other = (other or "").strip()
    if to is Referral.OTHER and not other:
        raise AlertRefused("say who the concern was referred to")
    reference = (reference or "").strip() or None
    whom = other if to is Referral.OTHER else REFERRAL_NAMES[to]
    said = f"Referred to {whom}" + (f", reference {reference}" if reference else "")
    _close(alert, A.REFERRED, now, said)
    return alert_audit(
        actor, AuditAction.ALERT_REFERRED, alert, now, to=to.value, reference_given=bool(reference)
    )


def read_no_concern(
    alert: Alert, actor: Actor, now: dt.datetime, note: str | None = None
) -> AuditEntry:
    """A person read the message and found no risk to act on."""
    _require_manager(actor, "record that a safeguarding alert needs no action")
    _require_safeguarding(alert, "close")
    _require_status(alert, LIVE, "close")
    _close(alert, A.NO_CONCERN, now, (note or "").strip() or "Read: no concern")
    return alert_audit(actor, AuditAction.ALERT_NO_CONCERN, alert, now)


def merge(alert: Alert, into_id: int, now: dt.datetime) -> AuditEntry:
    """Identities were linked: this person's alert continues as alert ``into_id``."""
    _close(alert, A.MERGED, now, f"continued as alert {into_id}")
    return alert_audit(Actor.system(), AuditAction.ALERT_MERGED, alert, now, into=into_id)


def alert_audit(
    actor: Actor, action: AuditAction, alert: Alert, now: dt.datetime, **detail: Any
) -> AuditEntry:
    """The append-only record of an alert step: ids and the rule, nothing personal."""
    return audit_entry(
        action,
        actor=actor.name,
        at=now,
        subject_type="alert",
        subject_ref=str(alert.id),
        detail={
            "status": alert.status.value,
            "rule": alert.rule,
            "customer_id": alert.customer_id,
            "identity_id": alert.identity_id,
            **detail,
        },
    )


def _close(alert: Alert, status: AlertStatus, now: dt.datetime, reason: str | None) -> None:
    alert.status = status
    alert.closed_at = now
    alert.closed_reason = reason


def _require_manager(actor: Actor, what: str) -> None:
    if not may(actor.role, Permission.HANDLE_ALERTS):
        raise AlertRefused(f"only a manager or an approver may {what}")


def _require_status(alert: Alert, allowed: frozenset[AlertStatus], verb: str) -> None:
    if alert.status not in allowed:
        raise AlertRefused(f"cannot {verb} alert {alert.id}: it is {alert.status.value}")


def _require_safeguarding(alert: Alert, verb: str) -> None:
    if alert.rule != SAFEGUARDING:
        raise AlertRefused(f"cannot {verb} alert {alert.id}: it is not a safeguarding alert")


def _require_not_safeguarding(alert: Alert, verb: str) -> None:
    if alert.rule == SAFEGUARDING:
        raise AlertRefused(
            f"cannot {verb} alert {alert.id}: a safeguarding concern is closed by recording "
            "a referral, or that it was read and no concern found"
        )
