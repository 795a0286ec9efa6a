"""The restriction lifecycle: who may move a restriction from one status to the next, and when.

draft -> pending approval -> active -> varied / lifted / expired -> dormant -> purged.
Each function checks the move, changes the restriction and returns the audit entry that
records it; the caller adds both to its unit of work.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from dateutil.relativedelta import relativedelta

from routing.approvals import ApprovalRules
from routing.audit import AuditAction, audit_entry
from routing.enums import (
    ImportConfirmation,
    RestrictionStatus,
    RetentionCategory,
    ReviewOutcome,
    Role,
)
from routing.models import AuditEntry, ImportedRestriction, Restriction, Review
from routing.roles import WHO_MAY, Permission

S = RestrictionStatus

ALLOWED_MOVES: dict[RestrictionStatus, frozenset[RestrictionStatus]] = {
    S.DRAFT: frozenset({S.PENDING_APPROVAL, S.WITHDRAWN}),
    S.PENDING_APPROVAL: frozenset({S.ACTIVE, S.DRAFT, S.WITHDRAWN}),
    S.ACTIVE: frozenset({S.VARIED, S.LIFTED, S.EXPIRED}),
    S.VARIED: frozenset({S.DORMANT}),
    S.LIFTED: frozenset({S.DORMANT}),
    S.WITHDRAWN: frozenset({S.DORMANT}),
    S.EXPIRED: frozenset({S.DORMANT}),
    S.DORMANT: frozenset({S.PURGED}),
    S.PURGED: frozenset(),
}

# Terms an approver may change when varying a restriction.
VARIABLE_TERMS = frozenset(
    {
        "mode", "stage", "category", "reason", "confidential_notes", "email_measure",
        "phone_measure", "phone_windows", "max_calls_per_day", "max_calls_per_week",
        "max_call_minutes", "spoc_name", "spoc_email", "spoc_phone", "exempt_addresses",
        "ends_on", "review_every_months", "business_case", "response_timetable",
    }
)  # fmt: skip


# Free text can name people; the append-only audit log records that it changed, not what it says
# (the text itself lives on the restriction, which is purged after the retention period).
FREE_TEXT_TERMS = frozenset({"reason", "confidential_notes", "business_case"})

# Read when no settings are given: any approver approves any stage, nothing more is asked.
ANY_APPROVER = ApprovalRules()


class TransitionRefused(ValueError):
    """A lifecycle move that is not allowed; the message says why in one line."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting: a staff member, an integration token, or the system itself."""

    name: str
    role: Role | None = None
    user_id: int | None = None

    @classmethod
    def system(cls) -> Actor:
        return cls("system")


def next_review_date(from_day: dt.date, every_months: int) -> dt.date:
    """The review date a number of calendar months on (31 Jan + 1 month = 28/29 Feb)."""
    return from_day + relativedelta(months=every_months)


def appeal_deadline(notified_on: dt.date, appeal_days: int) -> dt.date:
    """The last day on which the customer may appeal."""
    return notified_on + dt.timedelta(days=appeal_days)


def submit(
    restriction: Restriction,
    actor: Actor,
    now: dt.datetime,
    *,
    rules: ApprovalRules = ANY_APPROVER,
) -> AuditEntry:
    """A manager puts a draft forward for approval (with a business case, where its stage
    needs one)."""
    _require_role(actor, Permission.PROPOSE, "propose a restriction")
    _refuse(
        rules.business_case_refusal(
            restriction.stage, restriction.business_case, restriction.reference
        )
    )
    _move(restriction, S.PENDING_APPROVAL, "submit")
    restriction.proposed_by_id = actor.user_id
    restriction.proposed_at = now
    return audit(actor, AuditAction.RESTRICTION_SUBMITTED, restriction, now)


def return_to_draft(
    restriction: Restriction, actor: Actor, now: dt.datetime, reason: str
) -> AuditEntry:
    """An approver sends a proposal back for more work."""
    _require_role(actor, Permission.APPROVE, "return a proposal")
    _require_text(reason, "a reason for returning the proposal")
    _move(restriction, S.DRAFT, "return to draft")
    return audit(actor, AuditAction.RESTRICTION_RETURNED, restriction, now)


def approve(
    restriction: Restriction,
    actor: Actor,
    now: dt.datetime,
    *,
    today: dt.date,
    appeal_days: int,
    rules: ApprovalRules = ANY_APPROVER,
    no_prior_involvement: bool = False,
) -> AuditEntry:
    """An approver who did not propose it, of the level its stage needs, brings the
    restriction into force, declaring no prior involvement where the stage asks it."""
    _require_role(actor, Permission.APPROVE, "approve a restriction")
    if actor.user_id is not None and actor.user_id == restriction.proposed_by_id:
        raise TransitionRefused(
            f"cannot approve {restriction.reference}: the approver proposed it; "
            "a different approver must decide"
        )
    stage, reference = restriction.stage, restriction.reference
    _refuse(rules.level_refusal(actor.role, stage, reference))
    _refuse(rules.business_case_refusal(stage, restriction.business_case, reference))
    _refuse(rules.declaration_refusal(stage, no_prior_involvement, reference))
    _move(restriction, S.ACTIVE, "approve")
    # Kept only where it was asked: a tick nobody was asked for would read as a declaration.
    restriction.no_prior_involvement = (
        no_prior_involvement if rules.needs_declaration(stage) else None
    )
    restriction.approved_by_id = actor.user_id
    restriction.approved_at = now
    restriction.notified_on = restriction.notified_on or today
    restriction.appeal_deadline = appeal_deadline(restriction.notified_on, appeal_days)
    restriction.next_review_on = next_review_date(
        max(restriction.starts_on, today), restriction.review_every_months
    )
    return audit(actor, AuditAction.RESTRICTION_APPROVED, restriction, now)


def bring_imported_into_force(
    restriction: Restriction,
    provenance: ImportedRestriction,
    now: dt.datetime,
    *,
    today: dt.date,
    appeal_days: int,
    next_review_on: dt.date | None = None,
) -> AuditEntry:
    """Put a restriction decided outside the system in force from its import.

    Nobody approves it here, so no approver is recorded: the provenance says who ran the
    import, what the file said about the decision and who must confirm it. The customer
    was told when it began, so the appeal window runs from its start (or today, if it
    starts later). A review date the file gives is kept even when it has passed, so an
    overdue review stays overdue; otherwise the first review is set from today.
    """
    _move(restriction, S.PENDING_APPROVAL, "import")
    _move(restriction, S.ACTIVE, "import")
    restriction.proposed_by_id = None
    restriction.approved_by_id = None
    restriction.notified_on = min(restriction.starts_on, today)
    restriction.appeal_deadline = appeal_deadline(restriction.notified_on, appeal_days)
    restriction.next_review_on = next_review_on or next_review_date(
        max(restriction.starts_on, today), restriction.review_every_months
    )
    restriction.imported = provenance
    return audit(
        Actor(provenance.imported_by),
        AuditAction.RESTRICTION_IMPORTED,
        restriction,
        now,
        file=provenance.source_file,
        confirmer_id=provenance.confirmer_id,
    )


def confirm_import(restriction: Restriction, actor: Actor, now: dt.datetime) -> AuditEntry:
    """The approver named on the import stands by an imported restriction."""
    provenance = _awaiting_import(restriction, actor, "confirm")
    provenance.state = ImportConfirmation.CONFIRMED
    provenance.settled_at = now
    return audit(actor, AuditAction.RESTRICTION_IMPORT_CONFIRMED, restriction, now)


def withdraw_import(
    restriction: Restriction, actor: Actor, now: dt.datetime, reason: str
) -> AuditEntry:
    """The approver named on the import does not stand by it: it is lifted now."""
    _require_text(reason, "a reason for withdrawing")
    provenance = _awaiting_import(restriction, actor, "withdraw")
    _move(restriction, S.LIFTED, "withdraw")
    restriction.ended_at = now
    restriction.end_reason = reason
    provenance.state = ImportConfirmation.WITHDRAWN
    provenance.settled_at = now
    return audit(actor, AuditAction.RESTRICTION_IMPORT_WITHDRAWN, restriction, now)


def _awaiting_import(restriction: Restriction, actor: Actor, verb: str) -> ImportedRestriction:
    _require_role(actor, Permission.APPROVE, f"{verb} an imported restriction")
    provenance = restriction.imported
    if provenance is None:
        raise TransitionRefused(f"cannot {verb} {restriction.reference}: it was not imported")
    if provenance.state is not ImportConfirmation.AWAITING:
        raise TransitionRefused(
            f"cannot {verb} {restriction.reference}: it is {provenance.state.value} already"
        )
    if actor.user_id != provenance.confirmer_id:
        raise TransitionRefused(
            f"cannot {verb} {restriction.reference}: it is on the work list of the approver "
            "named on the import"
        )
    return provenance


def vary(
    restriction: Restriction,
    actor: Actor,
    now: dt.datetime,
    changes: dict[str, Any],
    *,
    today: dt.date,
    reason: str,
    rules: ApprovalRules = ANY_APPROVER,
) -> tuple[Restriction, AuditEntry]:
    """End the current terms and start new ones under the same reference.

    The old row keeps the terms that applied until today, for any appeal about that time.
    Varying to a stage needs the level of approver that stage needs.
    """
    _require_role(actor, Permission.VARY, "vary a restriction")
    new_stage = changes.get("stage", restriction.stage)
    _refuse(rules.level_refusal(actor.role, new_stage, restriction.reference))
    business_case = changes.get("business_case", restriction.business_case)
    _refuse(rules.business_case_refusal(new_stage, business_case, restriction.reference))
    _require_text(reason, "a reason for the variation")
    unknown = sorted(set(changes) - VARIABLE_TERMS)
    if unknown:
        raise TransitionRefused(
            f"cannot vary {restriction.reference}: {unknown[0]} cannot be changed by a variation"
        )
    if actor.user_id is not None and actor.user_id == restriction.proposed_by_id:
        raise TransitionRefused(f"cannot vary {restriction.reference}: the approver proposed it")
    _move(restriction, S.VARIED, "vary")
    successor = _successor(restriction, changes, actor, now, today)
    restriction.ended_at = now
    restriction.end_reason = reason
    restriction.superseded_by = successor
    changed = {k: "(changed)" if k in FREE_TEXT_TERMS else _plain(v) for k, v in changes.items()}
    return successor, audit(
        actor,
        AuditAction.RESTRICTION_VARIED,
        restriction,
        now,
        revision=successor.revision,
        changes=changed,
    )


def _successor(
    old: Restriction, changes: dict[str, Any], actor: Actor, now: dt.datetime, today: dt.date
) -> Restriction:
    copied = {name: getattr(old, name) for name in VARIABLE_TERMS}
    copied.update(changes)
    return Restriction(
        reference=old.reference,
        revision=old.revision + 1,
        customer=old.customer,
        status=S.ACTIVE,
        # A variation of a restriction that has not started yet must not bring it forward.
        starts_on=max(old.starts_on, today),
        scope_all=old.scope_all,
        services=list(old.services),
        proposed_by_id=old.proposed_by_id,
        proposed_at=old.proposed_at,
        approved_by_id=actor.user_id,
        approved_at=now,
        notified_on=old.notified_on,
        appeal_deadline=old.appeal_deadline,
        next_review_on=old.next_review_on,
        last_reviewed_on=old.last_reviewed_on,
        legal_hold=old.legal_hold,
        legal_hold_reason=old.legal_hold_reason,
        no_prior_involvement=old.no_prior_involvement,
        **copied,
    )


def lift(restriction: Restriction, actor: Actor, now: dt.datetime, reason: str) -> AuditEntry:
    """An approver who did not propose it ends a restriction early."""
    _require_role(actor, Permission.LIFT, "lift a restriction")
    _require_text(reason, "a reason for lifting")
    if actor.user_id is not None and actor.user_id == restriction.proposed_by_id:
        raise TransitionRefused(f"cannot lift {restriction.reference}: the approver proposed it")
    _move(restriction, S.LIFTED, "lift")
    restriction.ended_at = now
    restriction.end_reason = reason
    return audit(actor, AuditAction.RESTRICTION_LIFTED, restriction, now)


def withdraw(restriction: Restriction, actor: Actor, now: dt.datetime, reason: str) -> AuditEntry:
    """A caseworker or approver withdraws a proposal that will not go ahead. It never came
    into force; like an ended restriction it is kept on file, then purged with the person's
    records when the retention period ends."""
    _require_role(actor, Permission.PROPOSE, "withdraw a proposal")
    _require_text(reason, "a reason for withdrawing the proposal")
    return _withdrawn(restriction, actor, now, reason)


def abandon(restriction: Restriction, now: dt.datetime, *, idle_months: int) -> AuditEntry:
    """The system withdraws a proposal nobody has touched for `idle_months`: a draft left
    alone would otherwise keep the person's records for ever."""
    if restriction.updated_at + relativedelta(months=idle_months) > now:
        raise TransitionRefused(
            f"cannot withdraw {restriction.reference}: it changed in the last {idle_months} months"
        )
    reason = f"withdrawn by the system: unchanged for {idle_months} months"
    return _withdrawn(restriction, Actor.system(), now, reason)


def _withdrawn(restriction: Restriction, actor: Actor, now: dt.datetime, reason: str) -> AuditEntry:
    _move(restriction, S.WITHDRAWN, "withdraw")
    restriction.ended_at = now
    restriction.end_reason = reason
    return audit(actor, AuditAction.RESTRICTION_WITHDRAWN, restriction, now)


def expire(restriction: Restriction, now: dt.datetime, today: dt.date) -> AuditEntry:
    """The system ends a restriction whose end date has passed."""
    if restriction.ends_on is None or restriction.ends_on >= today:
        raise TransitionRefused(
            f"cannot expire {restriction.reference}: its end date has not passed"
        )
    _move(restriction, S.EXPIRED, "expire")
    restriction.ended_at = now
    restriction.end_reason = f"ended on {restriction.ends_on.isoformat()}"
    return audit(Actor.system(), AuditAction.RESTRICTION_EXPIRED, restriction, now)


def make_dormant(restriction: Restriction, now: dt.datetime) -> AuditEntry:
    """An ended restriction is kept on file, unenforced, until its retention period ends."""
    _move(restriction, S.DORMANT, "make dormant")
    restriction.dormant_since = now
    return audit(Actor.system(), AuditAction.RESTRICTION_DORMANT, restriction, now)


def purge(restriction: Restriction, now: dt.datetime, *, retention_months: int) -> AuditEntry:
    """Remove the personal content of a restriction dormant for the whole retention period."""
    if restriction.legal_hold:
        raise TransitionRefused(f"cannot purge {restriction.reference}: it is under legal hold")
    if restriction.dormant_since is None or (
        restriction.dormant_since + relativedelta(months=retention_months) > now
    ):
        raise TransitionRefused(
            f"cannot purge {restriction.reference}: its retention period has not ended"
        )
    _move(restriction, S.PURGED, "purge")
    for name in (
        "reason",
        "confidential_notes",
        "spoc_name",
        "spoc_email",
        "spoc_phone",
        "phone_windows",
        "end_reason",
        "legal_hold_reason",
        "business_case",
    ):
        setattr(restriction, name, None)
    restriction.exempt_addresses = []
    restriction.customer = None
    restriction.reviews.clear()
    restriction.letters.clear()
    restriction.appeals.clear()
    restriction.purged_at = now
    return audit(Actor.system(), AuditAction.RESTRICTION_PURGED, restriction, now)


def set_legal_hold(
    restriction: Restriction, actor: Actor, now: dt.datetime, *, hold: bool, reason: str
) -> AuditEntry:
    """Keep (or stop keeping) a restriction past its retention period, for a legal reason."""
    _require_role(actor, Permission.LEGAL_HOLD, "change a legal hold")
    _require_text(reason, "a reason for the legal hold change")
    if restriction.status is S.PURGED:
        raise TransitionRefused(f"cannot hold {restriction.reference}: it has been purged")
    if restriction.legal_hold == hold:
        state = "already under" if hold else "not under"
        raise TransitionRefused(f"{restriction.reference} is {state} a legal hold")
    restriction.legal_hold = hold
    # Why it is held and, once released, why it was released as well: the audit entry
    # names only the step (free text stays out of the append-only log), so the reasons are
    # kept here, and purged with the rest of the record's words.
    restriction.legal_hold_reason = (
        reason if hold else f"{restriction.legal_hold_reason or ''}\nReleased: {reason}".strip()
    )
    action = (
        AuditAction.RESTRICTION_LEGAL_HOLD_SET
        if hold
        else AuditAction.RESTRICTION_LEGAL_HOLD_RELEASED
    )
    return audit(actor, action, restriction, now)


def set_retention_category(
    restriction: Restriction, actor: Actor, now: dt.datetime, category: RetentionCategory | None
) -> AuditEntry:
    """Keep a restriction, and with it the person's records, beyond the usual retention
    period for a reason the policy allows (information governance decides), or stop."""
    _require_role(actor, Permission.RETENTION_CATEGORY, "keep a case beyond its retention")
    if restriction.status is S.PURGED:
        raise TransitionRefused(f"cannot keep {restriction.reference}: it has been purged")
    restriction.retention_category = category
    return audit(
        actor,
        AuditAction.RESTRICTION_RETENTION_CATEGORY_SET,
        restriction,
        now,
        category=category.value if category else None,
    )


def record_review(
    restriction: Restriction,
    actor: Actor,
    now: dt.datetime,
    *,
    today: dt.date,
    outcome: ReviewOutcome,
    notes: str | None = None,
) -> tuple[Review, AuditEntry]:
    """Record a scheduled review; a decision to continue sets the next review date."""
    _require_role(actor, Permission.REVIEW, "record a review")
    if restriction.status is not S.ACTIVE:
        raise TransitionRefused(
            f"cannot review {restriction.reference}: it is "
            f"{restriction.status.value.replace('_', ' ')}, not active"
        )
    if actor.user_id is not None and actor.user_id == restriction.proposed_by_id:
        raise TransitionRefused(f"cannot review {restriction.reference}: the reviewer proposed it")
    review = Review(reviewed_on=today, reviewer_id=actor.user_id, outcome=outcome, notes=notes)
    restriction.reviews.append(review)
    restriction.last_reviewed_on = today
    restriction.next_review_on = next_review_date(today, restriction.review_every_months)
    return review, audit(
        actor, AuditAction.RESTRICTION_REVIEWED, restriction, now, outcome=outcome.value
    )


def audit(
    actor: Actor, action: AuditAction, restriction: Restriction, now: dt.datetime, **detail: Any
) -> AuditEntry:
    """The append-only record of a change; it names the restriction, not the person."""
    return audit_entry(
        action,
        actor=actor.name,
        at=now,
        subject_type="restriction",
        subject_ref=f"{restriction.reference}/{restriction.revision}",
        detail={"status": restriction.status.value, **detail},
    )


def _move(restriction: Restriction, target: RestrictionStatus, verb: str) -> None:
    current = restriction.status
    if target not in ALLOWED_MOVES[current]:
        raise TransitionRefused(
            f"cannot {verb} {restriction.reference}: it is {current.value.replace('_', ' ')}"
        )
    restriction.status = target


def _require_role(actor: Actor, permission: Permission, what: str) -> None:
    roles = WHO_MAY[permission]
    if actor.role not in roles:
        names = [_with_article(r.value) for r in Role if r in roles]
        needed = " or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
        raise TransitionRefused(f"only {needed} may {what}")


def _with_article(noun: str) -> str:
    noun = noun.replace("_", " ")
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def _refuse(refusal: str | None) -> None:
    if refusal is not None:
        raise TransitionRefused(refusal)


def _require_text(text: str | None, what: str) -> None:
    if not text or not text.strip():
        raise TransitionRefused(f"{what} is required")


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value
