"""Delivery of stored messages: claim, send with the routing headers, retry, dead-letter.

Jobs take a message id and are idempotent: a delivery is claimed before it is sent, so a
job that runs twice sends nothing twice; Maildir file names are fixed per delivery, so even
a crash between writing and recording cannot make a second copy there.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import smtplib
import socket
import ssl
import threading
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from gateway.bootstrap import Runtime, runtime
from gateway.smtp.message import decision_signature
from gateway.spool import Spool
from routing.enums import DeliveryStatus
from routing.models import AuditEntry, MailDelivery, MailMessage, utcnow

log = logging.getLogger(__name__)

CLAIM_SECONDS = 300
BACKOFF_MAX_SECONDS = 3600


class TemporaryFailure(Exception):
    """The downstream may accept later (4xx, connection trouble)."""


class PermanentFailure(Exception):
    """The downstream refused for good (5xx)."""


class Transport(Protocol):
    def send(self, envelope_from: str, target: str, data: bytes, delivery_id: int) -> None: ...


# --- jobs --------------------------------------------------------------------------------------


def deliver_message(message_id: int) -> int:
    """Deliver every due copy of one message; returns how many were delivered now."""
    rt = runtime()
    delivered = 0
    for delivery_id in claim_due(rt, message_id):
        delivered += attempt(rt, delivery_id)
    forget_if_done(rt, message_id)
    return delivered


def sweep_due_deliveries() -> int:
    """Queue delivery of stored messages that are due (after a crash, an outage, a back-off)."""
    rt = runtime()
    now = utcnow()
    with rt.session_factory() as session:
        message_ids = session.scalars(
            select(MailDelivery.message_id).where(_due(now)).distinct().limit(1000)
        ).all()
    for message_id in message_ids:
        rt.jobs.enqueue(deliver_message, message_id, job_id=f"deliver-{message_id}")
    return len(message_ids)


def _due(now: dt.datetime):
    pending = (MailDelivery.status == DeliveryStatus.PENDING) & (
        MailDelivery.next_attempt_at <= now
    )
    abandoned = (MailDelivery.status == DeliveryStatus.SENDING) & (MailDelivery.claimed_until < now)
    return or_(pending, abandoned)


def claim_due(rt: Runtime, message_id: int) -> list[int]:
    """Claim this message's due deliveries; a concurrent job claims none of the same ones."""
    now = utcnow()
    with rt.uow() as session:
        candidates = session.scalars(
            select(MailDelivery.id).where(MailDelivery.message_id == message_id, _due(now))
        ).all()
        return [delivery_id for delivery_id in candidates if _claim(session, delivery_id, now)]


def _claim(session: Session, delivery_id: int, now: dt.datetime) -> bool:
    claimed = session.execute(
        update(MailDelivery)
        .where(MailDelivery.id == delivery_id, _due(now))
        .values(
            status=DeliveryStatus.SENDING, claimed_until=now + dt.timedelta(seconds=CLAIM_SECONDS)
        )
    )
    return claimed.rowcount == 1


def attempt(rt: Runtime, delivery_id: int) -> int:
    """Send one claimed delivery and record how it went; returns 1 if delivered."""
    with rt.session_factory() as session:
        delivery = session.get(MailDelivery, delivery_id)
        assert delivery is not None
        message = delivery.message
        envelope_from, target, queue_id = message.envelope_from, delivery.target, message.queue_id
        data = _with_routing_headers(rt, delivery, message)
    try:
        transport(rt).send(envelope_from, target, data, delivery_id)
    except PermanentFailure as exc:
        _record_failure(rt, delivery_id, str(exc), permanent=True)
        return 0
    except (TemporaryFailure, OSError) as exc:
        _record_failure(rt, delivery_id, str(exc) or type(exc).__name__, permanent=False)
        return 0
    _record_success(rt, delivery_id)
    log.debug("delivered %s copy %d", queue_id, delivery_id)
    return 1


def _record_success(rt: Runtime, delivery_id: int) -> None:
    with rt.uow() as session:
        session.execute(
            update(MailDelivery)
            .where(MailDelivery.id == delivery_id)
            .values(
                status=DeliveryStatus.DELIVERED,
                delivered_at=utcnow(),
                claimed_until=None,
                attempts=MailDelivery.attempts + 1,
                last_error=None,
            )
        )


def _record_failure(rt: Runtime, delivery_id: int, error: str, *, permanent: bool) -> None:
    now = utcnow()
    with rt.uow() as session:
        delivery = session.get(MailDelivery, delivery_id)
        assert delivery is not None
        delivery.attempts += 1
        delivery.last_error = error[:1000]
        delivery.claimed_until = None
        lifetime = dt.timedelta(hours=rt.settings.delivery_lifetime_hours)
        expired = now - delivery.message.received_at >= lifetime
        if permanent or expired:
            delivery.status = DeliveryStatus.DEAD
            delivery.last_error = ("expired: " if expired and not permanent else "") + error[:990]
            log.warning(
                "delivery %d is a dead letter after %d attempt(s)", delivery_id, delivery.attempts
            )
        else:
            delivery.status = DeliveryStatus.PENDING
            delivery.next_attempt_at = now + backoff(
                delivery.attempts, rt.settings.delivery_retry_seconds
            )


def backoff(attempts: int, first_seconds: float) -> dt.timedelta:
    """Exponential back-off: first, twice that, four times ... at most an hour apart."""
    seconds = min(first_seconds * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS)
    return dt.timedelta(seconds=seconds)


def forget_if_done(rt: Runtime, message_id: int) -> None:
    """Remove the spool file once every copy of the message has been delivered."""
    with rt.uow() as session:
        message = session.get(MailMessage, message_id)
        if message is None or message.spool_removed:
            return
        if all(d.status is DeliveryStatus.DELIVERED for d in message.deliveries):
            message.spool_removed = True
            session.flush()
            spool(rt).remove(message.queue_id)


def retry_dead_letter(rt: Runtime, delivery_id: int, *, actor: str) -> MailDelivery:
    """Put a dead letter back in the queue (a person decided to try again)."""
    with rt.uow() as session:
        delivery = session.get(MailDelivery, delivery_id)
        if delivery is None or delivery.status is not DeliveryStatus.DEAD:
            raise LookupError(f"no dead letter with id {delivery_id}")
        delivery.status = DeliveryStatus.PENDING
        delivery.next_attempt_at = utcnow()
        # A fresh lifetime: retried mail is counted from the retry, not from its arrival.
        delivery.message.received_at = utcnow()
        session.add(
            AuditEntry(
                actor=actor,
                action="mail.retried",
                subject_type="delivery",
                subject_ref=str(delivery_id),
                detail={},
            )
        )
        message_id = delivery.message_id
    rt.jobs.enqueue(deliver_message, message_id, job_id=f"deliver-{message_id}")
    return delivery


def dead_letters(rt: Runtime) -> Sequence[MailDelivery]:
    with rt.session_factory() as session:
        query = (
            select(MailDelivery)
            .where(MailDelivery.status == DeliveryStatus.DEAD)
            .order_by(MailDelivery.id)
        )
        found = session.scalars(query).all()
        for delivery in found:
            _ = delivery.message.queue_id  # load for the caller
        return found


# --- what is sent ------------------------------------------------------------------------------


def _with_routing_headers(rt: Runtime, delivery: MailDelivery, message: MailMessage) -> bytes:
    original = spool(rt).read(message.queue_id)
    if delivery.decision == "reject":
        return _refusal_notice(rt, delivery, message, original)
    return routing_headers(rt, delivery, message.queue_id) + original


def routing_headers(rt: Runtime, delivery: MailDelivery, queue_id: str) -> bytes:
    """The X-CCR-* headers put in front of the original, untouched message."""
    installation = rt.settings.installation_id
    signature = decision_signature(rt.secret, queue_id)
    lines = [
        f"X-CCR-Decision: {delivery.decision}; by={installation}; id={queue_id}; sig={signature}",
        f"X-CCR-Restriction: {delivery.restriction_ref or 'none'}",
        f"X-CCR-Original-Recipients: {', '.join(delivery.original_recipients)}",
    ]
    if delivery.flags:
        lines.append(f"X-CCR-Flags: {', '.join(delivery.flags)}")
    return "".join(line + "\r\n" for line in lines).encode("ascii", errors="replace")


def _refusal_notice(
    rt: Runtime, delivery: MailDelivery, message: MailMessage, original: bytes
) -> bytes:
    """A plain notice to the sender that some recipients were refused (the rest went on)."""
    notice = EmailMessage()
    domain = rt.settings.accepted_domains[0]
    notice["From"] = f"Mail Delivery System <mailer-daemon@{domain}>"
    notice["To"] = delivery.target
    notice["Subject"] = "Your message was not delivered to some recipients"
    notice["Date"] = formatdate(localtime=False)
    notice["Message-ID"] = make_msgid(domain=domain)
    notice["Auto-Submitted"] = "auto-replied"
    notice.set_content(
        "Your message was not delivered to: "
        + ", ".join(delivery.original_recipients)
        + ".\n\n"
        + (delivery.notice or "")
        + "\n\nThe original message is not attached.\n"
    )
    crlf = notice.policy.clone(linesep="\r\n")
    return routing_headers(rt, delivery, message.queue_id) + notice.as_bytes(policy=crlf)


# --- transports --------------------------------------------------------------------------------


_transports: dict[str, Transport] = {}
_transports_lock = threading.Lock()


def transport(rt: Runtime) -> Transport:
    """The process's transport for the configured downstream."""
    key = rt.settings.downstream
    with _transports_lock:
        if key not in _transports:
            _transports[key] = make_transport(rt)
        return _transports[key]


def make_transport(rt: Runtime) -> Transport:
    downstream = rt.settings.downstream
    if downstream.startswith("maildir:"):
        return MaildirTransport(Path(downstream.removeprefix("maildir:")))
    parts = urlsplit(downstream)
    assert parts.hostname and parts.port
    return SmtpTransport(
        parts.hostname,
        parts.port,
        rt.settings.smtp_hostname,
        starttls=rt.settings.downstream_starttls,
    )


def spool(rt: Runtime) -> Spool:
    return Spool(rt.settings.spool_dir)


class MaildirTransport:
    """One Maildir per recipient; tmp then new, with a file name fixed per delivery."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def send(self, envelope_from: str, target: str, data: bytes, delivery_id: int) -> None:
        folder = self.root / _safe_folder(target)
        for sub in ("tmp", "new", "cur"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        name = f"ccr-{delivery_id}.{socket.gethostname()}"
        final = folder / "new" / name
        if final.exists():
            return  # delivered before a crash stopped us recording it
        temporary = folder / "tmp" / name
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(temporary, final)
        descriptor = os.open(folder / "new", os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _safe_folder(address: str) -> str:
    # Addresses are normalised already; never let one climb out of the Maildir root.
    return address.replace("/", "_").replace("\\", "_").lstrip(".") or "_"


class SmtpTransport:
    """SMTP to the downstream server, one reused connection per worker thread."""

    def __init__(self, host: str, port: int, local_hostname: str, *, starttls: bool) -> None:
        self.host, self.port, self.local_hostname, self.starttls = (
            host,
            port,
            local_hostname,
            starttls,
        )
        self._local = threading.local()

    def send(self, envelope_from: str, target: str, data: bytes, delivery_id: int) -> None:
        try:
            self._send_once(envelope_from, target, data)
        except smtplib.SMTPServerDisconnected:
            self._drop()
            self._send_once(envelope_from, target, data)  # a reused connection had gone stale

    def _send_once(self, envelope_from: str, target: str, data: bytes) -> None:
        connection = self._connection()
        try:
            refused = connection.sendmail(envelope_from, [target], data)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise _failure(code, text) from None
        except smtplib.SMTPResponseException as exc:
            self._reset(connection)
            raise _failure(exc.smtp_code, exc.smtp_error) from None
        if refused:
            code, text = next(iter(refused.values()))
            raise _failure(code, text)

    def _connection(self) -> smtplib.SMTP:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = smtplib.SMTP(
                self.host, self.port, local_hostname=self.local_hostname, timeout=60
            )
            connection.ehlo()
            if self.starttls and connection.has_extn("starttls"):
                connection.starttls(context=ssl.create_default_context())
                connection.ehlo()
            self._local.connection = connection
        return connection

    def _reset(self, connection: smtplib.SMTP) -> None:
        try:
            connection.rset()
        except smtplib.SMTPException:
            self._drop()

    def _drop(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            with contextlib.suppress(OSError):
                connection.close()


def _failure(code: int, text: bytes | str) -> Exception:
    message = f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"
    return PermanentFailure(message) if 500 <= code < 600 else TemporaryFailure(message)
