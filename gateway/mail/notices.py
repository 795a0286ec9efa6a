"""Notices the gateway writes itself (to the safeguarding mailbox, say): spooled and
delivered like any message, so they are retried and never lost."""

from __future__ import annotations

import logging
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from sqlalchemy.orm import Session

from gateway.mail.delivery import deliver_messages, spool
from gateway.runtime import Runtime
from gateway.store import deliveries

log = logging.getLogger(__name__)


def compose(rt: Runtime, to: str, subject: str, text: str) -> tuple[bytes, str]:
    """The notice as RFC 5322 bytes with CRLF line ends, and its Message-ID."""
    domain = rt.settings.accepted_domains[0]
    notice = EmailMessage()
    notice["From"] = f"Contact restriction gateway <no-reply@{domain}>"
    notice["To"] = to
    notice["Subject"] = subject
    notice["Date"] = formatdate(localtime=False)
    notice["Message-ID"] = message_id = make_msgid(domain=domain)
    notice["Auto-Submitted"] = "auto-generated"
    notice.set_content(text)
    return notice.as_bytes(policy=notice.policy.clone(linesep="\r\n")), message_id


def store_notice(
    rt: Runtime, session: Session, to: str, subject: str, text: str, *, flags: list[str]
) -> int:
    """Spool a notice (written and synced) and record it for delivery in the caller's unit
    of work, so it is committed with whatever it tells of; returns its message id."""
    data, message_id = compose(rt, to, subject, text)
    files = spool(rt)
    queue_id = files.new_queue_id()
    files.store(queue_id, data)
    return deliveries.insert_notice(session, queue_id, len(data), message_id, to, flags)


def queue_notices(rt: Runtime, message_ids: list[int]) -> None:
    """Deliver stored notices now; the delivery sweep sends them if the queue is away."""
    if not message_ids:
        return
    try:
        rt.jobs.enqueue(deliver_messages, message_ids, job_id=f"notice-{message_ids[0]}")
    except Exception:
        log.warning("could not queue a notice's delivery; the sweep will send it")


def alert_link(rt: Runtime, alert_id: int) -> str:
    return f"{rt.settings.public_url}/alerts/{alert_id}"
