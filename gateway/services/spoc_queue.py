"""The SPOC's queue: list the items, open one (the first opening marks it read), record an
outcome, and download an attachment. Every look and every change is audited; who may is
routing.roles (Permission.SPOC_QUEUE), checked here as well as on the pages."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from gateway.mail.notices import alert_link, queue_notices
from gateway.mail.readable import Attachment, ReadableMessage, attachment_bytes, readable
from gateway.runtime import Runtime
from gateway.services.safeguarding import record_concern
from gateway.store import spoc_queue
from gateway.store.spoc_queue import ItemRow, QueueCounts
from gateway.store.tables import SpocItem
from routing.alerts import SAFEGUARDING
from routing.audit import AuditAction, audit_entry
from routing.enums import AlertStatus
from routing.lifecycle import Actor
from routing.models import Alert
from routing.roles import Permission, may
from routing.spoc import ItemOutcome, OutcomeChoice, OutcomeRefused, check_outcome, item_audit


class ItemNotFound(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class OpenedItem:
    item: SpocItem
    customer_ref: str | None
    message: ReadableMessage
    first_reading: bool


def _require(actor: Actor) -> None:
    if not may(actor.role, Permission.SPOC_QUEUE):
        raise OutcomeRefused("only caseworkers who handle restricted contact may use the queue")


def list_items(
    session: Session,
    actor: Actor,
    now: dt.datetime,
    today: dt.date,
    *,
    show: str,
    mine: bool,
    offset: int = 0,
) -> tuple[list[ItemRow], bool]:
    """A page of the queue (`mine`: only items for the actor's own SPOC mailbox), audited
    by the filter and the number shown."""
    _require(actor)
    rows, more = spoc_queue.items_page(
        session, today=today, show=show, spoc_email=actor.name if mine else None, offset=offset
    )
    session.add(
        audit_entry(
            AuditAction.SPOC_QUEUE_LISTED,
            actor=actor.name,
            at=now,
            subject_type="spoc_queue",
            detail={"show": show, "mine": mine, "offset": offset, "shown": len(rows)},
        )
    )
    return rows, more


def queue_counts(session: Session, actor: Actor, today: dt.date) -> QueueCounts:
    """The actor's own unread and overdue counts (for the dashboard): numbers only."""
    _require(actor)
    return spoc_queue.counts(session, today, actor.name)


def open_item(session: Session, actor: Actor, now: dt.datetime, item_id: int) -> OpenedItem:
    """The item and its message as safe text; the first opening marks it read."""
    _require(actor)
    found = spoc_queue.item(session, item_id)
    if found is None:
        raise ItemNotFound(item_id)
    item, customer_ref = found
    first = item.read_at is None
    if first:
        item.read_at, item.read_by = now, actor.name
    session.add(
        item_audit(
            AuditAction.SPOC_ITEM_OPENED,
            actor.name,
            now,
            item.id,
            first_reading=first,
            customer_id=item.customer_id,
        )
    )
    return OpenedItem(item, customer_ref, readable(item.message), first)


def record_outcome(
    rt: Runtime,
    session: Session,
    actor: Actor,
    now: dt.datetime,
    item_id: int,
    choice: OutcomeChoice,
) -> SpocItem:
    """Record what was done with the item. A safeguarding referral goes through the
    safeguarding workflow: the alert the message raised, or a new urgent one (the
    safeguarding mailbox told at once), where the referral itself is then recorded."""
    _require(actor)
    choice = check_outcome(choice, rt.today(now))
    found = spoc_queue.item(session, item_id)
    if found is None:
        raise ItemNotFound(item_id)
    item = found[0]
    if item.read_at is None:  # recorded from the item's page, so it was read
        item.read_at, item.read_by = now, actor.name
    item.outcome, item.service, item.reply_due_on = (
        choice.outcome,
        choice.service,
        choice.reply_due_on,
    )
    item.note, item.outcome_at, item.outcome_by = choice.note, now, actor.name
    if choice.outcome is ItemOutcome.SAFEGUARDING and item.alert_id is None:
        item.alert_id = _safeguarding_alert(rt, session, actor, now, item)
    session.add(
        item_audit(
            AuditAction.SPOC_ITEM_OUTCOME,
            actor.name,
            now,
            item.id,
            outcome=choice.outcome.value,
            service=choice.service,
            reply_due_on=choice.reply_due_on.isoformat() if choice.reply_due_on else None,
            alert_id=item.alert_id,
        )
    )
    return item


def download_attachment(
    session: Session, actor: Actor, now: dt.datetime, item_id: int, index: int
) -> tuple[Attachment, bytes]:
    """One attachment's bytes, audited by item and name."""
    _require(actor)
    found = spoc_queue.item(session, item_id)
    attachment = attachment_bytes(found[0].message, index) if found else None
    if found is None or attachment is None:
        raise ItemNotFound(item_id)
    session.add(
        item_audit(
            AuditAction.SPOC_ATTACHMENT_DOWNLOADED,
            actor.name,
            now,
            item_id,
            attachment=attachment[0].filename,
        )
    )
    return attachment


def _safeguarding_alert(
    rt: Runtime, session: Session, actor: Actor, now: dt.datetime, item: SpocItem
) -> int:
    existing = spoc_queue.safeguarding_alert_for(session, item)
    if existing is not None:
        return existing.id
    alert = Alert(
        rule=SAFEGUARDING,
        urgent=True,
        status=AlertStatus.OPEN,
        customer_id=item.customer_id,
        summary=f"A SPOC reading an email ({item.restriction_ref}) found a safeguarding "
        "concern: a person must act now.",
        evidence={"queue_id": item.queue_id, "spoc_item": item.id, "raised_by": actor.name},
        opened_at=now,
    )
    notice_id = record_concern(
        rt,
        session,
        actor,
        now,
        alert,
        {"spoc_item": item.id},
        "Safeguarding concern: a SPOC found one in an email",
        lambda alert_id: (
            "A SPOC reading a customer's email found a safeguarding concern. A person must act "
            f"now and decide whether to refer it.\n\nOpen the alert: {alert_link(rt, alert_id)}"
            "\n\nThis notice leaves out who wrote and what they wrote: both are in the alert.\n"
        ),
    )
    session.info.setdefault("after_commit_notices", []).append(notice_id)
    return alert.id


def send_notices_raised(rt: Runtime, session: Session) -> None:
    """Deliver the notices record_outcome stored (call after its unit of work commits)."""
    queue_notices(rt, session.info.pop("after_commit_notices", []))
