"""Mail intake: decide each recipient's outcome, store the message durably, record the
contacts, queue delivery.

Deciding happens on the caller's thread. Storing goes through one writer thread that
commits whatever messages are waiting in a single transaction (group commit): each
message's file is fsync'd and its rows committed before its sender hears 250, but many
senders share one commit, which is what makes the gateway fast. On PostgreSQL a batch is
one statement; elsewhere, a few Core statements (both in gateway.store.intake_statement).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from gateway.mail import replies
from gateway.mail.message import (
    MessageHead,
    read_head,
    read_subject,
    routed_by_us,
    signed_message_id,
    text_to_screen,
)
from gateway.mail.notices import alert_link, queue_notices, store_notice
from gateway.mail.spool import Spool
from gateway.runtime import Runtime
from gateway.store import intake_statement, repository, spoc_queue
from gateway.store.repository import StoredIdentity
from routing.content import ContentHints, scan_text
from routing.engine import Contact, Decision
from routing.enums import AlertStatus, Channel, DeliveryStatus, Direction, Outcome
from routing.fingerprint import ContentFacts, read_content
from routing.identity import NormalisedIdentity, normalise_email
from routing.models import utcnow
from routing.spoc import QueuedFor, due_on, items_for

log = logging.getLogger(__name__)

BATCH_LIMIT = 200
NO_CONTENT = ContentFacts(fingerprint=None, statutory=False)


@dataclass(frozen=True, slots=True)
class IntakeResult:
    reply: str
    queue_id: str | None = None
    message_id: int | None = None


@dataclass
class Prepared:
    """A decided message waiting to be stored."""

    envelope_from: str
    senders: tuple[NormalisedIdentity, ...]
    person: NormalisedIdentity | None
    head: MessageHead
    decisions: list[tuple[str, Decision]]
    data: bytes
    received_at: dt.datetime
    queue_id: str = field(default_factory=Spool.new_queue_id)
    # Contact volume: the content's fingerprint and statutory wording, and the contact
    # events stored for the message (evaluated once its sender has had the reply).
    content: ContentFacts = NO_CONTENT
    event_ids: list[int] = field(default_factory=list)
    # Safeguarding alerts raised for the message, and the notices telling the safeguarding
    # mailbox of each (stored with them).
    alert_ids: list[int] = field(default_factory=list)
    notice_ids: list[int] = field(default_factory=list)
    # Items for the SPOC's queue (rows of spoc_items), stored in the message's transaction.
    spoc_items: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Route:
    """Everything going to one target mailbox from this message, or the notice to the
    sender that some recipients refused it."""

    target: str
    decisions: list[tuple[str, Decision]] = field(default_factory=list)
    notice: bool = False


class MailIntake:
    """Turns one received message into stored routing, or a precise refusal."""

    def __init__(self, rt: Runtime, spool: Spool) -> None:
        self._rt = rt
        self._spool = spool
        self._writer = _GroupCommitWriter(rt, spool)

    def prepare(
        self, envelope_from: str, recipients: Sequence[str], data: bytes
    ) -> Prepared | IntakeResult:
        """Decide every recipient; a message refused for all of them is answered at once."""
        now = utcnow()
        head = read_head(data)
        senders, person = self._sender_identities(envelope_from, head)
        decisions = self._decide_all(senders, recipients, head, data, now)
        prepared = Prepared(envelope_from, senders, person, head, decisions, data, now)
        prepared.content = _read_content(data)
        prepared.spoc_items = self._queue_items(prepared)
        try:
            # Here, on the intake threads, so that many files are fsync'd at once; the
            # writer syncs their directory once per batch before committing.
            self._spool.write(prepared.queue_id, data)
        except OSError:
            log.exception("could not write an incoming message to the spool; answered 451")
            return IntakeResult(replies.TEMPORARY_FAILURE)
        return prepared

    def store(self, prepared: Prepared) -> Future[IntakeResult]:
        """Hand the message to the writer; the future gives the reply once it is durable."""
        return self._writer.submit(prepared)

    def close(self) -> None:
        self._writer.stop()

    def _queue_items(self, prepared: Prepared) -> list[dict[str, Any]]:
        """The SPOC queue's items for a message a restriction redirected, copied, filed or
        refused; built here, on the caller's thread, so the writer only inserts them."""
        queued = items_for(prepared.decisions)
        if not queued:
            return []
        subject = read_subject(prepared.data)[:500]
        received_on = self._rt.today(prepared.received_at)
        due = due_on(received_on, self._rt.settings.spoc_response_days)
        return [_queue_item_row(prepared, q, subject, due) for q in queued]

    def _sender_identities(
        self, envelope_from: str, head: MessageHead
    ) -> tuple[tuple[NormalisedIdentity, ...], NormalisedIdentity | None]:
        fold = self._rt.settings.fold_plus_addresses
        envelope = [normalise_email(envelope_from, fold_plus=fold)] if envelope_from else []
        headers = [normalise_email(a, fold_plus=fold) for a in head.sender_addresses if a]
        unique = {i.value: i for i in [*envelope, *headers] if i.ok}
        # The person is who the From header names (then Sender, Reply-To); a bounce or list
        # address, or the null sender of an auto-reply, is only the envelope.
        person = next((i for i in [*headers, *envelope] if i.ok), None)
        return tuple(unique.values()), person

    def _decide_all(
        self,
        senders: tuple[NormalisedIdentity, ...],
        recipients: Sequence[str],
        head: MessageHead,
        data: bytes,
        now: dt.datetime,
    ) -> list[tuple[str, Decision]]:
        routed = routed_by_us(
            head,
            data,
            recipients,
            self._rt.settings.installation_id,
            self._rt.secret,
            now.timestamp(),
        )
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
        # A mailbox named twice (perhaps in different case) is one recipient, one copy.
        for to in dict.fromkeys(normalise_email(r).value or r.lower() for r in recipients):
            contact = Contact(Channel.EMAIL, senders, to, now, hints=hints)
            decisions.append((to, self._rt.decide(contact)))
        return decisions


class _GroupCommitWriter:
    """One thread that stores messages in batches: files fsync'd, rows in one transaction."""

    def __init__(self, rt: Runtime, spool: Spool) -> None:
        self._rt = rt
        self._spool = spool
        self._queue: queue.Queue[tuple[Prepared, Future[IntakeResult]] | None] = queue.Queue()
        self._one_statement = rt.engine.dialect.name == "postgresql"
        self._thread = threading.Thread(target=self._run, name="ccr-intake-writer", daemon=True)
        self._thread.start()

    def submit(self, prepared: Prepared) -> Future[IntakeResult]:
        future: Future[IntakeResult] = Future()
        self._queue.put((prepared, future))
        return future

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            live = self._still_awaited(batch)
            try:
                self._write(live)
            except Exception as exc:  # never let this thread die: every later sender would hang
                log.error("intake writer failed (%s); answered 451", _kind(exc))
            _answer_the_rest(live, IntakeResult(replies.TEMPORARY_FAILURE))

    def _still_awaited(
        self, batch: list[tuple[Prepared, Future[IntakeResult]]]
    ) -> list[tuple[Prepared, Future[IntakeResult]]]:
        """Drop messages whose sender went away before an answer: they were never accepted."""
        live = []
        for prepared, future in batch:
            if future.set_running_or_notify_cancel():
                live.append((prepared, future))
            else:
                self._forget_file(prepared.queue_id)
        return live

    def _next_batch(self) -> list[tuple[Prepared, Future[IntakeResult]]] | None:
        first = self._queue.get()
        if first is None:
            return None
        batch = [first]
        while len(batch) < BATCH_LIMIT:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self._queue.put(None)  # stop after this batch
                break
            batch.append(item)
        return batch

    def _write(self, batch: list[tuple[Prepared, Future[IntakeResult]]]) -> list[int]:
        """Store the batch and answer each sender; returns the ids of the stored messages."""
        if not batch:
            return []
        try:
            results = self._store([prepared for prepared, _ in batch])
        except (IntegrityError, DataError, ValueError) as exc:
            # ValueError: a value the driver cannot encode (UnicodeEncodeError, say).
            if len(batch) > 1:
                # One message the database refuses must not cost the others their 250.
                return [i for item in batch for i in self._write([item])]
            log.error("could not store an incoming message (%s); answered 451", _kind(exc))
            self._forget_file(batch[0][0].queue_id)
            return []
        except (SQLAlchemyError, OSError) as exc:
            # The database or the disk is unavailable: every sender hears 451 now and
            # retries later, rather than waiting while the batch is tried piece by piece.
            log.error("could not store %d message(s) (%s); answered 451", len(batch), _kind(exc))
            for prepared, _ in batch:
                self._forget_file(prepared.queue_id)
            return []
        message_ids = [result.message_id for result in results if result.message_id is not None]
        # Queued before the 250s, so a sender's 250 means its delivery is on its way; the
        # queue's timeouts bound the wait, and the sweep covers a failed enqueue.
        self._queue_delivery(message_ids)
        self._rt.contacts_recorded([i for p, _ in batch for i in p.event_ids])
        for (_, future), result in zip(batch, results, strict=True):
            future.set_result(result)
        queue_notices(self._rt, [i for p, _ in batch for i in p.notice_ids])
        return message_ids

    def _tell_safeguarding(self, session: Session, batch: list[Prepared]) -> None:
        """The safeguarding mailbox hears of each concern at once (when, where the message
        went and a link to the alert; never the sender or the words), in the transaction
        that raises the alert: no alert without its notice."""
        for prepared in batch:
            prepared.notice_ids = [
                store_notice(
                    self._rt,
                    session,
                    self._rt.settings.safeguarding_mailbox,
                    "Safeguarding concern: a person must read an email now",
                    safeguarding_notice_text(self._rt, alert_id, prepared),
                    flags=["safeguarding"],
                )
                for alert_id in prepared.alert_ids
            ]

    def _forget_file(self, queue_id: str) -> None:
        with contextlib.suppress(OSError):
            self._spool.remove(queue_id)

    def _store(self, batch: list[Prepared]) -> list[IntakeResult]:
        self._spool.sync()
        message_ids = self._store_in_one_statement(batch) if self._one_statement else None
        if message_ids is None:
            with self._rt.uow() as session:
                identities = repository.ensure_identities(session, _people(batch))
                message_ids = _insert_messages(session, batch, identities)
                _insert_queue_items(session, batch)
                self._tell_safeguarding(session, batch)
        return [
            IntakeResult(_stored_reply(p), p.queue_id, message_id)
            for p, message_id in zip(batch, message_ids, strict=True)
        ]

    def _store_in_one_statement(self, batch: list[Prepared]) -> list[int] | None:
        """PostgreSQL: the batch in one statement (see gateway.store.intake_statement); None when
        the general path must store it instead: an alert to raise, a value the statement's
        JSON cannot carry, or a sender's identity made meanwhile by another process."""
        if any(d.safeguarding for p in batch for _, d in p.decisions):
            return None
        try:
            with self._rt.uow() as session:
                message_ids = _insert_in_one_statement(session, batch)
                _insert_queue_items(session, batch)
                return message_ids
        except (_NotForOneStatement, DataError) as exc:
            # The class only: a DataError's text can quote the batch's personal data.
            log.debug("batch stored by the general path (%s)", type(exc).__name__)
            return None

    def _queue_delivery(self, message_ids: list[int]) -> None:
        from gateway.mail.delivery import deliver_messages

        job_id = f"deliver-{message_ids[0]}-{message_ids[-1]}"
        try:
            self._rt.jobs.enqueue(deliver_messages, message_ids, job_id=job_id)
        except Exception:  # stored already: the sweep will find it when the queue is back
            log.warning(
                "could not queue delivery of %d message(s); the sweep will", len(message_ids)
            )


def _answer_the_rest(
    batch: list[tuple[Prepared, Future[IntakeResult]]], result: IntakeResult
) -> None:
    for _, future in batch:
        if not future.done():
            future.set_result(result)


def _kind(exc: BaseException) -> str:
    # The class only: SQL errors carry the statement's parameters, which are personal data.
    return type(exc.__cause__ or exc).__name__


def _people(batch: list[Prepared]) -> list[NormalisedIdentity]:
    return [p.person for p in batch if p.person is not None]


def _insert_messages(
    session: Session, batch: list[Prepared], identities: dict[str, StoredIdentity]
) -> list[int]:
    """Insert the batch's messages, their deliveries and contacts: a few statements in all.

    Rows go in as plain values through Core (executemany), not through the ORM: at hundreds
    of messages a second its bookkeeping would cost more than the database does.
    """
    conn = session.connection()
    message_ids = intake_statement.insert_messages(conn, [_message_row(p) for p in batch])
    deliveries = [
        _delivery_row(message_id, route, p.received_at)
        for p, message_id in zip(batch, message_ids, strict=True)
        for route in _routes(p.decisions, p.envelope_from)
    ]
    intake_statement.insert_deliveries(conn, deliveries)
    _insert_contacts(session, batch, identities)
    return message_ids


class _NotForOneStatement(Exception):
    """The general path must store this batch: a sender's identity created by another
    process after the statement began, or a batch without deliveries or contacts."""


def _insert_in_one_statement(session: Session, batch: list[Prepared]) -> list[int]:
    """The same rows as _insert_messages, sent as one statement (PostgreSQL only)."""
    messages, deliveries, events = [], [], []
    for p in batch:
        messages.append(_message_row(p))
        for route in _routes(p.decisions, p.envelope_from):
            delivery = _delivery_row(0, route, p.received_at)
            del delivery["message_id"]
            deliveries.append({**delivery, "queue_id": p.queue_id})
        for to, decision in p.decisions:
            event = _contact_event_row(p.queue_id, to, decision, p.received_at, None)
            _add_content(event, p.content)
            events.append({**event, "person": p.person.value if p.person else None})
    if not deliveries or not events:
        raise _NotForOneStatement  # never so today: every stored message has both
    stored = intake_statement.store_batch(
        session.connection(), messages, deliveries, events, utcnow()
    )
    if {e["person"] for e in events if e["person"]} - stored.linked_senders:
        # Its row is not visible to the statement's snapshot: roll back, and the general
        # path (which looks again after inserting) links it.
        raise _NotForOneStatement
    _remember_event_ids(batch, [stored.event_ids[e["source_key"]] for e in events])
    return [stored.message_ids[p.queue_id] for p in batch]


def _insert_queue_items(session: Session, batch: list[Prepared]) -> None:
    """The SPOC queue's items, in the transaction that stores their messages: a 250 (or a
    550 for a refusal) means a person will read it."""
    spoc_queue.insert_items(session.connection(), [row for p in batch for row in p.spoc_items])


def _queue_item_row(p: Prepared, queued: QueuedFor, subject: str, due: dt.date) -> dict[str, Any]:
    sender = p.person.value if p.person and p.person.value else p.envelope_from
    return {
        "queue_id": p.queue_id,
        "received_at": p.received_at,
        "customer_id": queued.customer_id,
        "restriction_ref": queued.restriction_ref,
        "spoc_email": queued.spoc_email,
        "decision": str(queued.outcome),
        "sender": _printable(sender or "")[:320],
        "addressed_to": list(queued.addressed_to),
        "subject": _printable(subject),
        "message": p.data,
        "size": len(p.data),
        "due_on": due,
        "read_at": None,
        "read_by": None,
        "outcome": None,
        "service": None,
        "reply_due_on": None,
        "note": None,
        "alert_id": None,
        "outcome_at": None,
        "outcome_by": None,
    }


def _message_row(p: Prepared) -> dict[str, Any]:
    return {
        "queue_id": p.queue_id,
        "received_at": p.received_at,
        "envelope_from": _printable(p.envelope_from)[:320],
        "size": len(p.data),
        "header_message_id": signed_message_id(p.head.message_id) or None,
        "spool_removed": False,
    }


def _insert_contacts(
    session: Session, batch: list[Prepared], identities: dict[str, StoredIdentity]
) -> None:
    events: list[dict[str, Any]] = []
    alerts: list[tuple[Prepared, dict[str, Any]]] = []
    for p in batch:
        p.alert_ids = []  # a batch split after a failure is stored again
        identity = identities.get(p.person.value) if p.person and p.person.value else None
        for to, decision in p.decisions:
            event = _contact_event_row(p.queue_id, to, decision, p.received_at, identity)
            _add_content(event, p.content)
            events.append(event)
            if decision.safeguarding and not alerts_for(p, alerts):
                alerts.append((p, _safeguarding_alert_row(event, decision, identity, p)))
    conn = session.connection()
    if events:
        _remember_event_ids(batch, intake_statement.insert_contact_events(conn, events))
    alert_ids = intake_statement.insert_alerts(conn, [row for _, row in alerts])
    for (p, _), alert_id in zip(alerts, alert_ids, strict=True):
        p.alert_ids.append(alert_id)


def alerts_for(p: Prepared, alerts: list[tuple[Prepared, dict[str, Any]]]) -> bool:
    # One alert per message, however many of its recipients it was addressed to.
    return any(prepared is p for prepared, _ in alerts)


def _read_content(data: bytes) -> ContentFacts:
    try:
        return read_content(data)
    except Exception:  # counting must never cost a message its delivery
        log.error("could not read a message's content for contact volume")
        return NO_CONTENT


def _add_content(event: dict[str, Any], content: ContentFacts) -> None:
    """For contact volume: the content's fingerprint, and statutory wording found in the
    opening of mail no restriction touched (such mail is not screened for routing: see
    _decide_all), so that a statutory request is never counted, restricted or not."""
    event["content_hash"] = content.fingerprint
    event["statutory"] = event["statutory"] or content.statutory


def _remember_event_ids(batch: list[Prepared], event_ids: list[int]) -> None:
    """Give each message the ids of its contact events (inserted in batch order)."""
    remaining = iter(event_ids)
    for p in batch:
        p.event_ids = [next(remaining) for _ in p.decisions]


def _printable(text: str) -> str:
    # Headers and envelopes can carry NUL and control bytes; the database must not choke.
    return "".join(ch for ch in text if ch.isprintable())


def _refused_outright(prepared: Prepared) -> bool:
    return all(d.outcome is Outcome.REJECT for _, d in prepared.decisions)


def _stored_reply(prepared: Prepared) -> str:
    """250 once stored; a message refused for every recipient hears 550 naming the permitted
    channel, but only once it is stored for the person who reads refused mail."""
    if _refused_outright(prepared):
        return replies.restricted(prepared.decisions[0][1].reject_message or "")
    return replies.queued(prepared.queue_id)


def _routes(decisions: list[tuple[str, Decision]], envelope_from: str) -> list[_Route]:
    """Group the per-recipient decisions by the mailbox each copy goes to."""
    routes: dict[tuple[str, bool], _Route] = {}
    partly_refused = not all(d.outcome is Outcome.REJECT for _, d in decisions)
    for recipient, decision in decisions:
        targets = [(target, False) for target in decision.deliver_to]
        if decision.outcome is Outcome.REJECT and envelope_from and partly_refused:
            # A notice of the refusal goes back to the sender (a 550 says it when the
            # whole message is refused).
            targets.append((envelope_from, True))
        for target, notice in targets:
            route = routes.setdefault((target, notice), _Route(target, notice=notice))
            route.decisions.append((recipient, decision))
    return list(routes.values())


def _delivery_row(message_id: int, route: _Route, now: dt.datetime) -> dict[str, Any]:
    decisions = [d for _, d in route.decisions]
    strongest = max(decisions, key=lambda d: d.restricted)
    outcome = strongest.would_outcome and f"{strongest.outcome}; would={strongest.would_outcome}"
    return {
        "message_id": message_id,
        "target": route.target,
        "original_recipients": [r for r, _ in route.decisions],
        "decision": outcome or str(strongest.outcome),
        "restriction_ref": strongest.restriction.reference if strongest.restriction else None,
        "flags": sorted({f for d in decisions for f in _flags(d)}),
        "notice": strongest.reject_message if route.notice else None,
        "status": DeliveryStatus.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def _flags(decision: Decision) -> list[str]:
    return [
        name
        for name, on in (("statutory", decision.statutory), ("safeguarding", decision.safeguarding))
        if on
    ]


def _contact_event_row(
    queue_id: str, to: str, decision: Decision, now: dt.datetime, identity: StoredIdentity | None
) -> dict[str, Any]:
    restriction = decision.restriction
    return {
        "occurred_at": now,
        "channel": Channel.EMAIL,
        "direction": Direction.INBOUND,
        "source": "smtp",
        "source_key": f"{queue_id}:{to}"[:200],
        "identity_id": identity.id if identity else None,
        "customer_id": restriction.customer_id
        if restriction
        else (identity.customer_id if identity else None),
        "from_value": identity.value if identity else None,
        "to_value": to,
        "restriction_id": restriction.id if restriction else None,
        "outcome": decision.outcome,
        "would_outcome": decision.would_outcome,
        "mode": decision.mode,
        "reasons": [hit.as_dict() for hit in decision.reasons],
        "statutory": decision.statutory,
        "safeguarding": decision.safeguarding,
        "duration_seconds": None,
        "content_hash": None,
        "created_at": now,
    }


def _safeguarding_alert_row(
    event: dict[str, Any], decision: Decision, identity: StoredIdentity | None, p: Prepared
) -> dict[str, Any]:
    reference = decision.restriction.reference if decision.restriction else "no restriction"
    why = next((hit.reason for hit in decision.reasons if hit.rule == "safeguarding"), "")
    return {
        "rule": "safeguarding",
        "urgent": True,
        "status": AlertStatus.OPEN,
        "customer_id": event["customer_id"],
        "identity_id": identity.id if identity else None,
        "summary": f"Email ({reference}) contains wording about harm to self or others: "
        "a person must read it now.",
        # Where the message went, so whoever acts can open it at once.
        "evidence": {
            "queue_id": p.queue_id,
            "recipients": [to for to, _ in p.decisions],
            "delivered_to": sorted({t for _, d in p.decisions for t in d.deliver_to}),
            "why": why,
        },
        "opened_at": event["occurred_at"],
    }


def safeguarding_notice_text(rt: Runtime, alert_id: int, prepared: Prepared) -> str:
    received = prepared.received_at.astimezone(rt.timezone).strftime("%d %B %Y at %H:%M")
    went_to = sorted({t for _, d in prepared.decisions for t in d.deliver_to})
    return (
        f"An email received on {received} contains wording about harm to the sender or "
        "to others. A person must read it now and decide whether to refer it.\n\n"
        f"It was delivered to: {', '.join(went_to) or 'nobody (see the alert)'}.\n\n"
        f"Open the alert to record what was done: {alert_link(rt, alert_id)}\n\n"
        "This notice leaves out who wrote and what they wrote: both are in the alert.\n"
    )
