"""The SQL of mail delivery: claiming due copies, recording outcomes, finished messages.

Delivery jobs run these as Core statements on the session's connection: a job is a few of
them, and ORM bookkeeping per copy would cost more than the database does. Each function
is one statement unless it says otherwise, so a job's round trips are counted here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session

from gateway.store.tables import MailDelivery, MailMessage
from routing.enums import DeliveryStatus
from routing.models import utcnow

DELIVERIES = MailDelivery.__table__
MESSAGES = MailMessage.__table__


@dataclass(frozen=True, slots=True)
class ClaimedCopy:
    """One claimed copy and what sending it needs, read in the same statement as the claim."""

    id: int
    target: str
    decision: str
    restriction_ref: str | None
    original_recipients: list[str]
    flags: list[str]
    notice: str | None
    queue_id: str
    envelope_from: str
    message_id: str | None  # the Message-ID header as stored (signed into X-CCR-Decision)


# --- claims ------------------------------------------------------------------------------------


def claim_due_copies(
    session: Session, message_ids: list[int], token: str, now: dt.datetime, until: dt.datetime
) -> list[ClaimedCopy]:
    """Claim these messages' due copies for `token` until `until`, and read them back.

    The claim is one statement, so a concurrent job gets none of the copies; a second
    statement reads what sending needs, only when something was claimed.
    """
    conn = session.connection()
    claimed = conn.scalars(
        update(DELIVERIES)
        .where(DELIVERIES.c.message_id.in_(message_ids), _due(now))
        .values(status=DeliveryStatus.SENDING, claimed_until=until, claimed_by=token)
        .returning(DELIVERIES.c.id)
    ).all()
    if not claimed:
        return []
    query = (
        select(
            MailDelivery.id,
            MailDelivery.target,
            MailDelivery.decision,
            MailDelivery.restriction_ref,
            MailDelivery.original_recipients,
            MailDelivery.flags,
            MailDelivery.notice,
            MailMessage.queue_id,
            MailMessage.envelope_from,
            MailMessage.header_message_id,
        )
        .join(MailMessage, MailDelivery.message_id == MailMessage.id)
        .where(MailDelivery.claimed_by == token, MailDelivery.status == DeliveryStatus.SENDING)
        .order_by(MailDelivery.id)
    )
    return [ClaimedCopy(*row) for row in conn.execute(query)]


def renew_claims(session: Session, token: str, until: dt.datetime) -> set[int]:
    """Extend `token`'s claim on the copies it still holds to `until`; their ids."""
    renewed = session.connection().scalars(
        update(DELIVERIES)
        .where(_held_by(token))
        .values(claimed_until=until)
        .returning(DELIVERIES.c.id)
    )
    return set(renewed)


def claimants_on_host(session: Session, host: str) -> list[str]:
    """The distinct claimants (host:pid:token...) on `host` holding copies being sent."""
    held = session.scalars(
        select(MailDelivery.claimed_by)
        .where(
            MailDelivery.status == DeliveryStatus.SENDING,
            MailDelivery.claimed_by.startswith(f"{host}:", autoescape=True),
        )
        .distinct()
    )
    return [claimed_by for claimed_by in held if claimed_by is not None]


def release_claims_of(session: Session, claimants: list[str], reason: str) -> int:
    """Make due again every copy these claimants hold; how many.

    By claimant, not by row: a copy another job claimed meanwhile stays with it.
    """
    return session.execute(
        update(MailDelivery)
        .where(
            MailDelivery.claimed_by.in_(claimants),
            MailDelivery.status == DeliveryStatus.SENDING,
        )
        .values(
            status=DeliveryStatus.PENDING,
            claimed_until=None,
            claimed_by=None,
            next_attempt_at=utcnow(),
            last_error=reason,
        )
    ).rowcount


# --- outcomes ----------------------------------------------------------------------------------


def record_sent(session: Session, token: str, delivery_ids: list[int]) -> int:
    """Mark these copies delivered, those `token` still holds; how many were."""
    return (
        session.connection()
        .execute(
            update(DELIVERIES)
            .where(DELIVERIES.c.id.in_(delivery_ids), _held_by(token))
            .values(**_delivered_now())
        )
        .rowcount
    )


def release_claims(session: Session, token: str) -> None:
    """Give back every copy `token` still holds: pending again, as due as before its claim."""
    session.connection().execute(
        update(DELIVERIES)
        .where(_held_by(token))
        .values(status=DeliveryStatus.PENDING, claimed_until=None, claimed_by=None)
    )


def mark_finished(session: Session, message_ids: list[int] | None = None) -> list[str]:
    """Mark messages every copy of which is delivered as having no spool file (among
    `message_ids`, or all); their queue ids."""
    unfinished = (
        select(MailDelivery.id)
        .where(
            MailDelivery.message_id == MailMessage.id,
            MailDelivery.status != DeliveryStatus.DELIVERED,
        )
        .exists()
    )
    finished = [MailMessage.spool_removed.is_(False), ~unfinished]
    if message_ids is not None:
        finished.append(MailMessage.id.in_(message_ids))
    marked = session.connection().scalars(
        update(MESSAGES).where(*finished).values(spool_removed=True).returning(MESSAGES.c.queue_id)
    )
    return list(marked)


# --- reading -----------------------------------------------------------------------------------


def due_message_ids(session: Session, now: dt.datetime, limit: int) -> Sequence[int]:
    """Up to `limit` messages with a copy due at `now` (pending, or its claim lapsed)."""
    return session.scalars(
        select(MailDelivery.message_id).where(_due(now)).distinct().limit(limit)
    ).all()


def queue_ids_kept(session: Session, queue_ids: Sequence[str]) -> set[str]:
    """Those of these queue ids whose stored message still needs its spool file."""
    return set(
        session.scalars(
            select(MailMessage.queue_id).where(
                MailMessage.queue_id.in_(queue_ids), MailMessage.spool_removed.is_(False)
            )
        )
    )


def dead_deliveries(session: Session) -> Sequence[MailDelivery]:
    """Every dead letter, oldest first."""
    query = (
        select(MailDelivery)
        .where(MailDelivery.status == DeliveryStatus.DEAD)
        .order_by(MailDelivery.id)
    )
    return session.scalars(query).all()


# --- conditions --------------------------------------------------------------------------------


def _held_by(token: str) -> ColumnElement[bool]:
    return (DELIVERIES.c.claimed_by == token) & (DELIVERIES.c.status == DeliveryStatus.SENDING)


def _due(now: dt.datetime) -> ColumnElement[bool]:
    pending = (MailDelivery.status == DeliveryStatus.PENDING) & (
        MailDelivery.next_attempt_at <= now
    )
    abandoned = (MailDelivery.status == DeliveryStatus.SENDING) & (MailDelivery.claimed_until < now)
    return or_(pending, abandoned)


def _delivered_now() -> dict[str, Any]:
    return {
        "status": DeliveryStatus.DELIVERED,
        "delivered_at": utcnow(),
        "claimed_until": None,
        "claimed_by": None,
        "attempts": DELIVERIES.c.attempts + 1,
        "last_error": None,
    }


# --- messages the gateway writes itself ---------------------------------------------------


def insert_notice(
    session: Session, queue_id: str, size: int, message_id: str, target: str, flags: list[str]
) -> int:
    """Record a notice the gateway wrote (already in the spool) as a message with one copy
    to deliver; returns the message's id."""
    conn = session.connection()
    now = utcnow()
    stored = conn.scalar(
        MESSAGES.insert()
        .values(
            queue_id=queue_id,
            received_at=now,
            envelope_from="",
            size=size,
            header_message_id=message_id,
            spool_removed=False,
        )
        .returning(MESSAGES.c.id)
    )
    conn.execute(
        DELIVERIES.insert().values(
            message_id=stored,
            target=target,
            original_recipients=[target],
            decision="deliver",
            flags=flags,
            status=DeliveryStatus.PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
    return stored
