"""The SPOC's queue: which routed mail becomes an item for a person to read, when an item
is overdue, and the outcomes a person records. No I/O: values in, values out.

Mail a restriction redirects, copies, files or refuses must still be read by a person,
for new matters and safeguarding the wording screens can miss. Each such message becomes
one item per restriction that applied, for the SPOC that restriction names.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from routing.audit import AuditAction, audit_entry
from routing.engine import Decision
from routing.enums import Mode, Outcome, ResponseTimetable
from routing.models import AuditEntry

# Outcomes that take a message away from its addressee: someone else must read it.
QUEUED_OUTCOMES = frozenset({Outcome.REDIRECT, Outcome.COPY, Outcome.FILE, Outcome.REJECT})

OUTCOME_WORDS = {
    Outcome.REDIRECT: "Redirected to the SPOC",
    Outcome.COPY: "Copied to the SPOC",
    Outcome.FILE: "Placed on file",
    Outcome.REJECT: "Refused",
}


class ItemOutcome(StrEnum):
    """What a person decided after reading an item."""

    NEW_MATTER = "new_matter"  # passed to a service as a new matter
    SAFEGUARDING = "safeguarding"  # referred through the safeguarding workflow
    REPLY_DUE = "reply_due"  # a reply is due by a date
    REPLIED = "replied"  # the reply due was sent
    ON_FILE = "on_file"  # read, placed on file, no reply


ITEM_OUTCOME_WORDS = {
    ItemOutcome.NEW_MATTER: "Passed to a service as a new matter",
    ItemOutcome.SAFEGUARDING: "Safeguarding referral",
    ItemOutcome.REPLY_DUE: "Reply due",
    ItemOutcome.REPLIED: "Replied",
    ItemOutcome.ON_FILE: "On file, no reply",
}


class OutcomeRefused(Exception):
    """An outcome that cannot be recorded as given; the message says why in plain words."""


@dataclass(frozen=True, slots=True)
class QueuedFor:
    """One restriction's share of a routed message: the item its SPOC reads."""

    restriction_ref: str
    customer_id: int
    spoc_email: str | None
    outcome: Outcome
    addressed_to: tuple[str, ...]


def items_for(decisions: list[tuple[str, Decision]]) -> list[QueuedFor]:
    """The items a message makes: one per enforced restriction that redirected, copied,
    filed or refused it, naming the recipients it applied to. Shadow mode makes none:
    on trial, the message reached its addressee untouched."""
    grouped: dict[str, list[tuple[str, Decision]]] = {}
    for recipient, decision in decisions:
        terms = decision.restriction
        if terms is None or decision.mode is not Mode.ENFORCE:
            continue
        if decision.outcome in QUEUED_OUTCOMES:
            grouped.setdefault(terms.reference, []).append((recipient, decision))
    return [_queued(pairs) for pairs in grouped.values()]


def _queued(pairs: list[tuple[str, Decision]]) -> QueuedFor:
    # The strongest outcome speaks for the item: a refusal to one recipient is a refusal.
    strongest = max((d for _, d in pairs), key=lambda d: _STRENGTH[d.outcome])
    terms = strongest.restriction
    assert terms is not None
    return QueuedFor(
        restriction_ref=terms.reference,
        customer_id=terms.customer_id,
        spoc_email=terms.spoc_email,
        outcome=strongest.outcome,
        addressed_to=tuple(dict.fromkeys(r for r, _ in pairs)),
    )


_STRENGTH = {Outcome.COPY: 1, Outcome.REDIRECT: 2, Outcome.FILE: 3, Outcome.REJECT: 4}


def due_on(received: dt.date, response_days: int) -> dt.date:
    """When a new item should have an outcome by."""
    return received + dt.timedelta(days=response_days)


def is_overdue(
    outcome: ItemOutcome | None, due: dt.date, reply_due_on: dt.date | None, today: dt.date
) -> bool:
    """Overdue: no outcome after its due date, or a reply promised and not sent in time."""
    if outcome is None:
        return due < today
    if outcome is ItemOutcome.REPLY_DUE:
        return reply_due_on is not None and reply_due_on < today
    return False


_EVERY_DAYS = {ResponseTimetable.WEEKLY: 7, ResponseTimetable.FORTNIGHTLY: 14}


def digest_due(timetable: ResponseTimetable, starts_on: dt.date, today: dt.date) -> bool:
    """Whether a restriction's response day is `today`: every week or fortnight from its
    start, or on the start's day of each month (the month's last day when it is shorter)."""
    if timetable is ResponseTimetable.NONE or today <= starts_on:
        return False
    if timetable is ResponseTimetable.MONTHLY:
        return today.day == min(starts_on.day, calendar.monthrange(today.year, today.month)[1])
    return (today - starts_on).days % _EVERY_DAYS[timetable] == 0


@dataclass(frozen=True, slots=True)
class OutcomeChoice:
    """What a person chose, as given on the form or the command line."""

    outcome: ItemOutcome
    service: str | None = None
    reply_due_on: dt.date | None = None
    note: str | None = None


def check_outcome(choice: OutcomeChoice, today: dt.date) -> OutcomeChoice:
    """The choice, tidied, or OutcomeRefused saying what is missing."""
    service = (choice.service or "").strip() or None
    note = (choice.note or "").strip() or None
    if choice.outcome is ItemOutcome.NEW_MATTER and not service:
        raise OutcomeRefused("say which service the new matter was passed to")
    if choice.outcome is ItemOutcome.REPLY_DUE:
        if choice.reply_due_on is None:
            raise OutcomeRefused("give the date the reply is due by")
        if choice.reply_due_on < today:
            raise OutcomeRefused("the date the reply is due by must be today or later")
    reply_due_on = choice.reply_due_on if choice.outcome is ItemOutcome.REPLY_DUE else None
    return OutcomeChoice(choice.outcome, service, reply_due_on, note)


def item_audit(
    action: AuditAction, actor: str, at: dt.datetime, item_id: int, **detail: Any
) -> AuditEntry:
    """An audit entry about one queue item (never its words)."""
    return audit_entry(
        action,
        actor=actor,
        at=at,
        subject_type="spoc_item",
        subject_ref=str(item_id),
        detail=detail,
    )
