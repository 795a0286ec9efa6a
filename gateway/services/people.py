"""People's rights over what is held on them: seeing it, correcting it, erasing it.

An information-governance officer opens a person (a customer with every address and number
linked to them, or one address or number no customer holds), corrects or unlinks an address
or number, or erases the person. Erasure is refused while anything keeps the record: a
restriction not yet purged (in force, ended and waiting out its retention period, or kept
by a legal hold or a retention category). Every look and every change is audited by ids
and counts, never by the addresses, numbers or names themselves.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from gateway.services.retention import delete_person_records, in_chunks
from gateway.store import people, repository, retention
from gateway.store.people import PersonRecord
from routing.audit import AuditAction, audit_entry
from routing.enums import IdentityKind, RestrictionStatus
from routing.identity import normalise
from routing.lifecycle import Actor
from routing.models import Alert, AuditEntry, ContactEvent, Identity, Restriction
from routing.roles import Permission, may


class RightsRefused(ValueError):
    """The change asked for cannot be made; the message says why, in plain English."""


class ErasureRefused(RightsRefused):
    """Something keeps the person's record: the reasons say what."""

    def __init__(self, reasons: Sequence[str]) -> None:
        self.reasons = tuple(reasons)
        super().__init__("This person cannot be erased: " + "; ".join(self.reasons) + ".")


PersonKept = ErasureRefused


class PersonMissing(LookupError):
    """No customer or identity has the id given."""


@dataclass(frozen=True)
class PersonOverview:
    """What the person's page shows: who they are, their restrictions, counts of the rest,
    and what (if anything) keeps them from being erased."""

    person: PersonRecord
    restrictions: Sequence[Restriction]
    contacts: int
    alerts: int
    kept_because: tuple[str, ...]

    @property
    def erasable(self) -> bool:
        return not self.kept_because


# --- finding the person ----------------------------------------------------------------------


def person_by_customer(session: Session, customer_id: int) -> PersonRecord:
    customer = people.customer_by_id(session, customer_id)
    if customer is None:
        raise PersonMissing(f"no customer with id {customer_id}")
    return people.person_of_customer(session, customer)


def person_by_identity(session: Session, identity_id: int) -> PersonRecord:
    """The person an identity belongs to: its customer's, or the identity alone."""
    identity = session.get(Identity, identity_id)
    if identity is None:
        raise PersonMissing(f"no address or number with id {identity_id}")
    if identity.customer is not None:
        return people.person_of_customer(session, identity.customer)
    return PersonRecord(None, (identity,))


def view_person(
    session: Session, actor: Actor, now: dt.datetime, person: PersonRecord
) -> PersonOverview:
    """The person's page, audited as a look at their record."""
    _require(actor, Permission.SUBJECT_ACCESS, "see a person's record here")
    restrictions = people.restrictions_of(session, person.customer.id) if person.customer else []
    overview = PersonOverview(
        person=person,
        restrictions=restrictions,
        contacts=people.count_of(session, ContactEvent, person),
        alerts=people.count_of(session, Alert, person),
        kept_because=kept_because(restrictions),
    )
    session.add(_person_audit(AuditAction.PERSON_VIEWED, actor, now, person))
    return overview


def record_search(session: Session, actor: Actor, now: dt.datetime, *, found: int) -> None:
    session.add(
        audit_entry(
            AuditAction.PEOPLE_SEARCHED,
            actor=actor.name,
            at=now,
            subject_type="people",
            detail={"results": found},
        )
    )


# --- rectification ---------------------------------------------------------------------------


def correct_identity(
    session: Session,
    actor: Actor,
    now: dt.datetime,
    identity_id: int,
    raw: str,
    *,
    fold_plus: bool,
    region: str,
) -> Identity:
    """Replace an address or number with the corrected one, normalised as the gateway would.
    Refused when the new value is not readable or is already held on a record."""
    _require(actor, Permission.RECTIFY, "correct an address or number")
    identity = _identity(session, identity_id)
    what = _what(identity.kind)
    corrected = normalise(raw, identity.kind, fold_plus=fold_plus, region=region)
    if not corrected.ok or corrected.value is None:
        raise RightsRefused(f"Enter a valid {what}")
    if corrected.value == identity.value:
        raise RightsRefused(f"That is the {what} already held: nothing to correct")
    holder = repository.find_identity(session, identity.kind, corrected.value)
    if holder is not None:
        raise RightsRefused(_held_elsewhere(identity, holder, what))
    identity.value = corrected.value
    session.add(
        _person_audit(
            AuditAction.IDENTITY_CORRECTED,
            actor,
            now,
            _owner(identity),
            identity_id=identity.id,
            kind=identity.kind.value,
        )
    )
    # The register cache maps addresses and numbers to restrictions: it must see the new one.
    repository.bump_register_version(session)
    session.flush()
    return identity


def _held_elsewhere(identity: Identity, holder: Identity, what: str) -> str:
    if identity.customer_id is not None and holder.customer_id == identity.customer_id:
        return f"This person already has that {what}: unlink or erase the wrong one instead"
    return f"That {what} is held on another person's record, so it cannot be given to this one"


def unlink_identity(session: Session, actor: Actor, now: dt.datetime, identity_id: int) -> int:
    """Take an address or number away from its customer: it becomes a lone identity and its
    contacts go with it. Returns the id of the customer it was taken from."""
    _require(actor, Permission.RECTIFY, "unlink an address or number")
    identity = _identity(session, identity_id)
    customer_id = identity.customer_id
    if customer_id is None:
        raise RightsRefused(f"This {_what(identity.kind)} is not linked to any customer")
    moved = people.detach_identity_contacts(session, identity.id, customer_id)
    identity.customer_id = None
    identity.linked_at = None
    session.add(
        audit_entry(
            AuditAction.IDENTITY_UNLINKED,
            actor=actor.name,
            at=now,
            subject_type="customer",
            subject_ref=str(customer_id),
            detail={"identity_id": identity.id, "kind": identity.kind.value, "contacts": moved},
        )
    )
    repository.bump_register_version(session)
    session.flush()
    return customer_id


# --- erasure ---------------------------------------------------------------------------------


def kept_because(restrictions: Sequence[Restriction]) -> tuple[str, ...]:
    """Why the person's record must be kept, one plain sentence per restriction (none: it
    may be erased). A purged restriction no longer names its customer, so is not here."""
    reasons: list[str] = []
    for restriction in restrictions:
        reason = _keeps(restriction)
        if reason is not None and reason not in reasons:
            reasons.append(reason)
    return tuple(reasons)


def _keeps(restriction: Restriction) -> str | None:
    reference = restriction.reference
    if restriction.status is RestrictionStatus.PURGED:
        return None
    if restriction.legal_hold:
        return f"{reference} is under a legal hold, which keeps the record until it is released"
    if restriction.retention_category is not None:
        why = restriction.retention_category.value.replace("_", " ")
        return f"{reference} is kept beyond the usual retention period ({why})"
    if restriction.status is RestrictionStatus.ACTIVE:
        return f"{reference} is in force"
    return f"{reference} is kept until its retention period ends and it is purged"


def erase_person(
    session: Session, actor: Actor, now: dt.datetime, person: PersonRecord
) -> dict[str, int]:
    """Delete the person's contacts, alerts and addresses and numbers, and blank their
    customer record, in the caller's unit of work. Returns the counts (audited)."""
    _require(actor, Permission.ERASE, "erase a person")
    if person.customer is not None:
        reasons = kept_because(people.restrictions_of(session, person.customer.id))
        if retention.live_alert_count(session, person.customer.id):
            reasons += (
                "an urgent alert about this person (a safeguarding concern, say) is still "
                "open: close it first",
            )
        reasons += _mail_waiting(session, people.person_event_ids(session, person))
        if reasons:
            raise ErasureRefused(reasons)
        deleted = delete_person_records(session, person.customer.id)
        person.customer.name = None
        person.customer.customer_ref = None
        session.expire(person.customer, ["identities"])
    else:
        deleted = _erase_lone_identity(session, person.identity_ids[0])
    session.add(_person_audit(AuditAction.PERSON_ERASED, actor, now, person, **deleted))
    repository.bump_register_version(session)
    session.flush()
    return deleted


def _mail_waiting(session: Session, event_ids: Sequence[int]) -> tuple[str, ...]:
    """A message from the person still on its way, or held as a dead letter, is not erased
    unread: it may be the very request the person is making."""
    _, unfinished = retention.mail_of_contacts(session, event_ids)
    if not unfinished:
        return ()
    count = f"{len(unfinished)} message{'s' if len(unfinished) > 1 else ''}"
    return (
        f"{count} from this person {'are' if len(unfinished) > 1 else 'is'} still on the way "
        "or waiting in the mail log as a dead letter: deliver or retry first",
    )


def _erase_lone_identity(session: Session, identity_id: int) -> dict[str, int]:
    event_ids, alert_ids = people.lone_identity_record_ids(session, identity_id)
    reasons = _mail_waiting(session, event_ids)
    if reasons:
        raise ErasureRefused(reasons)
    finished_mail, _ = retention.mail_of_contacts(session, event_ids)
    return {
        "mail_records": in_chunks(session, retention.delete_mail_records, finished_mail),
        "contacts": in_chunks(session, retention.delete_contacts, event_ids),
        "alerts": in_chunks(session, retention.delete_alerts, alert_ids),
        "identities": retention.delete_person_identities(session, [identity_id]),
    }


# --- shared ----------------------------------------------------------------------------------


def _require(actor: Actor, permission: Permission, what: str) -> None:
    if not may(actor.role, permission):
        raise RightsRefused(f"Only an information-governance officer may {what}")


def _identity(session: Session, identity_id: int) -> Identity:
    identity = people.identity_for_update(session, identity_id)
    if identity is None:
        raise PersonMissing(f"no address or number with id {identity_id}")
    return identity


def _owner(identity: Identity) -> PersonRecord:
    return PersonRecord(identity.customer, (identity,))


def _what(kind: IdentityKind) -> str:
    return "email address" if kind is IdentityKind.EMAIL else "phone number"


def _person_audit(
    action: AuditAction, actor: Actor, now: dt.datetime, person: PersonRecord, **detail: object
) -> AuditEntry:
    customer = person.customer
    return audit_entry(
        action,
        actor=actor.name,
        at=now,
        subject_type="customer" if customer is not None else "identity",
        subject_ref=str(customer.id if customer is not None else person.identity_ids[0]),
        detail=detail,
    )
