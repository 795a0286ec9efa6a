"""Changes to the register, each inside the caller's unit of work, each audited.

Every function here that changes what the decision engine sees bumps the register version,
so every process picks the change up on its next refresh.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

from sqlalchemy.orm import Session

from gateway.store import repository
from gateway.store.alerts import move_alerts_to_customer
from routing import lifecycle
from routing.approvals import ApprovalRules
from routing.audit import AuditAction, audit_entry
from routing.enums import IdentityKind, RestrictionStatus, RetentionCategory, ReviewOutcome
from routing.identity import NormalisedIdentity, normalise
from routing.lifecycle import ANY_APPROVER, Actor, TransitionRefused
from routing.models import AuditEntry, Customer, Identity, Restriction, Service
from routing.roles import Permission, may
from routing.terms import RestrictionDraft


class RegisterError(ValueError):
    """A register change that cannot be made; the message is one line for the user."""


def add_customer(
    session: Session,
    actor: Actor,
    now: dt.datetime,
    *,
    name: str | None,
    customer_ref: str | None = None,
) -> Customer:
    """A new person on the register (identities are linked separately)."""
    _require_register_role(actor, Permission.EDIT_CUSTOMERS, "add a customer")
    if customer_ref and repository.customer_by_ref(session, customer_ref):
        raise RegisterError(f"customer reference {customer_ref!r} is already in use")
    customer = Customer(name=name, customer_ref=customer_ref)
    session.add(customer)
    session.flush()
    session.add(_customer_audit(actor, AuditAction.CUSTOMER_CREATED, customer, now))
    return customer


def link_identity(
    session: Session,
    actor: Actor,
    now: dt.datetime,
    customer: Customer,
    identity: NormalisedIdentity,
) -> Identity:
    """Link an email address or phone number to a customer (creating it if new)."""
    _require_register_role(actor, Permission.EDIT_CUSTOMERS, "link an identity")
    if not identity.ok:
        raise RegisterError(
            f"{identity.kind} {identity.raw!r} is {identity.state}: "
            "only a readable address or number can be linked"
        )
    stored = repository.get_or_create_identity(session, identity)
    if stored.customer_id not in (None, customer.id):
        raise RegisterError(
            f"{identity.kind} {identity.value} already belongs to another "
            "customer; unlink it there first"
        )
    if stored.customer_id is None:
        stored.customer_id = customer.id
        stored.linked_at = now
        session.add(
            _customer_audit(
                actor,
                AuditAction.IDENTITY_LINKED,
                customer,
                now,
                kind=identity.kind.value,
                identity_id=stored.id,
            )
        )
        repository.bump_register_version(session)
        _volume_alerts_follow(session, stored.id, customer.id, now)
    return stored


def _volume_alerts_follow(
    session: Session, identity_id: int, customer_id: int, now: dt.datetime
) -> None:
    # Contact volume: an identity's alerts become its customer's, so linking by any route
    # (a manager, a register import, an escalation) leaves one alert per person and rule.
    session.flush()
    move_alerts_to_customer(session, [identity_id], customer_id, now)


def link_raw_identity(
    session: Session,
    actor: Actor,
    now: dt.datetime,
    customer: Customer,
    raw: str,
    kind: IdentityKind,
    *,
    fold_plus: bool,
    region: str,
) -> Identity:
    """Normalise, then link, an address or number as typed by a person or a spreadsheet."""
    identity = normalise(raw, kind, fold_plus=fold_plus, region=region)
    return link_identity(session, actor, now, customer, identity)


def draft_restriction(
    session: Session, actor: Actor, now: dt.datetime, customer: Customer, draft: RestrictionDraft
) -> Restriction:
    """Record proposed terms as a draft under a new CCR-<year>-NNNN reference."""
    _require_register_role(actor, Permission.PROPOSE, "draft a restriction")
    problems = draft.problems()
    if problems:
        raise RegisterError(str(problems[0]))
    terms = draft.normalised()
    restriction = Restriction(
        reference=_new_reference(session, now.year),
        customer=customer,
        status=RestrictionStatus.DRAFT,
        services=_services(session, terms.scope_services),
        scope_all=not terms.scope_services,
        **_restriction_fields(terms),
    )
    session.add(restriction)
    session.flush()
    session.add(
        lifecycle.audit(
            actor, AuditAction.RESTRICTION_DRAFTED, restriction, now, customer_id=customer.id
        )
    )
    return restriction


def _restriction_fields(terms: RestrictionDraft) -> dict[str, Any]:
    fields = dict(vars(terms))
    fields.pop("scope_services")
    return fields


def _services(session: Session, names: list[str]) -> list[Service]:
    services = []
    for name in names:
        service = repository.service_by_name(session, name)
        if service is None:
            raise RegisterError(f"unknown service {name!r}; add it before scoping to it")
        services.append(service)
    return services


def _new_reference(session: Session, year: int) -> str:
    return f"CCR-{year}-{repository.next_reference_number(session, year):04d}"


def submit(
    session: Session,
    actor: Actor,
    now: dt.datetime,
    restriction_id: int,
    *,
    rules: ApprovalRules = ANY_APPROVER,
) -> Restriction:
    restriction = _load(session, restriction_id)
    _apply(session, lifecycle.submit(restriction, actor, now, rules=rules))
    return restriction


def approve(
    session: Session,
    actor: Actor,
    now: dt.datetime,
    restriction_id: int,
    *,
    today: dt.date,
    appeal_days: int,
    rules: ApprovalRules = ANY_APPROVER,
    no_prior_involvement: bool = False,
) -> Restriction:
    """Bring a proposal into force: refused (TransitionRefused) when the approver proposed
    it, is too junior for its stage, or has not declared what the stage asks."""
    restriction = _load(session, restriction_id)
    entry = lifecycle.approve(
        restriction,
        actor,
        now,
        today=today,
        appeal_days=appeal_days,
        rules=rules,
        no_prior_involvement=no_prior_involvement,
    )
    _apply(session, entry, changes_register=True)
    return restriction


def vary(
    session: Session,
    actor: Actor,
    now: dt.datetime,
    restriction_id: int,
    changes: dict[str, Any],
    *,
    today: dt.date,
    reason: str,
    rules: ApprovalRules = ANY_APPROVER,
) -> Restriction:
    """End the current terms and bring varied ones into force under the same reference.

    The varied terms are checked and normalised before anything changes, exactly as a
    new proposal would be.
    """
    restriction = _load(session, restriction_id)
    unknown = sorted(set(changes) - lifecycle.VARIABLE_TERMS)
    if unknown:
        raise RegisterError(
            f"{unknown[0]} cannot be changed by a variation; scope changes need a new restriction"
        )
    varied = replace(_as_draft(restriction), **changes)
    problems = varied.problems()
    if problems:
        raise RegisterError(str(problems[0]))
    normalised = varied.normalised()
    clean = {name: getattr(normalised, name) for name in changes}
    successor, entry = lifecycle.vary(
        restriction, actor, now, clean, today=today, reason=reason, rules=rules
    )
    session.add(successor)
    _apply(session, entry, changes_register=True)
    return successor


def _as_draft(restriction: Restriction) -> RestrictionDraft:
    names = [n for n in RestrictionDraft.__dataclass_fields__ if n != "scope_services"]
    return RestrictionDraft(**{name: getattr(restriction, name) for name in names})


def lift(
    session: Session, actor: Actor, now: dt.datetime, restriction_id: int, *, reason: str
) -> Restriction:
    restriction = _load(session, restriction_id)
    _apply(session, lifecycle.lift(restriction, actor, now, reason), changes_register=True)
    return restriction


def withdraw(
    session: Session, actor: Actor, now: dt.datetime, restriction_id: int, *, reason: str
) -> Restriction:
    restriction = _load(session, restriction_id)
    _apply(session, lifecycle.withdraw(restriction, actor, now, reason))
    return restriction


def review(
    session: Session,
    actor: Actor,
    now: dt.datetime,
    restriction_id: int,
    *,
    today: dt.date,
    outcome: ReviewOutcome,
    notes: str | None = None,
) -> Restriction:
    restriction = _load(session, restriction_id)
    _review, entry = lifecycle.record_review(
        restriction, actor, now, today=today, outcome=outcome, notes=notes
    )
    _apply(session, entry)
    return restriction


def set_legal_hold(
    session: Session,
    actor: Actor,
    now: dt.datetime,
    restriction_id: int,
    *,
    hold: bool,
    reason: str,
) -> Restriction:
    restriction = _load(session, restriction_id)
    _apply(session, lifecycle.set_legal_hold(restriction, actor, now, hold=hold, reason=reason))
    return restriction


def set_legal_hold_on_reference(
    session: Session,
    actor: Actor,
    now: dt.datetime,
    reference: str,
    *,
    hold: bool,
    reason: str,
) -> list[Restriction]:
    """Hold (or release) every revision under a reference that is not yet purged: the terms
    that applied earlier are evidence too, and each revision is purged on its own. Each
    revision changed gets its own audit entry. Returns the revisions changed."""
    changing = [r for r in _kept_revisions(session, reference) if r.legal_hold != hold]
    if not changing:
        state = "already under" if hold else "not under"
        raise RegisterError(f"{reference} is {state} a legal hold")
    for restriction in changing:
        session.add(lifecycle.set_legal_hold(restriction, actor, now, hold=hold, reason=reason))
    session.flush()
    return changing


def set_retention_category_on_reference(
    session: Session,
    actor: Actor,
    now: dt.datetime,
    reference: str,
    category: RetentionCategory | None,
) -> list[Restriction]:
    """Keep every revision under a reference beyond the usual retention period for a reason
    the policy allows (or stop keeping it: None), as a legal hold does. Returns the
    revisions changed."""
    revisions = _kept_revisions(session, reference)
    changing = [r for r in revisions if r.retention_category != category]
    if not changing:
        state = f"already kept ({category.value.replace('_', ' ')})" if category else "not kept"
        raise RegisterError(f"{reference} is {state} beyond the usual retention period")
    for restriction in changing:
        session.add(lifecycle.set_retention_category(restriction, actor, now, category))
    session.flush()
    return changing


def _kept_revisions(session: Session, reference: str) -> list[Restriction]:
    """Every revision under a reference not yet purged, locked: the terms that applied
    earlier are evidence too, and each revision is purged on its own."""
    revisions = repository.revisions_for_update(session, reference)
    if not revisions:
        raise RegisterError(f"no restriction has the reference {reference}")
    kept = [r for r in revisions if r.status is not RestrictionStatus.PURGED]
    if not kept:
        raise RegisterError(f"{reference} has been purged: there is nothing left to keep")
    return kept


def _load(session: Session, restriction_id: int) -> Restriction:
    restriction = repository.restriction_for_update(session, restriction_id)
    if restriction is None:
        raise RegisterError(f"no restriction with id {restriction_id}")
    return restriction


def _apply(session: Session, entry: AuditEntry, *, changes_register: bool = False) -> None:
    session.add(entry)
    if changes_register:
        repository.bump_register_version(session)
    session.flush()


def _require_register_role(actor: Actor, permission: Permission, what: str) -> None:
    # Agents see lookups and call flags; changing who the register covers is for managers up.
    if not may(actor.role, permission):
        raise TransitionRefused(f"only a manager or an approver may {what}")


def _customer_audit(
    actor: Actor, action: AuditAction, customer: Customer, now: dt.datetime, **detail: Any
) -> AuditEntry:
    return audit_entry(
        action,
        actor=actor.name,
        at=now,
        subject_type="customer",
        subject_ref=str(customer.id),
        detail=detail,
    )
