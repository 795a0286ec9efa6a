"""Delivery of stored messages: claim, send with the routing headers, retry, dead-letter.

Jobs take a message id and are idempotent: a delivery is claimed before it is sent, so a
job that runs twice sends nothing twice; Maildir file names are fixed per delivery, so even
a crash between writing and recording cannot make a second copy there. What a copy carries
is gateway.mail.headers's, how it travels gateway.mail.transports's, and the statements
gateway.store.deliveries's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import os
import secrets
import socket
import time
from collections.abc import Sequence

from rq.timeouts import BaseTimeoutException

from gateway.jobs.queue import mergeable
from gateway.mail.headers import refusal_notice, routing_headers
from gateway.mail.message import is_refusal_notice
from gateway.mail.spool import Spool
from gateway.mail.transports import PermanentFailure, TemporaryFailure, transport
from gateway.runtime import Runtime, runtime
from gateway.store import deliveries
from gateway.store.deliveries import ClaimedCopy
from gateway.store.tables import MailDelivery
from routing.audit import AuditAction, audit_entry
from routing.enums import DeliveryStatus
from routing.models import utcnow

log = logging.getLogger(__name__)

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
        message_ids = deliveries.due_message_ids(session, now, limit=1000)
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
        held = deliveries.claimants_on_host(session, host)
        dead = [claimed_by for claimed_by in held if not _claimant_alive(claimed_by)]
        released = 0
        if dead:
            released = deliveries.release_claims_of(session, dead, "the process sending it stopped")
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
        claimed_until = utcnow() + dt.timedelta(seconds=CLAIM_SECONDS)
        with self._rt.uow() as session:
            self._held = deliveries.renew_claims(session, self._token, claimed_until)
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
        recorded = deliveries.record_sent(session, token, sent) if sent else 0
        finished = deliveries.mark_finished(session, finished_among) if finished_among else []
    _remove_files(rt, finished)
    return recorded


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
            if sent:
                deliveries.record_sent(session, token, sent)
            deliveries.release_claims(session, token)
    except Exception:  # the claims lapse on their own; the job's own error is what matters
        log.warning("could not give back the claims of a delivery job that stopped early")


def claim_due(rt: Runtime, message_ids: list[int], token: str) -> list[ClaimedCopy]:
    """Claim these messages' due copies in one statement; a concurrent job gets none of them."""
    now = utcnow()
    until = now + dt.timedelta(seconds=CLAIM_SECONDS)
    with rt.uow() as session:
        return deliveries.claim_due_copies(session, message_ids, token, now, until)


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
    return "" if is_refusal_notice(copy.decision, copy.notice) else copy.envelope_from


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
        finished = deliveries.mark_finished(session)
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
            kept = deliveries.queue_ids_kept(session, chunk)
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
        found = deliveries.dead_deliveries(session)
        for delivery in found:
            _ = delivery.message.queue_id  # load for the caller
        return found


# --- what is sent ------------------------------------------------------------------------------


def _with_routing_headers(rt: Runtime, copy: ClaimedCopy) -> bytes:
    if is_refusal_notice(copy.decision, copy.notice):
        return refusal_notice(rt, copy)
    original = spool(rt).read(copy.queue_id)
    return routing_headers(rt, copy, original) + original


def spool(rt: Runtime) -> Spool:
    return _spool_at(rt.settings.spool_dir)


@functools.lru_cache(maxsize=8)
def _spool_at(root: str) -> Spool:
    return Spool(root)  # made once: it creates its folders
