"""The SPOC's digest: on each restriction's response day (its response timetable), the
SPOC mailbox is told what is waiting under it, by counts, references and links, never
who wrote or what they wrote. Sent through the gateway's own delivery, like the
safeguarding notices, so it is retried and never lost; once a day across all processes."""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.mail.notices import queue_notices, store_notice
from gateway.runtime import Runtime, runtime
from gateway.store import repository, spoc_queue
from gateway.store.spoc_queue import ItemRow, Timetabled
from routing.audit import AuditAction, audit_entry
from routing.lifecycle import Actor
from routing.models import utcnow
from routing.spoc import digest_due, is_overdue

TASK = "spoc-digest"
LINKS_PER_RESTRICTION = 50


def run_spoc_digest(now_iso: str | None = None) -> int:
    """The job the scheduler enqueues (hourly): send today's digests once it is time."""
    now = dt.datetime.fromisoformat(now_iso) if now_iso else utcnow()
    return send_digests(runtime(), now)


@dataclass(frozen=True, slots=True)
class _Due:
    restriction: Timetabled
    items: list[ItemRow]


def send_digests(rt: Runtime, now: dt.datetime) -> int:
    """Store and send a digest to each SPOC mailbox with a restriction whose response day is
    today and something waiting; the first run at or after `spoc_digest_hour` (local) each
    day does it, later runs that day find the day claimed. Returns the digests sent."""
    local = now.astimezone(rt.timezone)
    if local.hour < rt.settings.spoc_digest_hour:
        return 0
    try:
        with rt.uow() as session:
            repository.claim_scheduled_run(session, TASK, local.date().isoformat(), _me())
            notice_ids = _store_digests(rt, session, now, local.date())
    except IntegrityError:
        return 0  # another process (or an earlier run) sent today's
    queue_notices(rt, notice_ids)
    return len(notice_ids)


def _store_digests(rt: Runtime, session: Session, now: dt.datetime, today: dt.date) -> list[int]:
    due_today = [
        r
        for r in spoc_queue.timetabled_restrictions(session)
        if digest_due(r.timetable, r.starts_on, today)
    ]
    waiting = spoc_queue.waiting_items(session, [r.reference for r in due_today])
    by_mailbox: dict[str, list[_Due]] = defaultdict(list)
    for restriction in due_today:
        items = [i for i in waiting if i.restriction_ref == restriction.reference]
        if items:
            by_mailbox[restriction.spoc_email].append(_Due(restriction, items))
    notice_ids = [
        store_notice(
            rt,
            session,
            mailbox,
            f"SPOC queue: {sum(len(d.items) for d in dues)} item(s) due for a response",
            digest_text(rt, dues, today),
            flags=["spoc_digest"],
        )
        for mailbox, dues in sorted(by_mailbox.items())
    ]
    if notice_ids:
        session.add(
            audit_entry(
                AuditAction.SPOC_DIGEST_SENT,
                actor=Actor.system().name,
                at=now,
                subject_type="spoc_queue",
                detail={
                    mailbox: sum(len(d.items) for d in dues) for mailbox, dues in by_mailbox.items()
                },
            )
        )
    return notice_ids


def digest_text(rt: Runtime, dues: list[_Due], today: dt.date) -> str:
    """The digest's words: per restriction, counts and links; no sender, subject or text."""
    base = rt.settings.public_url
    lines = [
        f"Responses are due today, {today.strftime('%d %B %Y')}, under these restrictions.",
        "",
    ]
    for due in dues:
        overdue = sum(is_overdue(i.outcome, i.due_on, i.reply_due_on, today) for i in due.items)
        unread = sum(i.read_at is None for i in due.items)
        lines.append(
            f"{due.restriction.reference} (responses {due.restriction.timetable.value}): "
            f"{len(due.items)} waiting, {overdue} overdue, {unread} not read yet"
        )
        lines.extend(f"  {base}/spoc-queue/{i.id}" for i in due.items[:LINKS_PER_RESTRICTION])
        if len(due.items) > LINKS_PER_RESTRICTION:
            lines.append(f"  and {len(due.items) - LINKS_PER_RESTRICTION} more in the queue")
        lines.append("")
    lines.append(f"The whole queue: {base}/spoc-queue")
    lines.append("")
    lines.append(
        "This digest leaves out who wrote and what they wrote: open the items to read them."
    )
    return "\n".join(lines) + "\n"


def _me() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:128]
