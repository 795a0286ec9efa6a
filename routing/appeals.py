"""Letters recorded as sent and appeals against a restriction: the rules, no I/O.

A letter about a decision (APPEALABLE_KINDS) starts the appeal window from the day it was
sent. An appeal is lodged, heard by an approver who neither proposed nor approved the
restriction, and decided by that hearer with reasons. Each step checks, changes the records
and returns the audit entry; the caller adds both to its unit of work.
"""

from __future__ import annotations

import datetime as dt

from routing.audit import AuditAction
from routing.enums import AppealDecision, LetterKind, LetterMethod, RestrictionStatus
from routing.letters import APPEALABLE_KINDS
from routing.lifecycle import Actor, appeal_deadline
from routing.lifecycle import audit as _audit
from routing.models import Appeal, AuditEntry, Letter, Restriction, StaffUser
from routing.roles import APPROVERS, WHO_MAY, Permission


class AppealRefused(ValueError):
    """A letter or appeal step that is not allowed; the message says why in one line."""


def record_letter_sent(
    restriction: Restriction,
    actor: Actor,
    now: dt.datetime,
    *,
    today: dt.date,
    kind: LetterKind,
    sent_on: dt.date,
    method: LetterMethod,
    appeal_days: int | None,
) -> tuple[Letter, AuditEntry]:
    """Record a letter as sent; one about a decision starts the appeal window (deadline =
    sent date + appeal_days) unless the council offers no appeal (appeal_days None)."""
    _require(actor, Permission.RECORD_LETTER, "record a letter as sent")
    if sent_on > today:
        raise AppealRefused("the date sent cannot be in the future")
    letter = Letter(
        kind=kind, sent_on=sent_on, method=method, recorded_by_id=actor.user_id, recorded_at=now
    )
    restriction.letters.append(letter)
    if kind in APPEALABLE_KINDS and appeal_days is not None:
        restriction.notified_on = sent_on
        restriction.appeal_deadline = appeal_deadline(sent_on, appeal_days)
    return letter, _audit(
        actor, AuditAction.LETTER_SENT, restriction, now,
        kind=kind.value, method=method.value, sent_on=sent_on.isoformat(),
    )  # fmt: skip


def lodge(
    restriction: Restriction,
    actor: Actor,
    now: dt.datetime,
    *,
    today: dt.date,
    received_on: dt.date,
    received_how: LetterMethod,
) -> tuple[Appeal, AuditEntry]:
    """Record an appeal received against a restriction in force."""
    _require(actor, Permission.LODGE_APPEAL, "record an appeal")
    if restriction.status is not RestrictionStatus.ACTIVE:
        raise AppealRefused(f"{restriction.reference} is not in force: there is nothing to appeal")
    if open_appeal(restriction) is not None:
        raise AppealRefused(f"{restriction.reference} already has an appeal waiting for a decision")
    if received_on > today:
        raise AppealRefused("the date received cannot be in the future")
    appeal = Appeal(
        received_on=received_on,
        received_how=received_how,
        lodged_by_id=actor.user_id,
        lodged_at=now,
    )
    restriction.appeals.append(appeal)
    return appeal, _audit(
        actor, AuditAction.APPEAL_LODGED, restriction, now,
        received_on=received_on.isoformat(), received_how=received_how.value,
    )  # fmt: skip


def assign_hearer(
    appeal: Appeal,
    actor: Actor,
    now: dt.datetime,
    *,
    hearer: StaffUser,
    decision_makers: set[int],
) -> AuditEntry:
    """Name the approver who hears the appeal: never one who proposed or approved it."""
    _require(actor, Permission.LODGE_APPEAL, "name who hears an appeal")
    _require_undecided(appeal)
    if hearer.role not in APPROVERS or not hearer.active:
        raise AppealRefused("an appeal must be heard by an approver whose account is active")
    if hearer.id in decision_makers:
        raise AppealRefused(
            f"{hearer.display_name or hearer.email} proposed or approved "
            f"{appeal.restriction.reference}: someone who took no part in the decision "
            "must hear the appeal"
        )
    appeal.hearer_id = hearer.id
    return _audit(
        actor, AuditAction.APPEAL_HEARER_ASSIGNED, appeal.restriction, now, hearer_id=hearer.id
    )


def decide(
    appeal: Appeal | None,
    actor: Actor,
    now: dt.datetime,
    *,
    today: dt.date,
    decision: AppealDecision,
    reasons: str,
) -> AuditEntry:
    """The named hearer decides the appeal, with reasons. Lifting or varying the restriction
    itself is then done through the lifecycle, by the caller."""
    _require(actor, Permission.DECIDE_APPEAL, "decide an appeal")
    if appeal is None:
        raise AppealRefused("no appeal has been lodged: record the appeal before deciding it")
    _require_undecided(appeal)
    if appeal.hearer_id is None:
        raise AppealRefused("name who hears the appeal before deciding it")
    if actor.user_id != appeal.hearer_id:
        raise AppealRefused("only the approver named to hear this appeal may decide it")
    if not reasons or not reasons.strip():
        raise AppealRefused("the reasons for the decision are required")
    appeal.decision = decision
    appeal.reasons = reasons.strip()
    appeal.decided_on = today
    appeal.decided_at = now
    return _audit(
        actor, AuditAction.APPEAL_DECIDED, appeal.restriction, now, decision=decision.value
    )


def open_appeal(restriction: Restriction) -> Appeal | None:
    """The appeal lodged against this revision and not yet decided, if any."""
    return next((a for a in restriction.appeals if a.decision is None), None)


def appeal_to_decide(restriction: Restriction) -> Appeal | None:
    """The appeal waiting for a decision; one already decided says so; none lodged: None."""
    waiting = open_appeal(restriction)
    if waiting is None and restriction.appeals:
        raise AppealRefused(f"the appeal against {restriction.reference} has already been decided")
    return waiting


def undecided_after_window(appeal: Appeal, today: dt.date) -> bool:
    """An appeal still undecided once the appeal window has closed, not yet alerted on."""
    deadline = appeal.restriction.appeal_deadline
    return (
        appeal.decision is None
        and appeal.overdue_alerted_at is None
        and deadline is not None
        and deadline < today
    )


def _require_undecided(appeal: Appeal) -> None:
    if appeal.decision is not None:
        raise AppealRefused("this appeal has already been decided")


def _require(actor: Actor, permission: Permission, what: str) -> None:
    if actor.role not in WHO_MAY[permission]:
        raise AppealRefused(f"your role may not {what}")
