"""Legal holds from the retention page, through the real app, database and periodic upkeep:
an admin places a hold on a reference (every revision) with a reason, the purge then leaves
it alone, and releasing it (with a reason) lets the purge go ahead. Each change is audited,
by reference, without the reason text."""

from __future__ import annotations

from collections.abc import Callable

from dateutil.relativedelta import relativedelta
from sqlalchemy import select

from gateway.runtime import Runtime
from gateway.services import maintenance, register_service
from routing.enums import PhoneMeasure, RestrictionStatus
from routing.lifecycle import Actor
from routing.models import AuditEntry, Restriction, utcnow
from tests.web.conftest import ADMIN, APPROVER, MANAGER, SECOND_APPROVER, Register
from tests.web.helpers import StaffClient, text_of

HOLD_REASON = "Tribunal claim lodged (test)"
RELEASE_REASON = "Claim withdrawn (test)"


def _revisions(rt: Runtime, reference: str) -> list[Restriction]:
    with rt.uow() as session:
        query = select(Restriction).where(Restriction.reference == reference)
        return list(session.scalars(query.order_by(Restriction.revision)))


def _audit(rt: Runtime, action: str) -> list[AuditEntry]:
    with rt.uow() as session:
        query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        return list(session.scalars(query))


def _ended_long_ago(rt: Runtime, register: Register, staff: dict[str, Actor]) -> None:
    """Vary the restriction in force (two revisions), lift it, and let both revisions lie
    dormant for longer than the retention period."""
    now = utcnow()
    with rt.uow() as session:
        successor = register_service.vary(
            session,
            staff[SECOND_APPROVER],
            now,
            register.active_id,
            {"phone_measure": PhoneMeasure.BARRED},
            today=rt.today(now),
            reason="Calls continued (test)",
        )
        session.flush()
        register_service.lift(session, staff[APPROVER], now, successor.id, reason="Ended (test)")
    long_ago = now - relativedelta(months=rt.settings.retention_months + 1)
    with rt.uow() as session:
        for restriction in session.scalars(
            select(Restriction).where(Restriction.reference == register.reference)
        ):
            restriction.status = RestrictionStatus.DORMANT
            restriction.dormant_since = long_ago


def test_a_hold_placed_on_the_retention_page_stops_the_purge_until_released(
    rt: Runtime,
    register: Register,
    staff: dict[str, Actor],
    client_for: Callable[[str], StaffClient],
) -> None:
    _ended_long_ago(rt, register, staff)
    admin = client_for(ADMIN)
    placed = admin.post(
        "/retention/holds/new",
        {"reference": register.reference.lower(), "reason": HOLD_REASON},
        follow_redirects=True,
    )
    assert f"{register.reference} is under a legal hold." in text_of(placed)
    assert HOLD_REASON in text_of(placed)
    revisions = _revisions(rt, register.reference)
    assert len(revisions) == 2
    assert all(r.legal_hold and r.legal_hold_reason == HOLD_REASON for r in revisions)

    assert maintenance.purge_after_retention(rt, utcnow()) == 0
    assert {r.status for r in _revisions(rt, register.reference)} == {RestrictionStatus.DORMANT}

    release_link = f'href="/retention/holds/release?reference={register.reference}"'
    assert release_link in text_of(placed)
    form = text_of(admin.get(f"/retention/holds/release?reference={register.reference}"))
    assert f'value="{register.reference}"' in form  # the reference comes filled in
    released = admin.post(
        "/retention/holds/release",
        {"reference": register.reference, "reason": RELEASE_REASON},
        follow_redirects=True,
    )
    assert f"{register.reference} is no longer under a legal hold." in text_of(released)
    assert "No restriction is under a legal hold." in text_of(released)
    kept = _revisions(rt, register.reference)
    both = f"{HOLD_REASON}\nReleased: {RELEASE_REASON}"  # why held, and why released
    assert all(not r.legal_hold and r.legal_hold_reason == both for r in kept)

    assert maintenance.purge_after_retention(rt, utcnow()) == 2
    purged = _revisions(rt, register.reference)
    assert {r.status for r in purged} == {RestrictionStatus.PURGED}
    assert {r.legal_hold_reason for r in purged} == {None}


def test_each_hold_change_is_audited_per_revision_without_its_reason(
    rt: Runtime,
    register: Register,
    staff: dict[str, Actor],
    client_for: Callable[[str], StaffClient],
) -> None:
    _ended_long_ago(rt, register, staff)
    admin = client_for(ADMIN)
    admin.post("/retention/holds/new", {"reference": register.reference, "reason": HOLD_REASON})
    admin.post(
        "/retention/holds/release", {"reference": register.reference, "reason": RELEASE_REASON}
    )
    held, released = (
        _audit(rt, "restriction.legal_hold_set"),
        _audit(rt, "restriction.legal_hold_released"),
    )
    refs = [f"{register.reference}/1", f"{register.reference}/2"]
    for entries in (held, released):
        assert [(e.actor, e.subject_ref, e.source) for e in entries] == [
            (ADMIN, ref, "web 127.0.0.1") for ref in refs
        ]
        assert all("test" not in str(e.detail) for e in entries)  # no reason text


def test_a_hold_needs_a_known_reference_and_a_reason(
    rt: Runtime, register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    admin = client_for(ADMIN)
    no_reason = admin.post("/retention/holds/new", {"reference": register.reference})
    assert no_reason.status_code == 400
    assert '<a href="#reason">Enter the reason</a>' in text_of(no_reason)
    unknown = admin.post(
        "/retention/holds/new", {"reference": "CCR-1999-0001", "reason": HOLD_REASON}
    )
    assert unknown.status_code == 400
    assert "No restriction has the reference CCR-1999-0001" in text_of(unknown)
    not_held = admin.post(
        "/retention/holds/release", {"reference": register.reference, "reason": "Tidy up"}
    )
    assert not_held.status_code == 400
    assert f"{register.reference} is not under a legal hold" in text_of(not_held)
    assert not any(r.legal_hold for r in _revisions(rt, register.reference))
    assert _audit(rt, "restriction.legal_hold_set") == []


def test_only_admins_change_holds_from_the_web(
    rt: Runtime, register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    form = {"reference": register.reference, "reason": HOLD_REASON}
    for email in (MANAGER, APPROVER):
        assert client_for(email).post("/retention/holds/new", form).status_code == 403
    assert not any(r.legal_hold for r in _revisions(rt, register.reference))


def test_a_held_restriction_still_in_force_is_listed_with_its_reason(
    register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    admin = client_for(ADMIN)
    admin.post("/retention/holds/new", {"reference": register.reference, "reason": HOLD_REASON})
    page = text_of(admin.get("/retention"))
    assert register.reference in page and HOLD_REASON in page and "Not ended" in page
    assert page.count("Release<span") == 1  # one release link per reference
