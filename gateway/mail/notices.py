"""Notices the gateway writes itself (to the safeguarding mailbox, say): spooled and
delivered like any message, so they are retried and never lost."""

from __future__ import annotations

import logging
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

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


def send_notice(rt: Runtime, to: str, subject: str, text: str, *, flags: list[str]) -> int:
    """Store a notice for delivery and queue it now; returns its message id. The spool
    file is written and synced before the row is committed, as for mail received."""
    data, message_id = compose(rt, to, subject, text)
    files = spool(rt)
    queue_id = files.new_queue_id()
    files.store(queue_id, data)
    with rt.uow() as session:
        stored = deliveries.insert_notice(session, queue_id, len(data), message_id, to, flags)
    try:
        rt.jobs.enqueue(deliver_messages, [stored], job_id=f"notice-{stored}")
    except Exception:  # stored: the delivery sweep sends it if the queue is unavailable
        log.warning("could not queue a notice's delivery; the sweep will send it")
    return stored


def alert_link(rt: Runtime, alert_id: int) -> str:
    return f"{rt.settings.public_url}/alerts/{alert_id}"
