"""The council's services: named sets of mailboxes and lines a restriction can be scoped to.

Adding a service or changing its mailboxes and lines changes what a scoped restriction
covers, so each change is audited and bumps the register version: every process's
decisions follow within seconds (this one at once, when the caller invalidates its cache).
The mailboxes and lines are the council's own, not a person's, so the audit entry names
them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from gateway.services.register_service import RegisterError
from gateway.services.volume import forget_service_map
from gateway.store import repository
from routing.audit import AuditAction, audit_entry
from routing.enums import IdentityKind
from routing.identity import display_phone, normalise_email, normalise_phone
from routing.models import Service, ServiceAddress

NAME_LENGTH = 100
# The register CSV lists services separated by ";" and writes "all" for every service, so
# neither can be part of a name.
_RESERVED_NAME = "all"
_SEPARATOR = ";"


@dataclass(frozen=True, slots=True)
class ServiceTerms:
    """A service as someone typed it: the mailboxes and lines are not yet normalised."""

    name: str
    mailboxes: Sequence[str] = ()
    lines: Sequence[str] = ()
    description: str | None = None


@dataclass(frozen=True, slots=True)
class ServiceLine:
    """One service as the list shows it."""

    id: int
    name: str
    description: str | None
    mailboxes: tuple[str, ...]
    lines: tuple[str, ...]  # as staff dial them
    restrictions_in_force: int = 0


def add_service(
    session: Session, terms: ServiceTerms, *, actor: str, now: dt.datetime, region: str = "GB"
) -> Service:
    """Create a service; refused (RegisterError) for a duplicate name or a bad address."""
    name = _checked_name(session, terms.name, keeping=None)
    addresses = _normalised_addresses(terms, region)
    service = Service(name=name, description=_description(terms.description))
    service.addresses = [ServiceAddress(kind=kind, value=value) for kind, value in addresses]
    session.add(service)
    session.flush()
    _changed(session, AuditAction.SERVICE_CREATED, service, actor, now, added=addresses)
    return service


def change_service(
    session: Session,
    service_id: int,
    terms: ServiceTerms,
    *,
    actor: str,
    now: dt.datetime,
    region: str = "GB",
) -> Service:
    """Rename a service or change its mailboxes and lines to exactly those given."""
    service = repository.service_for_update(session, service_id)
    if service is None:
        raise RegisterError(f"no service with id {service_id}")
    old_name = service.name
    service.name = _checked_name(session, terms.name, keeping=service)
    service.description = _description(terms.description)
    wanted = _normalised_addresses(terms, region)
    current = {(a.kind, a.value): a for a in service.addresses}
    # Only what changed is removed or added: a row kept is not deleted and re-inserted.
    for key in set(current) - set(wanted):
        service.addresses.remove(current[key])
    added = [key for key in wanted if key not in current]
    service.addresses.extend(ServiceAddress(kind=kind, value=value) for kind, value in added)
    session.flush()
    removed = sorted(set(current) - set(wanted))
    _changed(
        session,
        AuditAction.SERVICE_CHANGED,
        service,
        actor,
        now,
        added=added,
        removed=removed,
        renamed_from=old_name if old_name != service.name else None,
    )
    return service


def list_services(session: Session) -> list[ServiceLine]:
    """Every service by name, with its mailboxes, lines and restrictions in force."""
    in_force = repository.restrictions_in_force_per_service(session)
    return [_line(service, in_force.get(service.id, 0)) for service in _all(session)]


def service_line(session: Session, service_id: int) -> ServiceLine | None:
    service = repository.service_for_update(session, service_id)
    return None if service is None else _line(service, 0)


def _all(session: Session) -> Sequence[Service]:
    return repository.services_with_addresses(session)


def _line(service: Service, in_force: int) -> ServiceLine:
    def values(kind: IdentityKind) -> list[str]:
        return sorted(a.value for a in service.addresses if a.kind is kind)

    return ServiceLine(
        id=service.id,
        name=service.name,
        description=service.description,
        mailboxes=tuple(values(IdentityKind.EMAIL)),
        lines=tuple(display_phone(v) for v in values(IdentityKind.PHONE)),
        restrictions_in_force=in_force,
    )


def _checked_name(session: Session, raw: str, *, keeping: Service | None) -> str:
    name = " ".join((raw or "").split())
    if not name:
        raise RegisterError("a service needs a name")
    if len(name) > NAME_LENGTH:
        raise RegisterError(f"a service name can be at most {NAME_LENGTH} characters")
    if _SEPARATOR in name or name.lower() == _RESERVED_NAME:
        raise RegisterError(
            f"a service name cannot contain {_SEPARATOR!r} or be {_RESERVED_NAME!r}"
        )
    existing = repository.service_by_name_folded(session, name)
    if existing is not None and existing is not keeping:
        raise RegisterError(f"a service called {existing.name!r} already exists")
    return name


def _normalised_addresses(terms: ServiceTerms, region: str) -> list[tuple[IdentityKind, str]]:
    """(kind, normalised value) for each mailbox and line, in order, without repeats."""
    found: list[tuple[IdentityKind, str]] = []
    for raw in _cleaned(terms.mailboxes):
        email = normalise_email(raw)
        if not email.ok or email.value is None:
            raise RegisterError(f"{raw!r} is not an email address")
        found.append((IdentityKind.EMAIL, email.value))
    for raw in _cleaned(terms.lines):
        phone = normalise_phone(raw, region=region)
        if not phone.ok or phone.value is None:
            raise RegisterError(f"{raw!r} is not a phone number")
        found.append((IdentityKind.PHONE, phone.value))
    if not found:
        raise RegisterError("give the service at least one mailbox or phone line")
    return list(dict.fromkeys(found))


def _cleaned(values: Iterable[str]) -> list[str]:
    return [v.strip() for v in values if v and v.strip()]


def _description(text: str | None) -> str | None:
    return (text or "").strip() or None


def _changed(
    session: Session,
    action: AuditAction,
    service: Service,
    actor: str,
    now: dt.datetime,
    **detail: object,
) -> None:
    session.add(
        audit_entry(
            action,
            actor=actor,
            at=now,
            subject_type="service",
            subject_ref=str(service.id),
            detail={"name": service.name, **{k: _plain(v) for k, v in detail.items()}},
        )
    )
    # A scoped restriction's reach is read into the register snapshot: every process reloads.
    repository.bump_register_version(session)
    forget_service_map()


def _plain(value: object) -> object:
    if isinstance(value, list):
        return [f"{kind.value} {address}" for kind, address in value]
    return value
