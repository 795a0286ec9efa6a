"""Lists that show personal data are audited when looked at, through the real app and
database: the call flags (callers' names and the lines they rang), staff accounts and API
tokens (admin views), retention's legal holds and the reviews due. One entry per page view,
naming the filter used, never what the list showed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import select

from gateway.runtime import Runtime
from gateway.services import accounts
from routing.enums import FlagKind, IdentityKind, PhoneMeasure
from routing.lifecycle import Actor
from routing.models import AuditEntry, utcnow
from tests.integration.register_helpers import impose_restriction
from tests.web.conftest import ADMIN, AGENT, APPROVER, MANAGER, STAFF, Register
from tests.web.helpers import StaffClient
from tests.web.page_data import call_in, earlier_today

CALLER = "07700 900456"


def _entries(rt: Runtime, action: str) -> list[AuditEntry]:
    with rt.uow() as session:
        query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        return list(session.scalars(query))


def test_each_look_at_the_call_flags_is_audited_by_its_filter(
    rt: Runtime, staff: dict[str, Actor], client_for: Callable[[str], StaffClient]
) -> None:
    impose_restriction(
        rt,
        staff[MANAGER],
        staff[APPROVER],
        [(CALLER, IdentityKind.PHONE)],
        phone_measure=PhoneMeasure.BARRED,
    )
    assert call_in(rt, CALLER, earlier_today(rt, 5)) == [FlagKind.PHONE_BARRED]
    agent = client_for(AGENT)
    today = rt.today()
    week_ago = today - dt.timedelta(days=6)
    assert agent.get("/call-flags").status_code == 200
    chosen = f"/call-flags?start={today}&end={today}&kind=outside_window"
    assert agent.get(chosen).status_code == 200

    default, filtered = _entries(rt, "call_flags.listed")
    assert (default.actor, default.subject_type, default.source) == (
        AGENT,
        "call_flags",
        "web 127.0.0.1",
    )
    assert default.detail == {
        "first": week_ago.isoformat(),
        "last": today.isoformat(),
        "kind": None,
        "offset": 0,
        "shown": 1,
    }
    assert filtered.detail["kind"] == "outside_window" and filtered.detail["shown"] == 0
    # The numbers and names the page showed are not in the audit log.
    assert "7700" not in str(default.detail) and "Jo" not in str(default.detail)


def test_each_look_at_the_staff_accounts_is_audited(
    rt: Runtime, staff: dict[str, Actor], client_for: Callable[[str], StaffClient]
) -> None:
    admin = client_for(ADMIN)
    for _ in range(2):
        assert admin.get("/users").status_code == 200
    entries = _entries(rt, "users.listed")
    assert len(entries) == 2
    assert [(e.actor, e.subject_type, e.subject_ref, e.source) for e in entries] == [
        (ADMIN, "users", None, "web 127.0.0.1")
    ] * 2
    assert entries[0].detail == {"shown": len(STAFF) + 1}  # and the second approver
    assert "@" not in str(entries[0].detail)


def test_each_look_at_the_api_tokens_is_audited(
    rt: Runtime, staff: dict[str, Actor], client_for: Callable[[str], StaffClient]
) -> None:
    with rt.uow() as session:
        accounts.add_token(
            session, name="screen-pop", scopes=["lookup"], actor="test", now=utcnow()
        )
    assert client_for(ADMIN).get("/api-tokens").status_code == 200
    [entry] = _entries(rt, "tokens.listed")
    assert (entry.actor, entry.subject_type, entry.detail) == (ADMIN, "tokens", {"shown": 1})
    assert "screen-pop" not in str(entry.detail)


def test_looking_at_retention_and_the_reviews_due_is_audited(
    rt: Runtime, register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    assert client_for(ADMIN).get("/retention").status_code == 200
    [retention] = _entries(rt, "retention.listed")
    assert (retention.actor, retention.detail) == (ADMIN, {"shown": 0})

    assert client_for(MANAGER).get("/reviews-due").status_code == 200
    [reviews] = _entries(rt, "register.reviews_listed")
    horizon = rt.today() + dt.timedelta(days=14)
    assert (reviews.actor, reviews.subject_type) == (MANAGER, "register")
    assert reviews.detail == {"until": horizon.isoformat(), "offset": 0, "shown": 0}
