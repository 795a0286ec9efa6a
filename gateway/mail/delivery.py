"""Delivery of stored messages: claim, send with the routing headers, retry, dead-letter.

Jobs take a message id and are idempotent: a delivery is claimed before it is sent, so a
job that runs twice sends nothing twice; Maildir file names are fixed per delivery, so even
a crash between writing and recording cannot make a second copy there.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import os
import re
import secrets
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from rq.timeouts import BaseTimeoutException
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from gateway.jobs.queue import mergeable
from gateway.mail.message import decision_signature
from gateway.mail.spool import Spool
from gateway.runtime import Runtime, runtime
from gateway.smtp.protocol import PLAIN_ADDRESS
from routing.audit import AuditAction, audit_entry
from routing.enums import DeliveryStatus
from routing.models import MailDelivery, MailMessage, utcnow

log = logging.getLogger(__name__)
DELIVERIES = MailDelivery.__table__
MESSAGES = MailMessage.__table__

# Long enough for the slowest single send (smtplib allows 60 s per step of a transaction).
CLAIM_SECONDS = 900
# Copies sent, or seconds passed, between two records of progress: at most that much goes
# out twice after a crash.
RECORD_EVERY = 20
RECORD_SECONDS = 0.5
# A spool file this old that no stored message needs is left over from a crash (or the
# database is not the one the spool belongs to): it is set aside, and removed only after
# ORPHAN_KEEP_DAYS.
ORPHAN_AFTER_SECONDS = 3600
ORPHAN_KEEP_DAYS = 30
BACKOFF_MAX_SECONDS = 3600


class TemporaryFailure(Exception):
    """The downstream may accept later (4xx, connection trouble)."""


class PermanentFailure(Exception):
    """The downstream refused for good (5xx)."""


class Transport(Protocol):
    def send(self, envelope_from: str, target: str, data: bytes, copy_key: str) -> None:
        """Deliver one copy; `copy_key` names it uniquely and for good (queue id and copy id)."""


# --- jobs --------------------------------------------------------------------------------------


@mergeable
def deliver_messages(message_ids: list[int]) -> int:
    """Deliver every due copy of these messages; returns how many were delivered now.

    The job claims the copies under its own token for CLAIM_SECONDS, renewing the claim on
    what is left before it could lapse, so a copy is only ever sent while this job holds
    it. Successes are recorded in bulk, every RECORD_EVERY copies or RECORD_SECONDS,
    whichever comes first, and at the end: a crash can make at most that many copies go
    out a second time (Maildir copies never: their file names are fixed), and a job costs a
    few transactions rather than one per copy. When the process is stopping, the job
    records what it sent and gives the rest back, so a normal stop sends nothing twice.
    """
    rt = runtime()
    token = f"{claimant()}:{secrets.token_hex(4)}"
    claim = _Claim.made(rt, token, message_ids)
    sent: list[int] = []  # sent, not yet recorded
    recorded_at = time.monotonic()
    delivered = 0
    stopped = False
    try:
        for copy in claim.copies:
            if rt.jobs.stopping:
                stopped = True
                break
            if claim.needs_renewal():
                delivered += _record_sent(rt, token, sent)
                sent, recorded_at = [], time.monotonic()
                claim.renew()
            if not claim.holds(copy.id):
                continue  # taken back while this job was away too long: its new holder sends
            if attempt(rt, copy, token):
                sent.append(copy.id)
            if len(sent) >= RECORD_EVERY or time.monotonic() - recorded_at > RECORD_SECONDS:
                delivered += _record_sent(rt, token, sent)
                sent, recorded_at = [], time.monotonic()
        delivered += _record_sent(rt, token, sent, finished_among=message_ids)
    except BaseException:
        _give_back(rt, token, sent)
        raise
    if stopped:
        _give_back(rt, token, [])
    return delivered


def deliver_message(message_id: int) -> int:
    """Deliver every due copy of one message (the sweep and retries queue these)."""
    return deliver_messages([message_id])


def sweep_due_deliveries() -> int:
    """Queue delivery of stored messages that are due (after a crash, an outage, a back-off).

    It also takes back the claims of processes on this host that died holding them, and
    removes spool files that a crash left behind (see forget_if_done).
    """
    rt = runtime()
    release_dead_claims(rt)
    forget_if_done(rt)
    now = utcnow()
    with rt.session_factory() as session:
        message_ids = session.scalars(
            select(MailDelivery.message_id).where(_due(now)).distinct().limit(1000)
        ).all()
    for start in range(0, len(message_ids), 100):
        chunk = list(message_ids[start : start + 100])
        rt.jobs.enqueue(deliver_messages, chunk, job_id=f"sweep-{chunk[0]}-{chunk[-1]}")
    return len(message_ids)


# --- claims ------------------------------------------------------------------------------------

_PROCESS_TOKEN = secrets.token_hex(4)


def claimant() -> str:
    """host:pid:token of this process; the token tells a restarted process from its past self."""
    return f"{socket.gethostname()}:{os.getpid()}:{_PROCESS_TOKEN}"


def release_dead_claims(rt: Runtime) -> int:
    """Make due again the copies claimed by processes on this host that no longer run."""
    host = socket.gethostname()
    with rt.uow() as session:
        held = session.execute(
            select(MailDelivery.claimed_by)
            .where(
                MailDelivery.status == DeliveryStatus.SENDING,
                MailDelivery.claimed_by.startswith(f"{host}:", autoescape=True),
            )
            .distinct()
        ).scalars()
        dead = [claimed_by for claimed_by in held if not _claimant_alive(claimed_by)]
        released = 0
        if dead:
            # By claimant, not by row: a copy another job claimed meanwhile stays with it.
            released = session.execute(
                update(MailDelivery)
                .where(
                    MailDelivery.claimed_by.in_(dead),
                    MailDelivery.status == DeliveryStatus.SENDING,
                )
                .values(
                    status=DeliveryStatus.PENDING,
                    claimed_until=None,
                    claimed_by=None,
                    next_attempt_at=utcnow(),
                    last_error="the process sending it stopped",
                )
            ).rowcount
    if released:
        log.info("took back %d delivery claim(s) held by processes that died", released)
    return released


def _claimant_alive(claimed_by: str) -> bool:
    _host, pid_text, process_token, *_job = [*claimed_by.split(":"), ""][:4]
    try:
        pid = int(pid_text)
    except ValueError:
        return True  # not ours to judge; the claim lapses on its own
    if pid == os.getpid():
        return process_token == _PROCESS_TOKEN
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # Alive, or a different process that reuses the pid: waiting for the lapse is the safe side.
    return True


class _Claim:
    """The copies one job holds, and until when (on this process's clock, conservatively)."""

    def __init__(self, rt: Runtime, token: str, copies: list[ClaimedCopy], until: float) -> None:
        self._rt, self._token = rt, token
        self.copies = copies
        self._held = {copy.id for copy in copies}
        self._until = until

    @classmethod
    def made(cls, rt: Runtime, token: str, message_ids: list[int]) -> _Claim:
        """Claim the due copies of these messages."""
        until = time.monotonic() + CLAIM_SECONDS  # read before the claim is made
        return cls(rt, token, claim_due(rt, message_ids, token), until)

    def holds(self, delivery_id: int) -> bool:
        return delivery_id in self._held

    def needs_renewal(self) -> bool:
        # Well before the lapse: one send can take minutes when the downstream is slow.
        return time.monotonic() > self._until - CLAIM_SECONDS / 2

    def renew(self) -> None:
        """Extend the claim on every copy still held; one lost meanwhile is dropped."""
        until = time.monotonic() + CLAIM_SECONDS
        with self._rt.uow() as session:
            renewed = session.connection().scalars(
                update(DELIVERIES)
                .where(
                    DELIVERIES.c.claimed_by == self._token,
                    DELIVERIES.c.status == DeliveryStatus.SENDING,
                )
                .values(claimed_until=utcnow() + dt.timedelta(seconds=CLAIM_SECONDS))
                .returning(DELIVERIES.c.id)
            )
            self._held = set(renewed)
        self._until = until


def _record_sent(
    rt: Runtime, token: str, sent: list[int], finished_among: list[int] | None = None
) -> int:
    """Record copies sent; with `finished_among`, also let go of finished messages' files.

    A finished message is marked in the same transaction and its file removed after the
    commit: a crash in between leaves a file that the sweep sets aside as an orphan, never
    a mark missing on a file still needed.
    """
    if not sent and finished_among is None:
        return 0
    with rt.uow() as session:
        recorded = 0
        if sent:
            recorded = (
                session.connection()
                .execute(
                    update(DELIVERIES)
                    .where(
                        DELIVERIES.c.id.in_(sent),
                        DELIVERIES.c.claimed_by == token,
                        DELIVERIES.c.status == DeliveryStatus.SENDING,
                    )
                    .values(**_delivered_now())
                )
                .rowcount
            )
        finished = _mark_finished(session, finished_among) if finished_among else []
    _remove_files(rt, finished)
    return recorded


def _mark_finished(session: Session, message_ids: list[int] | None = None) -> list[str]:
    """Mark messages every copy of which is delivered as having no spool file; their ids."""
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


def _remove_files(rt: Runtime, queue_ids: list[str]) -> None:
    for queue_id in queue_ids:
        try:
            spool(rt).remove(queue_id)
        except OSError:  # the sweep's orphan clean-up tries again
            log.warning("could not remove a delivered message's spool file")


def _give_back(rt: Runtime, token: str, sent: list[int]) -> None:
    """After a job stopped early: record what it sent and free what it never started."""
    try:
        with rt.uow() as session:
            conn = session.connection()
            if sent:
                conn.execute(
                    update(DELIVERIES)
                    .where(DELIVERIES.c.id.in_(sent), _held_by_token(token))
                    .values(**_delivered_now())
                )
            conn.execute(
                update(DELIVERIES)
                .where(_held_by_token(token))
                .values(status=DeliveryStatus.PENDING, claimed_until=None, claimed_by=None)
            )
    except Exception:  # the claims lapse on their own; the job's own error is what matters
        log.warning("could not give back the claims of a delivery job that stopped early")


def _held_by_token(token: str):
    return (DELIVERIES.c.claimed_by == token) & (DELIVERIES.c.status == DeliveryStatus.SENDING)


def _due(now: dt.datetime):
    pending = (MailDelivery.status == DeliveryStatus.PENDING) & (
        MailDelivery.next_attempt_at <= now
    )
    abandoned = (MailDelivery.status == DeliveryStatus.SENDING) & (MailDelivery.claimed_until < now)
    return or_(pending, abandoned)


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


def claim_due(rt: Runtime, message_ids: list[int], token: str) -> list[ClaimedCopy]:
    """Claim these messages' due copies in one statement; a concurrent job gets none of them."""
    now = utcnow()
    with rt.uow() as session:
        conn = session.connection()  # Core statements: a job is a few of them, no ORM work
        claimed = conn.scalars(
            update(DELIVERIES)
            .where(DELIVERIES.c.message_id.in_(message_ids), _due(now))
            .values(
                status=DeliveryStatus.SENDING,
                claimed_until=now + dt.timedelta(seconds=CLAIM_SECONDS),
                claimed_by=token,
            )
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


def attempt(rt: Runtime, copy: ClaimedCopy, token: str) -> bool:
    """Send one claimed copy; a failure is recorded here, a success by the caller in bulk."""
    try:
        data = _with_routing_headers(rt, copy)
        copy_key = f"{copy.queue_id}-{copy.id}"
        transport(rt).send(_envelope_sender(copy), copy.target, data, copy_key)
    except BaseTimeoutException:
        raise  # rq stopping an overlong job: the copy is given back, not judged
    except PermanentFailure as exc:
        _record_failure(rt, copy.id, token, str(exc), permanent=True)
        return False
    except (TemporaryFailure, OSError) as exc:
        _record_failure(rt, copy.id, token, str(exc) or type(exc).__name__, permanent=False)
        return False
    except Exception as exc:  # a copy that cannot be sent at all must not stall the others
        # The class only: an exception's text can quote addresses or the message.
        kind = type(exc).__name__
        log.error("delivery %d cannot be sent (%s); it is a dead letter", copy.id, kind)
        _record_failure(rt, copy.id, token, f"cannot be sent: {kind}", permanent=True)
        return False
    return True


def _envelope_sender(copy: ClaimedCopy) -> str:
    """The original sender, except on a refusal notice: like a bounce it goes from the null
    sender, so it can never bounce back or loop, and the customer's own domain's SPF does not
    judge a message the council sent."""
    return "" if copy.decision == "reject" else copy.envelope_from


def _delivered_now() -> dict[str, object]:
    return {
        "status": DeliveryStatus.DELIVERED,
        "delivered_at": utcnow(),
        "claimed_until": None,
        "claimed_by": None,
        "attempts": DELIVERIES.c.attempts + 1,
        "last_error": None,
    }


def _record_failure(
    rt: Runtime, delivery_id: int, token: str, error: str, *, permanent: bool
) -> None:
    now = utcnow()
    with rt.uow() as session:
        delivery = session.get(MailDelivery, delivery_id)
        if delivery is None or delivery.claimed_by != token:
            return  # no longer this job's copy: whoever holds it now records its outcome
        delivery.attempts += 1
        delivery.last_error = error[:1000]
        delivery.claimed_until = None
        delivery.claimed_by = None
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


def forget_if_done(rt: Runtime) -> None:
    """Let go of the spool files of messages that are finished but still marked as kept; set
    aside files no stored message needs (after a crash between a commit and a file removal,
    or a failed intake that could not clean up after itself)."""
    with rt.uow() as session:
        finished = _mark_finished(session)
    _remove_files(rt, finished)
    _set_aside_orphans(rt)


def _set_aside_orphans(rt: Runtime) -> None:
    """Set aside message files no stored message needs, and forget old leftovers."""
    store = spool(rt)
    # Only old files: a younger one may belong to a message whose batch is being committed.
    candidates = store.older_than(ORPHAN_AFTER_SECONDS)
    for start in range(0, len(candidates), 500):
        chunk = candidates[start : start + 500]
        with rt.session_factory() as session:
            kept = set(
                session.scalars(
                    select(MailMessage.queue_id).where(
                        MailMessage.queue_id.in_(chunk), MailMessage.spool_removed.is_(False)
                    )
                )
            )
        orphans = [queue_id for queue_id in chunk if queue_id not in kept]
        for queue_id in orphans:
            with contextlib.suppress(FileNotFoundError):
                store.set_aside(queue_id)
        if orphans:
            log.warning(
                "set aside %d spool file(s) that no stored message names, in %s (kept %d days)",
                len(orphans),
                store.root / "orphans",
                ORPHAN_KEEP_DAYS,
            )
    store.forget_old(ORPHAN_KEEP_DAYS * 86400, ORPHAN_AFTER_SECONDS)


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
            audit_entry(
                AuditAction.MAIL_RETRIED,
                actor=actor,
                at=utcnow(),
                subject_type="delivery",
                subject_ref=str(delivery_id),
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


def _with_routing_headers(rt: Runtime, copy: ClaimedCopy) -> bytes:
    if copy.decision == "reject":
        return _refusal_notice(rt, copy)
    return routing_headers(rt, copy) + spool(rt).read(copy.queue_id)


def routing_headers(rt: Runtime, copy: ClaimedCopy) -> bytes:
    """The X-CCR-* headers put in front of the original, untouched message."""
    installation = rt.settings.installation_id
    issued = int(time.time())
    signature = decision_signature(rt.secret, copy.queue_id, issued, copy.message_id)
    lines = [
        f"X-CCR-Decision: {copy.decision}; by={installation}; id={copy.queue_id}; t={issued}; "
        f"sig={signature}",
        f"X-CCR-Restriction: {copy.restriction_ref or 'none'}",
        _folded("X-CCR-Original-Recipients", copy.original_recipients),
    ]
    if copy.flags:
        lines.append(f"X-CCR-Flags: {', '.join(copy.flags)}")
    return "".join(line + "\r\n" for line in lines).encode("ascii", errors="replace")


def _folded(name: str, values: list[str], width: int = 78) -> str:
    """A header listing values, comma-separated and folded under `width` characters a line
    (RFC 5322 2.1.1): thirty recipients must not make one line past the 998 limit."""
    lines = [f"{name}:"]
    for n, value in enumerate(values):
        piece = f" {value}" + ("," if n < len(values) - 1 else "")
        if len(lines[-1]) + len(piece) > width and lines[-1] != f"{name}:":
            lines.append("")
        lines[-1] += piece
    return "\r\n".join(lines)


def _refusal_notice(rt: Runtime, copy: ClaimedCopy) -> bytes:
    """A plain notice to the sender that some recipients were refused (the rest went on)."""
    notice = EmailMessage()
    domain = rt.settings.accepted_domains[0]
    notice["From"] = f"Mail Delivery System <mailer-daemon@{domain}>"
    notice["To"] = copy.target
    notice["Subject"] = "Your message was not delivered to some recipients"
    notice["Date"] = formatdate(localtime=False)
    notice["Message-ID"] = make_msgid(domain=domain)
    notice["Auto-Submitted"] = "auto-replied"
    notice.set_content(
        "Your message was not delivered to: "
        + ", ".join(copy.original_recipients)
        + ".\n\n"
        + (copy.notice or "")
        + "\n\nThe original message is not attached.\n"
    )
    crlf = notice.policy.clone(linesep="\r\n")
    # No X-CCR-Decision here: the notice goes to the customer, and a signed decision header
    # in their hands is one they could try to put on their next message.
    return notice.as_bytes(policy=crlf)


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


def close_transports(downstream: str) -> None:
    """Close the connections a transport holds open (when its runtime closes)."""
    with _transports_lock:
        found = _transports.pop(downstream, None)
    if isinstance(found, SmtpTransport):
        found.close()


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
        ca_file=rt.settings.downstream_ca_file,
    )


def spool(rt: Runtime) -> Spool:
    return _spool_at(rt.settings.spool_dir)


@functools.lru_cache(maxsize=8)
def _spool_at(root: str) -> Spool:
    return Spool(root)  # made once: it creates its folders


class MaildirTransport:
    """One Maildir per recipient; tmp then new, with a file name fixed per delivery."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def send(self, envelope_from: str, target: str, data: bytes, copy_key: str) -> None:
        folder = self.root / _safe_folder(target)
        for sub in ("tmp", "new", "cur"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        # The queue id keeps names unique across databases: copy ids start again at 1 in a new
        # one, and a name already in new/ counts as delivered.
        name = f"ccr-{copy_key}.{socket.gethostname()}"
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

    def __init__(
        self,
        host: str,
        port: int,
        local_hostname: str,
        *,
        starttls: bool,
        ca_file: str | None = None,
    ) -> None:
        self.host, self.port, self.local_hostname, self.starttls = (
            host,
            port,
            local_hostname,
            starttls,
        )
        # When STARTTLS is used, certificate and host name are verified. It is used when the
        # downstream offers it (opportunistic, as between most mail servers), so a network
        # that strips the offer gets plain text: put the downstream on a trusted network.
        self._tls = ssl.create_default_context(cafile=ca_file)
        self._local = threading.local()
        self._open: set[smtplib.SMTP] = set()
        self._open_lock = threading.Lock()

    def send(self, envelope_from: str, target: str, data: bytes, copy_key: str) -> None:
        for last_try in (False, True):
            reused = getattr(self._local, "connection", None) is not None
            try:
                self._send_once(envelope_from, target, data)
                return
            except (TemporaryFailure, PermanentFailure):
                raise  # the downstream answered: the connection is still in step
            except smtplib.SMTPServerDisconnected as exc:
                # Sent again at once only when a reused connection had gone stale before the
                # message went: once it has, the downstream may have it, and it is for the
                # back-off to try again (RFC 5321 4.5.4.1), not a second copy now.
                stale = reused and not self._message_went()
                self._drop()
                if last_try or not stale:
                    closed = f"the downstream closed the connection ({exc})"
                    raise TemporaryFailure(closed) from None
            except BaseException:
                self._drop()  # a time-out mid-conversation: the connection is out of step
                raise

    def _message_went(self) -> bool:
        connection = getattr(self._local, "connection", None)
        return bool(getattr(connection, "message_went", False))

    def _send_once(self, envelope_from: str, target: str, data: bytes) -> None:
        try:
            connection = self._connection()
        except smtplib.SMTPResponseException as exc:  # a greeting or EHLO refused: 421 busy
            raise _failure(exc.smtp_code, exc.smtp_error) from None
        # Intake accepts internationalised addresses (SMTPUTF8); they go on only as such.
        options = [] if (envelope_from + target).isascii() else ["SMTPUTF8"]
        try:
            refused = connection.sendmail(envelope_from, [target], data, mail_options=options)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise _failure(code, text) from None
        except smtplib.SMTPResponseException as exc:
            self._reset(connection)
            raise _failure(exc.smtp_code, exc.smtp_error) from None
        except smtplib.SMTPNotSupportedError:
            self._reset(connection)
            raise PermanentFailure(
                "the downstream does not take internationalised addresses"
            ) from None
        if refused:
            code, text = next(iter(refused.values()))
            raise _failure(code, text)

    def _connection(self) -> smtplib.SMTP:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = _QuickSMTP(
                self.host, self.port, local_hostname=self.local_hostname, timeout=60
            )
            try:
                connection.ehlo()
                if self.starttls and connection.has_extn("starttls"):
                    connection.starttls(context=self._tls)
                    connection.ehlo()
            except BaseException:
                connection.close()
                raise
            self._local.connection = connection
            with self._open_lock:
                self._open.add(connection)
        return connection

    def close(self) -> None:
        with self._open_lock:
            connections, self._open = self._open, set()
        for connection in connections:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                connection.quit()
            connection.close()

    def _reset(self, connection: smtplib.SMTP) -> None:
        try:
            connection.rset()
        except smtplib.SMTPException:
            self._drop()

    def _drop(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            with self._open_lock:
                self._open.discard(connection)
            with contextlib.suppress(OSError):
                connection.close()


class _QuickSMTP(smtplib.SMTP):
    # Set once the message itself may have reached the server (from the DATA command on):
    # after that a lost connection must not be answered by sending the copy again at once.
    message_went = False

    """smtplib's client, minus its RFC 5322 parse of every envelope address.

    smtplib quotes each MAIL and RCPT address through email.utils.parseaddr, a large share
    of a send's CPU. Our addresses are normalised already: a plain one is sent as it is,
    anything else still goes through smtplib's own quoting.
    """

    def mail(self, sender: str, options: Sequence[str] = ()) -> tuple[int, bytes]:
        plain = sender == "" or _PLAIN_ADDRESS.fullmatch(sender)
        if not plain or any(option.lower() == "smtputf8" for option in options):
            return super().mail(sender, options)
        self.putcmd("mail", f"from:<{sender}>{self._option_list(options)}")
        return self.getreply()

    def rcpt(self, recip: str, options: Sequence[str] = ()) -> tuple[int, bytes]:
        if not _PLAIN_ADDRESS.fullmatch(recip):
            return super().rcpt(recip, options)
        self.putcmd("rcpt", f"to:<{recip}>{self._option_list(options)}")
        return self.getreply()

    def _option_list(self, options: Sequence[str]) -> str:
        return " " + " ".join(options) if options and self.does_esmtp else ""

    def sendmail(  # type: ignore[override]
        self,
        from_addr: str,
        to_addrs: Sequence[str],
        msg: bytes,
        mail_options: Sequence[str] = (),
        rcpt_options: Sequence[str] = (),
    ) -> dict[str, tuple[int, bytes]]:
        """Send MAIL, RCPT and DATA in one write when the server offers PIPELINING (RFC 2920).

        Two round trips per copy instead of four; smtplib's own sendmail (which never
        pipelines) handles everything else: several recipients, options, unusual addresses.
        """
        self.message_went = False
        self.ehlo_or_helo_if_needed()
        simple = (
            len(to_addrs) == 1
            and not mail_options
            and not rcpt_options
            and isinstance(msg, bytes)
            and (from_addr == "" or _PLAIN_ADDRESS.fullmatch(from_addr))
            and _PLAIN_ADDRESS.fullmatch(to_addrs[0])
        )
        if not simple or not self.has_extn("pipelining"):
            return super().sendmail(from_addr, to_addrs, msg, mail_options, rcpt_options)
        recipient = to_addrs[0]
        size = f" size={len(msg)}" if self.has_extn("size") else ""  # as smtplib words it
        self.send(f"mail from:<{from_addr}>{size}\r\nrcpt to:<{recipient}>\r\ndata\r\n")
        mail = self._reply_unless_closing()
        if mail[0] == 421:
            raise smtplib.SMTPSenderRefused(mail[0], mail[1], from_addr)
        rcpt = self._reply_unless_closing()
        if rcpt[0] == 421:
            raise smtplib.SMTPRecipientsRefused({recipient: rcpt})
        data = self.getreply()
        if data[0] == 354 and (mail[0] != 250 or rcpt[0] not in (250, 251)):
            self._end_empty_data()  # a server that said 354 regardless is owed the end mark
        if mail[0] != 250:
            raise smtplib.SMTPSenderRefused(mail[0], mail[1], from_addr)  # the caller resets
        if rcpt[0] not in (250, 251):
            self._reset_quietly()  # as smtplib does; the caller does not for this refusal
            raise smtplib.SMTPRecipientsRefused({recipient: rcpt})
        if data[0] != 354:
            raise smtplib.SMTPDataError(*data)
        self.message_went = True
        self.send(_dot_stuffed(msg))
        code, text = self.getreply()
        if code != 250:
            raise smtplib.SMTPDataError(code, text)
        return {}

    def data(self, msg: bytes | str) -> tuple[int, bytes]:
        """smtplib's DATA (the path without pipelining), noting that the message may go."""
        self.message_went = True
        return super().data(msg)

    def _reply_unless_closing(self) -> tuple[int, bytes]:
        """The next reply; after a 421 the server is closing, so no more replies are read."""
        reply = self.getreply()
        if reply[0] == 421:
            self.close()  # as smtplib does: the next copy gets a new connection
        return reply

    def _end_empty_data(self) -> None:
        self.send(b".\r\n")
        self.getreply()

    def _reset_quietly(self) -> None:
        # As smtplib does after a refusal: the connection stays usable for the next copy.
        with contextlib.suppress(smtplib.SMTPServerDisconnected):
            self.rset()


def _dot_stuffed(data: bytes) -> bytes:
    """The DATA payload as smtplib sends it: leading dots doubled, ended by CRLF.CRLF.

    smtplib doubles them with the expression (?m)^\\. , which is tried at every position:
    half a millisecond for a 100 KB message. A dot begins a line at the very start or
    after a line feed, and bytes.replace finds those at C speed, with the same result.
    """
    quoted = data.replace(b"\n.", b"\n..")
    if quoted.startswith(b"."):
        quoted = b"." + quoted
    end = b".\r\n" if quoted.endswith(b"\r\n") else b"\r\n.\r\n"
    return quoted + end


_PLAIN_ADDRESS = re.compile(PLAIN_ADDRESS)


def _failure(code: int, text: bytes | str) -> Exception:
    message = f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"
    return PermanentFailure(message) if 500 <= code < 600 else TemporaryFailure(message)
