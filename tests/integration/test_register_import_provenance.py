"""A register import records where each restriction came from, honestly, against a real
database: in force at once, approved by nobody here, with the file's approver, dates and
review date kept (an overdue review stays overdue), and waiting on the named approver's
work list to be confirmed or withdrawn, several at once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.runtime import Runtime
from gateway.services import import_confirmation
from gateway.services.register_csv import CsvImportError, import_register
from gateway.services.register_service import RegisterError
from gateway.store import web_queries
from routing.engine import Contact
from routing.enums import Channel, ImportConfirmation, Outcome, RestrictionStatus, Role
from routing.identity import normalise_email
from routing.lifecycle import Actor, TransitionRefused
from routing.models import Restriction
from tests.integration.test_register_csv import HEADER, write_csv
from tests.integration.test_register_csv import row as csv_row

APPROVER = "approver@council.example.org"
OTHER_APPROVER = "other.approver@council.example.org"
IMPORTED_BY = "cli:it-officer"
HOUSING = "housing@council.example.org"


@pytest.fixture
def approvers(make_staff: Callable[[str, Role], Actor]) -> dict[str, Actor]:
    return {
        APPROVER: make_staff(APPROVER, Role.APPROVER),
        OTHER_APPROVER: make_staff(OTHER_APPROVER, Role.SENIOR_APPROVER),
    }


def _import(rt: Runtime, path: Path, now: dt.datetime) -> None:
    import_register(rt, path, approved_by=APPROVER, imported_by=IMPORTED_BY, now=now)
    rt.register.invalidate()


def _three_rows(tmp_path: Path, overdue: dt.date) -> Path:
    return write_csv(
        tmp_path,
        HEADER,
        csv_row(
            customer_ref="P-1",
            emails="pat@example.org",
            approved_by="Sam Head of Service",
            approved_on="14/03/2025",
            decided_by="Complaints panel",
            next_review_on=overdue.isoformat(),
        ),
        csv_row(customer_ref="P-2", name="Lee Example", emails="lee@example.org"),
        csv_row(customer_ref="P-3", name="Kim Example", emails="kim@example.org"),
    )


def _restrictions(rt: Runtime) -> dict[str, Restriction]:
    with rt.uow() as session:
        found = session.scalars(select(Restriction)).all()
        # Read while the session is open: the test looks at them after it closes.
        return {r.customer.customer_ref: r for r in found if r.customer and r.imported}


def test_the_file_s_provenance_and_an_overdue_review_are_kept(
    rt: Runtime, approvers: dict[str, Actor], now: dt.datetime, tmp_path: Path
) -> None:
    overdue = rt.today(now) - dt.timedelta(days=20)
    _import(rt, _three_rows(tmp_path, overdue), now)

    with rt.uow() as session:
        first = session.scalar(select(Restriction).order_by(Restriction.id))
        assert first.status is RestrictionStatus.ACTIVE
        assert first.approved_by_id is None  # nobody approved it in this system
        given = first.imported
        assert (given.approved_by, given.approved_on, given.decided_by) == (
            "Sam Head of Service",
            dt.date(2025, 3, 14),
            "Complaints panel",
        )
        assert given.imported_by == IMPORTED_BY
        assert first.next_review_on == overdue  # not moved into the future
        due = web_queries.reviews_due(session, rt.today(now), limit=10)
        assert [r.reference for r in due.shown] == [first.reference]
        # Rows without a review date get their first review from today, as before.
        others = session.scalars(select(Restriction).where(Restriction.id != first.id)).all()
        assert all(r.next_review_on > rt.today(now) for r in others)


def test_every_row_needs_a_reason(
    rt: Runtime, approvers: dict[str, Actor], now: dt.datetime, tmp_path: Path
) -> None:
    path = write_csv(tmp_path, HEADER, csv_row(reason=""))
    with pytest.raises(CsvImportError) as refused:
        import_register(rt, path, approved_by=APPROVER, imported_by=IMPORTED_BY, now=now)
    assert refused.value.problems == ["line 2: reason: required: why the restriction was imposed"]


def test_the_named_approver_confirms_several_and_withdraws_one(
    rt: Runtime, approvers: dict[str, Actor], now: dt.datetime, tmp_path: Path
) -> None:
    _import(rt, _three_rows(tmp_path, rt.today(now)), now)
    named = approvers[APPROVER]
    by_ref = _restrictions(rt)
    with rt.uow() as session:
        assert import_confirmation.awaiting_count(session, named) == 3
        assert import_confirmation.awaiting_count(session, approvers[OTHER_APPROVER]) == 0
        settled = import_confirmation.confirm(
            session, named, now, [by_ref["P-1"].id, by_ref["P-2"].id]
        )
    assert len(settled.references) == 2
    assert _email_outcome(rt, "kim@example.org") is Outcome.FILE

    with rt.uow() as session:
        import_confirmation.withdraw(
            session, named, now, [by_ref["P-3"].id], reason="No record of the decision"
        )
    rt.register.invalidate()

    after = _restrictions(rt)
    assert after["P-1"].imported.state is ImportConfirmation.CONFIRMED
    assert after["P-3"].imported.state is ImportConfirmation.WITHDRAWN
    assert after["P-3"].status is RestrictionStatus.LIFTED
    assert after["P-3"].end_reason == "No record of the decision"
    assert _email_outcome(rt, "kim@example.org") is Outcome.DELIVER  # no longer enforced
    with rt.uow() as session:
        assert import_confirmation.awaiting_count(session, named) == 0


def test_only_the_named_approver_settles_and_only_once(
    rt: Runtime, approvers: dict[str, Actor], now: dt.datetime, tmp_path: Path
) -> None:
    _import(rt, _three_rows(tmp_path, rt.today(now)), now)
    chosen = [_restrictions(rt)["P-1"].id]
    with rt.uow() as session, pytest.raises(TransitionRefused, match="work list of the approver"):
        import_confirmation.confirm(session, approvers[OTHER_APPROVER], now, chosen)
    with rt.uow() as session, pytest.raises(TransitionRefused, match="a reason"):
        import_confirmation.withdraw(session, approvers[APPROVER], now, chosen, reason=" ")
    with rt.uow() as session, pytest.raises(RegisterError, match="tick at least one"):
        import_confirmation.confirm(session, approvers[APPROVER], now, [])
    with rt.uow() as session:
        import_confirmation.confirm(session, approvers[APPROVER], now, chosen)
    with rt.uow() as session, pytest.raises(TransitionRefused, match="confirmed already"):
        import_confirmation.withdraw(session, approvers[APPROVER], now, chosen, reason="late")
    assert _restrictions(rt)["P-1"].status is RestrictionStatus.ACTIVE


def _email_outcome(rt: Runtime, sender: str) -> Outcome:
    contact = Contact(Channel.EMAIL, (normalise_email(sender),), HOUSING, dt.datetime.now(dt.UTC))
    return rt.decide(contact).outcome
