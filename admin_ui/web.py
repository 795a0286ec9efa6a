"""What every staff page needs from the request: the runtime, the clock, the acting staff member,
and a unit of work whose audit entries say where the request came from."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app, g, request
from sqlalchemy.orm import Session

from gateway.runtime import Runtime
from gateway.store.db import stamp_audit_source
from routing.audit import AuditAction, audit_entry
from routing.lifecycle import Actor
from routing.models import AuditEntry

# audit_entries.source is 64 characters: "web " and the longest IPv6 text (45) fit.
_SOURCE_PREFIX = "web "


def runtime() -> Runtime:
    return current_app.config["CCR_RUNTIME"]


def now() -> dt.datetime:
    """The current time (a test's clock when the app was given one as CCR_CLOCK)."""
    clock = current_app.config.get("CCR_CLOCK")
    return clock() if clock else dt.datetime.now(dt.UTC)


def today() -> dt.date:
    """The council's calendar date now."""
    return runtime().today(now())


def request_source() -> str:
    """Where the request came from, for the audit log: "web <remote address>"."""
    return _SOURCE_PREFIX + (request.remote_addr or "unknown")


def actor() -> Actor:
    """The signed-in staff member as the register's Actor (inside a require_role view)."""
    staff = g.staff
    return Actor(staff.email, staff.role, staff.id)


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """One transaction for the request; every audit entry written in it gets the request's
    source, including those written deep inside the register service."""
    source = request_source()
    with runtime().uow() as session:
        stamp_audit_source(session, source)
        yield session


def list_viewed(action: AuditAction, subject_type: str, **detail: object) -> AuditEntry:
    """The audit entry for one look at a list that shows personal data (staff accounts,
    tokens, call flags...): who looked and with which filter, never what the list held."""
    return staff_audit(action, subject_type, None, **detail)


def staff_audit(
    action: AuditAction, subject_type: str, subject_ref: str | None, **detail: object
) -> AuditEntry:
    """An audit entry by the signed-in staff member, now (inside a require_role view)."""
    return audit_entry(
        action,
        actor=g.staff.email,
        at=now(),
        subject_type=subject_type,
        subject_ref=subject_ref,
        detail=detail,
    )


def register_changed() -> None:
    """Reload this process's register now; other processes follow within seconds."""
    runtime().register.invalidate()


def runtime_for_request() -> Runtime:
    """The runtime, for gateway functions that take one and open their own unit of work
    (register export, dead-letter retry): their audit entries then get the request's
    source too. Everything but `uow` is the process's runtime itself."""
    request_rt = copy.copy(runtime())
    request_rt.uow = unit_of_work  # type: ignore[method-assign]
    return request_rt
