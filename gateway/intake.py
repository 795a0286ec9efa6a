"""Mail intake: decide each recipient's outcome, store the message durably, record the
contacts, queue delivery. Runs on a worker thread; the SMTP handler only awaits the reply.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from gateway import repository
from gateway.bootstrap import Runtime
from gateway.smtp import replies
from gateway.smtp.message import MessageHead, read_head, routed_by_us, text_to_screen
from gateway.spool import Spool
from routing.content import ContentHints, scan_text
from routing.engine import Contact, Decision
from routing.enums import Channel, Outcome
from routing.identity import NormalisedIdentity, normalise_email
from routing.models import Alert, ContactEvent, MailDelivery, MailMessage, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IntakeResult:
    reply: str
    queue_id: str | None = None
    message_id: int | None = None


@dataclass
class _Route:
    """Everything going to one target mailbox from this message."""

    target: str
    decisions: list[tuple[str, Decision]] = field(default_factory=list)


class MailIntake:
    """Turns one received message into stored routing, or a precise refusal."""

    def __init__(self, rt: Runtime, spool: Spool) -> None:
        self._rt = rt
        self._spool = spool

    def receive(self, envelope_from: str, recipients: Sequence[str], data: bytes) -> IntakeResult:
        """Decide, persist and queue; any failure to store answers 451 so the sender retries."""
        now = utcnow()
        head = read_head(data)
        senders = self._sender_identities(envelope_from, head)
        decisions = self._decide_all(senders, recipients, head, data, now)
        if all(d.outcome is Outcome.REJECT for _, d in decisions):
            self._record_refusal(envelope_from, senders, decisions, now)
            return IntakeResult(replies.restricted(decisions[0][1].reject_message or ""))
        try:
            return self._store(envelope_from, senders, head, decisions, data, now)
        except Exception:
            log.exception("could not store an incoming message; answered 451")
            return IntakeResult(replies.TEMPORARY_FAILURE)

    def _sender_identities(
        self, envelope_from: str, head: MessageHead
    ) -> tuple[NormalisedIdentity, ...]:
        fold = self._rt.settings.fold_plus_addresses
        raw = [envelope_from, *head.sender_addresses]
        identities = [normalise_email(address, fold_plus=fold) for address in raw if address]
        unique = {i.value: i for i in identities if i.ok}
        return tuple(unique.values())

    def _decide_all(
        self,
        senders: tuple[NormalisedIdentity, ...],
        recipients: Sequence[str],
        head: MessageHead,
        data: bytes,
        now: dt.datetime,
    ) -> list[tuple[str, Decision]]:
        routed = routed_by_us(head, self._rt.settings.installation_id, self._rt.secret)
        hints = ContentHints(routed_by=self._rt.settings.installation_id if routed else None)
        decisions = self._decide(senders, recipients, hints, now)
        if any(d.restricted for _, d in decisions) and not routed:
            # Only mail a restriction touches is screened: the rest reaches its addressee as
            # written, who reads it. This keeps the common path free of MIME parsing.
            hints = scan_text(text_to_screen(data))
            decisions = self._decide(senders, recipients, hints, now)
        return decisions

    def _decide(
        self,
        senders: tuple[NormalisedIdentity, ...],
        recipients: Sequence[str],
        hints: ContentHints,
        now: dt.datetime,
    ) -> list[tuple[str, Decision]]:
        decisions = []
        for recipient in recipients:
            to = normalise_email(recipient).value or recipient.lower()
            contact = Contact(Channel.EMAIL, senders, to, now, hints=hints)
            decisions.append((to, self._rt.decide(contact)))
        return decisions

    def _store(
        self,
        envelope_from: str,
        senders: tuple[NormalisedIdentity, ...],
        head: MessageHead,
        decisions: list[tuple[str, Decision]],
        data: bytes,
        now: dt.datetime,
    ) -> IntakeResult:
        queue_id = Spool.new_queue_id()
        self._spool.store(queue_id, data)
        with self._rt.uow() as session:
            message = MailMessage(
                queue_id=queue_id,
                received_at=now,
                envelope_from=envelope_from,
                size=len(data),
                header_message_id=head.message_id,
            )
            session.add(message)
            for route in _routes(decisions, envelope_from):
                session.add(_delivery(message, route, now))
            self._record_contacts(session, queue_id, senders, decisions, now)
            session.flush()
            message_id = message.id
        self._queue_delivery(message_id)
        return IntakeResult(replies.queued(queue_id), queue_id, message_id)

    def _queue_delivery(self, message_id: int) -> None:
        from gateway.delivery import deliver_message

        try:
            self._rt.jobs.enqueue(deliver_message, message_id, job_id=f"deliver-{message_id}")
        except Exception:  # stored already: the sweep will find it when the queue is back
            log.warning("could not queue delivery of message %d; the sweep will", message_id)

    def _record_contacts(
        self,
        session: Session,
        queue_id: str,
        senders: tuple[NormalisedIdentity, ...],
        decisions: list[tuple[str, Decision]],
        now: dt.datetime,
    ) -> None:
        identity = repository.get_or_create_identity(session, senders[-1]) if senders else None
        for to, decision in decisions:
            event = _contact_event(queue_id, to, decision, now, identity)
            session.add(event)
            if decision.safeguarding:
                session.add(_safeguarding_alert(event, decision, identity, queue_id))

    def _record_refusal(
        self,
        envelope_from: str,
        senders: tuple[NormalisedIdentity, ...],
        decisions: list[tuple[str, Decision]],
        now: dt.datetime,
    ) -> None:
        try:
            with self._rt.uow() as session:
                refusal_id = f"refused-{Spool.new_queue_id()}"
                self._record_contacts(session, refusal_id, senders, decisions, now)
        except Exception:  # the refusal stands; only its record is missing, so say so
            log.exception("could not record a refused message")


def _routes(decisions: list[tuple[str, Decision]], envelope_from: str) -> list[_Route]:
    """Group the per-recipient decisions by the mailbox each copy goes to."""
    routes: dict[str, _Route] = {}
    for recipient, decision in decisions:
        targets = decision.deliver_to
        if decision.outcome is Outcome.REJECT and envelope_from:
            targets = (envelope_from,)  # a notice of the refusal goes back to the sender
        for target in targets:
            routes.setdefault(target, _Route(target)).decisions.append((recipient, decision))
    return list(routes.values())


def _delivery(message: MailMessage, route: _Route, now: dt.datetime) -> MailDelivery:
    decisions = [d for _, d in route.decisions]
    strongest = max(decisions, key=lambda d: d.restricted)
    outcome = strongest.would_outcome and f"{strongest.outcome}; would={strongest.would_outcome}"
    flags = sorted({f for d in decisions for f in _flags(d)})
    return MailDelivery(
        message=message,
        target=route.target,
        original_recipients=[r for r, _ in route.decisions],
        decision=outcome or str(strongest.outcome),
        restriction_ref=strongest.restriction.reference if strongest.restriction else None,
        flags=flags,
        notice=strongest.reject_message,
        next_attempt_at=now,
    )


def _flags(decision: Decision) -> list[str]:
    return [
        name
        for name, on in (("statutory", decision.statutory), ("safeguarding", decision.safeguarding))
        if on
    ]


def _contact_event(
    queue_id: str, to: str, decision: Decision, now: dt.datetime, identity: object
) -> ContactEvent:
    restriction = decision.restriction
    return ContactEvent(
        occurred_at=now,
        channel=Channel.EMAIL,
        source="smtp",
        source_key=f"{queue_id}:{to}"[:200],
        identity_id=getattr(identity, "id", None),
        customer_id=getattr(identity, "customer_id", None),
        from_value=getattr(identity, "value", None),
        to_value=to,
        restriction_id=restriction.id if restriction else None,
        outcome=decision.outcome,
        would_outcome=decision.would_outcome,
        mode=decision.mode,
        reasons=[hit.as_dict() for hit in decision.reasons],
        statutory=decision.statutory,
        safeguarding=decision.safeguarding,
    )


def _safeguarding_alert(
    event: ContactEvent, decision: Decision, identity: object, queue_id: str
) -> Alert:
    reference = decision.restriction.reference if decision.restriction else "no restriction"
    return Alert(
        rule="safeguarding",
        urgent=True,
        customer_id=getattr(identity, "customer_id", None),
        identity_id=getattr(identity, "id", None),
        summary=f"Email ({reference}) contains wording about harm to self or others: "
        "a person must read it now.",
        evidence={"queue_id": queue_id, "recipient": event.to_value},
    )
