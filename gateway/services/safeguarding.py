"""A member of staff raises a safeguarding concern about a call: it takes the same path as
safeguarding wording in an email (an urgent alert, a banner until someone acts, the
safeguarding mailbox told at once)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy.orm import Session

from gateway.mail.notices import alert_link, queue_notices, store_notice
from gateway.runtime import Runtime
from routing.alerts import SAFEGUARDING, AlertRefused
from routing.audit import AuditAction, audit_entry
from routing.enums import AlertStatus, Channel
from routing.lifecycle import Actor
from routing.models import Alert, ContactEvent, Identity
from routing.roles import Permission, may


def raise_about_call(rt: Runtime, actor: Actor, now: dt.datetime, event_id: int) -> int:
    """Open an urgent safeguarding alert about this call and tell the safeguarding mailbox;
    returns the alert's id."""
    if not may(actor.role, Permission.RAISE_CONCERN):
        raise AlertRefused("only contact-centre staff and caseworkers may raise a concern")
    with rt.uow() as session:
        alert = _concern_about(session, event_id, now, actor)
        notice_id = record_concern(
            rt,
            session,
            actor,
            now,
            alert,
            {"contact_event_id": event_id},
            "Safeguarding concern: a member of staff raised one about a call",
            lambda alert_id: _notice_text(rt, alert_id, now),
        )
        alert_id = alert.id
    queue_notices(rt, [notice_id])
    return alert_id


def record_concern(
    rt: Runtime,
    session: Session,
    actor: Actor,
    now: dt.datetime,
    alert: Alert,
    detail: dict[str, object],
    subject: str,
    notice_text: Callable[[int], str],
) -> int:
    """Store a new safeguarding alert, its audit entry and the notice to the safeguarding
    mailbox in the caller's unit of work (no alert without its notice, and no notice
    without it); returns the notice's message id, to queue once committed."""
    session.add(alert)
    session.flush()
    session.add(
        audit_entry(
            AuditAction.SAFEGUARDING_RAISED,
            actor=actor.name,
            at=now,
            subject_type="alert",
            subject_ref=str(alert.id),
            detail={**detail, "customer_id": alert.customer_id},
        )
    )
    return store_notice(
        rt,
        session,
        rt.settings.safeguarding_mailbox,
        subject,
        notice_text(alert.id),
        flags=["safeguarding"],
    )


def _concern_about(session: Session, event_id: int, now: dt.datetime, actor: Actor) -> Alert:
    call = session.get(ContactEvent, event_id)
    if call is None or call.channel is not Channel.PHONE:
        raise AlertRefused(f"no call with id {event_id}")
    identity = session.get(Identity, call.identity_id) if call.identity_id else None
    customer_id = call.customer_id or (identity.customer_id if identity else None)
    when = call.occurred_at.strftime("%d %B %Y")
    return Alert(
        rule=SAFEGUARDING,
        urgent=True,
        status=AlertStatus.OPEN,
        customer_id=customer_id,
        identity_id=call.identity_id,
        summary=f"A member of staff raised a safeguarding concern about a call on {when}: "
        "a person must act now.",
        evidence={"contact_event_id": event_id, "line": call.to_value, "raised_by": actor.name},
        opened_at=now,
    )


def _notice_text(rt: Runtime, alert_id: int, now: dt.datetime) -> str:
    raised = now.astimezone(rt.timezone).strftime("%d %B %Y at %H:%M")
    return (
        f"On {raised} a member of staff raised a safeguarding concern about a call. A person "
        "must act now and decide whether to refer it.\n\n"
        f"Open the alert to see the call and record what was done: {alert_link(rt, alert_id)}\n\n"
        "This notice leaves out who called: that is in the alert.\n"
    )
