"""Register CSV import and export against a real migrated database (SQLite, or PostgreSQL)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from gateway.bootstrap import bootstrap
from gateway.runtime import Runtime
from gateway.services import accounts, maintenance, register_csv, register_service
from gateway.services.register_csv import (
    CsvImportError,
    ImportSummary,
    export_register,
    import_register,
)
from gateway.services.register_service import RegisterError
from gateway.settings import Settings
from gateway.store import repository
from gateway.store.db import upgrade_database
from routing.engine import Contact
from routing.enums import (
    Category,
    Channel,
    EmailMeasure,
    IdentityKind,
    ImportConfirmation,
    Mode,
    Outcome,
    PhoneMeasure,
    RestrictionStatus,
    Role,
    Stage,
)
from routing.identity import normalise_email
from routing.lifecycle import Actor
from routing.models import AuditEntry, Customer, Identity, Restriction, Service, StaffUser
from routing.terms import RestrictionDraft

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "register"
GOOD = FIXTURES / "good.csv"
APPROVER = "approver@council.example.org"
SERVICES = ("Housing", "Council Tax")
HEADER = ",".join(register_csv.COLUMNS)


# --- fixtures and helpers --------------------------------------------------------------------


@pytest.fixture
def approver(make_staff: Callable[[str, Role], Actor]) -> Actor:
    return make_staff(APPROVER, Role.APPROVER)


@pytest.fixture
def services(rt: Runtime) -> None:
    add_services(rt)


def add_services(rt: Runtime) -> None:
    with rt.uow() as session:
        session.add_all(Service(name=name) for name in SERVICES)


@pytest.fixture
def empty_rt(database_template: str, settings: Settings, tmp_path: Path) -> Iterator[Runtime]:
    """A second, empty register database: where a council would load an export."""
    if database_template.startswith("sqlite"):
        path = tmp_path / "restored.db"
        shutil.copyfile(database_template.removeprefix("sqlite:///"), path)
        yield from _runtime_on(settings, f"sqlite:///{path}")
        return
    name = f"ccr_restore_{uuid.uuid4().hex[:8]}"
    admin = create_engine(os.environ["CCR_TEST_DATABASE_URL"], isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(database_template).set(database=name).render_as_string(hide_password=False)
        upgrade_database(url)
        yield from _runtime_on(settings, url)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _runtime_on(settings: Settings, url: str) -> Iterator[Runtime]:
    runtime = bootstrap(settings.model_copy(update={"database_url": url}))
    try:
        yield runtime
    finally:
        runtime.close()


def write_csv(tmp_path: Path, *lines: str, name: str = "register.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def row(**cells: str) -> str:
    """A data line in COLUMNS order; the cells not given take those of a sound row."""
    sound = {
        "customer_ref": "T-1",
        "name": "Test Example",
        "emails": "test@example.org",
        "stage": "stage1",
        "category": "C",
        "email_measure": "file",
        "scope": "all",
        "starts_on": "2026-01-05",
        "mode": "enforce",
        "reason": "Daily calls to several services",
    }
    sound.update(cells)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(
        sound.get(column, "") for column in register_csv.COLUMNS
    )
    return buffer.getvalue()


IMPORTED_BY = "cli:it-officer"  # the operating-system account that runs `ccr register import`


def import_file(rt: Runtime, path: Path, now: dt.datetime) -> ImportSummary:
    return import_register(rt, path, approved_by=APPROVER, imported_by=IMPORTED_BY, now=now)


def counts(rt: Runtime) -> dict[str, int]:
    """What an import may write: if it fails, none of these may move."""
    with rt.uow() as session:
        tallies = {
            model.__name__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Restriction, Customer, Identity, AuditEntry)
        }
        tallies["register_version"] = repository.register_version(session)
    return tallies


def restrictions_of(session: Session, customer_ref: str) -> list[Restriction]:
    customer = repository.customer_by_ref(session, customer_ref)
    assert customer is not None, customer_ref
    return list(repository.restrictions_of_customer(session, customer.id))


def identities_of(session: Session, customer_ref: str) -> set[tuple[str, str]]:
    customer = repository.customer_by_ref(session, customer_ref)
    assert customer is not None, customer_ref
    return {(i.kind.value, i.value) for i in customer.identities}


def register_state(rt: Runtime) -> list[tuple[object, ...]]:
    """Every active restriction as the customer and terms a person would compare."""
    with rt.uow() as session:
        state = [
            (
                r.customer.customer_ref,
                r.customer.name,
                frozenset((i.kind.value, i.value) for i in r.customer.identities),
                *(getattr(r, name) for name in register_csv._TERM_FIELDS),
                r.reason,
                r.scope_all,
                frozenset(s.name for s in r.services),
                r.status,
            )
            for r in repository.register_rows(session)
        ]
    return sorted(state, key=repr)


def exported(rt: Runtime, now: dt.datetime) -> tuple[int, str]:
    out = io.StringIO()
    rows = export_register(rt, out, actor="cli:test", now=now)
    return rows, out.getvalue()


def exported_rows(rt: Runtime, now: dt.datetime) -> list[dict[str, str]]:
    _rows, content = exported(rt, now)
    return list(csv.DictReader(io.StringIO(content)))


def audit_actions(rt: Runtime, prefix: str) -> list[AuditEntry]:
    with rt.uow() as session:
        return list(repository.audit_entries(session, action_prefix=prefix))


# --- a sound register ------------------------------------------------------------------------


def test_good_register_arrives_active_approved_and_covering_every_measure(
    rt: Runtime, approver: Actor, services: None, now: dt.datetime
) -> None:
    summary = import_file(rt, GOOD, now)

    assert summary == ImportSummary(
        customers_created=5, customers_matched=0, identities_linked=9, restrictions_created=6
    )
    with rt.uow() as session:
        restrictions = list(repository.register_rows(session))
        assert len(restrictions) == 6
        for restriction in restrictions:
            assert restriction.status is RestrictionStatus.ACTIVE
            # In force, but nobody approved it here: it waits for the named approver.
            assert restriction.approved_by_id is None
            assert restriction.proposed_by_id is None
            assert restriction.imported.imported_by == IMPORTED_BY
            assert restriction.imported.confirmer_id == approver.user_id
            assert restriction.imported.state is ImportConfirmation.AWAITING
        assert {r.email_measure for r in restrictions} == set(EmailMeasure)
        assert {r.phone_measure for r in restrictions} == set(PhoneMeasure)
        assert {r.stage for r in restrictions} == set(Stage)
        assert {r.mode for r in restrictions} == {Mode.ENFORCE, Mode.SHADOW}


def test_cells_become_the_terms_of_each_restriction(
    rt: Runtime, approver: Actor, services: None, now: dt.datetime
) -> None:
    import_file(rt, GOOD, now)

    with rt.uow() as session:
        redirect, filed = restrictions_of(session, "C-1001")
        assert redirect.email_measure is EmailMeasure.REDIRECT
        assert redirect.phone_windows == "Tue 10:00-12:00; Thu 14:00-15:30"
        assert (redirect.max_calls_per_day, redirect.max_call_minutes) == (1, 10)
        assert redirect.spoc_email == "spoc.housing@council.example.org"
        assert redirect.spoc_phone == "+442079460001"
        assert (redirect.scope_all, [s.name for s in redirect.services]) == (False, ["Housing"])
        assert (redirect.starts_on, redirect.ends_on) == (dt.date(2026, 1, 6), dt.date(2030, 7, 6))
        assert filed.email_measure is EmailMeasure.FILE
        assert filed.max_call_minutes == 15

        (copy,) = restrictions_of(session, "C-1002")
        assert copy.mode is Mode.SHADOW
        assert copy.scope_all is True
        assert copy.ends_on is None
        assert copy.review_every_months == 6
        assert copy.reason == (
            'Daily calls to several services, including "urgent" demands;\nsee case notes'
        )

        (windows,) = restrictions_of(session, "C-1004")
        assert windows.phone_windows == (
            "Mon 09:00-10:00; Tue 09:00-10:00; Wed 09:00-10:00; Thu 09:00-10:00; Fri 09:00-10:00"
        )
        assert {s.name for s in windows.services} == set(SERVICES)
        # Empty cells: the configured review interval, and enforcement.
        assert windows.review_every_months == rt.settings.default_review_months
        assert windows.mode is Mode.ENFORCE


def test_identities_are_normalised_and_linked_to_their_customer(
    rt: Runtime, approver: Actor, services: None, now: dt.datetime
) -> None:
    import_file(rt, GOOD, now)

    with rt.uow() as session:
        # Plus-addressing folded (the default setting), case lowered, numbers in E.164; the
        # second row for C-1001 adds a number to the same person.
        assert identities_of(session, "C-1001") == {
            ("email", "alex.sample@example.org"),
            ("phone", "+441632960001"),
            ("phone", "+447700900001"),
        }
        assert identities_of(session, "C-1002") == {
            ("email", "bea@example.org"),
            ("phone", "+447700900002"),
            ("phone", "+441632960002"),
        }
        assert identities_of(session, "C-1004") == {("phone", "+442079460004")}
        customer = repository.customer_by_ref(session, "C-1001")
        assert customer is not None and customer.name == "Alex Sample"


def test_import_bumps_the_register_version_so_the_gateway_enforces_it(
    rt: Runtime, approver: Actor, services: None, now: dt.datetime
) -> None:
    email_from_eve = Contact(
        channel=Channel.EMAIL,
        senders=(normalise_email("Eve@Example.org"),),
        to="planning@council.example.org",
        at=now,
    )
    assert rt.decide(email_from_eve).outcome is Outcome.DELIVER
    before = counts(rt)["register_version"]

    import_file(rt, GOOD, now)

    assert counts(rt)["register_version"] > before
    rt.register.invalidate()  # only a moved version makes the cache reload
    assert rt.decide(email_from_eve).outcome is Outcome.REJECT


def test_import_is_audited_once_as_a_whole_and_per_restriction(
    rt: Runtime, approver: Actor, services: None, now: dt.datetime
) -> None:
    import_file(rt, GOOD, now)

    (entry,) = audit_actions(rt, "register.imported")
    assert entry.actor == IMPORTED_BY
    assert entry.detail["confirmer_id"] == approver.user_id
    assert entry.detail["file"] == "good.csv"
    assert entry.detail["rows"] == 6
    assert len(entry.detail["references"]) == 6
    assert audit_actions(rt, "restriction.approved") == []  # nobody approved them here
    imported = audit_actions(rt, "restriction.imported")
    assert [a.actor for a in imported] == [IMPORTED_BY] * 6


def test_appeal_window_runs_from_the_start_of_an_imported_restriction(
    rt: Runtime, approver: Actor, services: None, now: dt.datetime
) -> None:
    import_file(rt, GOOD, now)

    with rt.uow() as session:
        (restriction,) = restrictions_of(session, "C-1004")
        assert restriction.notified_on == dt.date(2026, 4, 1)
        assert restriction.appeal_deadline == dt.date(2026, 4, 1) + dt.timedelta(
            days=rt.settings.appeal_days
        )
        assert restriction.next_review_on is not None
        assert restriction.next_review_on > rt.today(now)


def test_row_that_has_already_ended_imports_and_maintenance_then_expires_it(
    rt: Runtime, approver: Actor, services: None, now: dt.datetime
) -> None:
    import_file(rt, GOOD, now)
    with rt.uow() as session:
        (ended,) = restrictions_of(session, "C-1003")
        assert ended.status is RestrictionStatus.ACTIVE

    assert maintenance.expire_ended(rt, now) == 1

    with rt.uow() as session:
        (ended,) = restrictions_of(session, "C-1003")
        assert ended.status is RestrictionStatus.EXPIRED


def test_utf8_file_with_byte_order_mark_and_columns_in_another_order(
    rt: Runtime, approver: Actor, now: dt.datetime
) -> None:
    assert (FIXTURES / "bom.csv").read_bytes().startswith(b"\xef\xbb\xbf")

    summary = import_file(rt, FIXTURES / "bom.csv", now)

    assert summary.restrictions_created == 2
    with rt.uow() as session:
        (first,) = restrictions_of(session, "B-2001")
        assert first.starts_on == dt.date(2026, 3, 2)
        assert first.mode is Mode.ENFORCE  # no mode column: enforce
        assert identities_of(session, "B-2002") == {("email", "gus@example.org")}


def test_uk_day_first_dates_are_read_day_first(
    rt: Runtime, approver: Actor, now: dt.datetime
) -> None:
    import_file(rt, FIXTURES / "uk_dates.csv", now)

    with rt.uow() as session:
        (first,) = restrictions_of(session, "D-3001")
        assert (first.starts_on, first.ends_on) == (dt.date(2026, 1, 6), dt.date(2030, 12, 31))
        (second,) = restrictions_of(session, "D-3002")
        assert (second.starts_on, second.ends_on) == (dt.date(2026, 2, 1), dt.date(2031, 4, 3))


def test_existing_customer_is_matched_by_reference_and_gains_new_identities(
    rt: Runtime, approver: Actor, services: None, now: dt.datetime, tmp_path: Path
) -> None:
    import_file(rt, GOOD, now)
    update = write_csv(
        tmp_path,
        HEADER,
        row(customer_ref="C-1002", name="", emails="bea@example.org; bea.new@example.org"),
    )

    summary = import_file(rt, update, now)

    assert summary == ImportSummary(
        customers_created=0, customers_matched=1, identities_linked=1, restrictions_created=1
    )
    with rt.uow() as session:
        assert len(restrictions_of(session, "C-1002")) == 2
        assert ("email", "bea.new@example.org") in identities_of(session, "C-1002")
        customer = repository.customer_by_ref(session, "C-1002")
        assert customer is not None and customer.name == "Bea Example"


# --- refusals: the whole file, nothing written -----------------------------------------------


def test_broken_file_lists_every_broken_line_and_writes_nothing(
    rt: Runtime, approver: Actor, services: None, now: dt.datetime
) -> None:
    broken = FIXTURES / "broken.csv"
    before = counts(rt)

    with pytest.raises(CsvImportError) as caught:
        import_file(rt, broken, now)

    assert counts(rt) == before
    problems = caught.value.problems
    assert problems == [
        "line 3: stage: 'stage3' is not one of warning, stage1, stage2, cease_and_desist",
        "line 6: emails: 'not-an-address' is not an email address",
        "line 6: starts_on: '31/02/2026' is not a date; use YYYY-MM-DD or DD/MM/YYYY",
        "line 7: spoc_email: email measure 'redirect' needs a SPOC email address",
        "line 8: phone_windows: phone window 'Tue 10:00-25:00': hour must be 0-23",
        "line 9: ends_on: end date 2026-01-01 is before start date 2026-06-01",
        "line 11: scope: unknown service 'Parks'; add it first",
        "line 12: phones: '07700 900201' is also given on line 2 for customer_ref 'E-4001'",
        "line 13: max_calls_per_day: 'two' is not a whole number",
        "line 14: category: 'E' is not one of A, B, C, D",
        "line 15: row: has 8 cells but the header has 20",
    ]
    message = str(caught.value)
    assert "\n" not in message
    assert message == (
        f"{broken}: 11 problem(s); first: line 3: stage: 'stage3' is not one of warning, "
        "stage1, stage2, cease_and_desist"
    )


def test_file_not_in_utf8_is_refused_naming_the_line(
    rt: Runtime, approver: Actor, now: dt.datetime, tmp_path: Path
) -> None:
    path = tmp_path / "excel.csv"
    content = "\n".join([HEADER, row(), row(customer_ref="T-2", name="Zoë Example")]) + "\n"
    path.write_bytes(content.encode("cp1252"))
    before = counts(rt)

    with pytest.raises(CsvImportError) as caught:
        import_file(rt, path, now)

    assert caught.value.problems == [
        "line 3: file: is not UTF-8 (byte 0xeb); save the spreadsheet as 'CSV UTF-8'"
    ]
    assert counts(rt) == before


def test_header_with_unknown_and_missing_columns_names_them(
    rt: Runtime, approver: Actor, now: dt.datetime, tmp_path: Path
) -> None:
    header = HEADER.replace("customer_ref", "customer").replace("stage,", "")
    path = write_csv(tmp_path, header)

    with pytest.raises(CsvImportError) as caught:
        import_file(rt, path, now)

    assert caught.value.problems == [
        "line 1: header: unknown column(s) customer; the columns are "
        + ", ".join(register_csv.COLUMNS),
        "line 1: header: missing column(s) customer_ref, stage",
    ]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(
            "",
            "line 1: header: the file is empty; the first row must name the columns",
            id="empty file",
        ),
        pytest.param(HEADER, "line 2: file: no register rows below the header", id="header only"),
    ],
)
def test_file_without_rows_is_refused(
    rt: Runtime, approver: Actor, now: dt.datetime, tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "empty.csv"
    path.write_text(content, encoding="utf-8")

    with pytest.raises(CsvImportError) as caught:
        import_file(rt, path, now)

    assert caught.value.problems == [expected]


@pytest.mark.parametrize(
    ("email", "role", "active", "expected"),
    [
        ("nobody@council.example.org", None, True, "no active staff account"),
        (
            "manager@council.example.org",
            Role.MANAGER,
            True,
            "only an approver may approve",
        ),
        ("left@council.example.org", Role.APPROVER, False, "no active staff account"),
    ],
)
def test_approved_by_must_be_an_active_approver(
    rt: Runtime,
    make_staff: Callable[[str, Role], Actor],
    services: None,
    now: dt.datetime,
    email: str,
    role: Role | None,
    active: bool,
    expected: str,
) -> None:
    if role is not None:
        make_staff(email, role)
    if not active:
        with rt.uow() as session:
            user = session.scalar(select(StaffUser).where(StaffUser.email == email))
            assert user is not None
            user.active = False
    before = counts(rt)

    with pytest.raises(RegisterError, match=expected):
        import_register(rt, GOOD, approved_by=email, imported_by=IMPORTED_BY, now=now)

    assert counts(rt) == before


def test_identity_of_another_customer_on_the_register_is_refused(
    rt: Runtime, approver: Actor, services: None, now: dt.datetime, tmp_path: Path
) -> None:
    import_file(rt, GOOD, now)
    path = write_csv(
        tmp_path,
        HEADER,
        row(customer_ref="N-1", emails="new@example.org"),
        row(customer_ref="N-2", emails="", phones="+44 7700 900002"),
    )
    before = counts(rt)

    with pytest.raises(CsvImportError) as caught:
        import_file(rt, path, now)

    assert caught.value.problems == [
        "line 3: phones: '+44 7700 900002' already belongs to another customer on the register"
    ]
    assert counts(rt) == before


def test_reimporting_the_same_file_is_refused_rather_than_doubling_the_register(
    rt: Runtime, approver: Actor, services: None, now: dt.datetime
) -> None:
    import_file(rt, GOOD, now)
    before = counts(rt)

    with pytest.raises(CsvImportError) as caught:
        import_file(rt, GOOD, now)

    assert len(caught.value.problems) == 6
    assert all("already on the register as CCR-" in p for p in caught.value.problems)
    assert counts(rt) == before


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        pytest.param(
            [row(), row(customer_ref="T-2")],
            "line 3: emails: 'test@example.org' is also given on line 2 for customer_ref 'T-1'",
            id="one address for two customers",
        ),
        pytest.param(
            [row(), row()],
            "line 3: row: the same restriction as line 2 for this customer",
            id="row repeated",
        ),
        pytest.param(
            [row(), row(name="Other Name", email_measure="reject")],
            "line 3: name: differs from line 2 for the same customer_ref",
            id="two names for one reference",
        ),
        pytest.param(
            [row(emails="", customer_ref="")],
            "line 2: customer_ref: required (or at least one email address or phone number)",
            id="nobody to restrict",
        ),
        pytest.param(
            [row(emails="", phones="")],
            "line 2: emails: no email address or phone number for this customer",
            id="no identity",
        ),
        pytest.param(
            [row(phones="anonymous")],
            "line 2: phones: 'anonymous' is not a telephone number",
            id="withheld number",
        ),
        pytest.param(
            [row(stage="stage2", email_measure="none")],
            "line 2: email_measure: a restriction beyond a warning needs at least one email "
            "or telephone measure",
            id="nothing restricted",
        ),
        pytest.param(
            [row(scope="all; Housing")],
            "line 2: scope: either 'all' or service names, not both",
            id="scope both ways",
        ),
        pytest.param(
            [row(starts_on="")],
            "line 2: starts_on: required: a date as YYYY-MM-DD or DD/MM/YYYY",
            id="no start",
        ),
        pytest.param(
            [row(starts_on="2026-01-05T00:00")],
            "line 2: starts_on: '2026-01-05T00:00' is not a date; use YYYY-MM-DD or DD/MM/YYYY",
            id="date and time",
        ),
        pytest.param(
            [row(review_every_months="13")],
            "line 2: review_every_months: review interval must be between 1 and 12 months",
            id="review too far apart",
        ),
        pytest.param(
            [row(mode="trial")],
            "line 2: mode: 'trial' is not one of shadow, enforce",
            id="unknown mode",
        ),
        pytest.param(
            [row(customer_ref="R" * 65)],
            "line 2: customer_ref: longer than 64 characters",
            id="reference too long",
        ),
    ],
)
def test_each_kind_of_bad_row_is_reported_with_its_line_and_column(
    rt: Runtime,
    approver: Actor,
    services: None,
    now: dt.datetime,
    tmp_path: Path,
    lines: list[str],
    expected: str,
) -> None:
    path = write_csv(tmp_path, HEADER, *lines)
    before = counts(rt)

    with pytest.raises(CsvImportError) as caught:
        import_file(rt, path, now)

    assert caught.value.problems == [expected]
    assert counts(rt) == before


def test_empty_unnamed_columns_a_spreadsheet_adds_are_ignored_unless_they_hold_data(
    rt: Runtime, approver: Actor, now: dt.datetime, tmp_path: Path
) -> None:
    path = write_csv(tmp_path, HEADER + ",,", row() + ",,", row(customer_ref="T-2") + ",x,")
    with pytest.raises(CsvImportError) as caught:
        import_file(rt, path, now)
    assert caught.value.problems == ["line 3: row: has a value under a column with no name"]

    path = write_csv(tmp_path, HEADER + ",,", row() + ",,", name="fixed.csv")
    assert import_file(rt, path, now).restrictions_created == 1


def test_utf16_file_is_refused_with_what_to_do(
    rt: Runtime, approver: Actor, now: dt.datetime, tmp_path: Path
) -> None:
    path = tmp_path / "unicode.csv"
    path.write_bytes((HEADER + "\n" + row() + "\n").encode("utf-16"))

    with pytest.raises(CsvImportError) as caught:
        import_file(rt, path, now)

    assert caught.value.problems == [
        "line 1: file: is UTF-16 text; save the spreadsheet as 'CSV UTF-8'"
    ]


def test_file_separated_by_semicolons_gets_a_hint(
    rt: Runtime, approver: Actor, now: dt.datetime, tmp_path: Path
) -> None:
    path = write_csv(tmp_path, HEADER.replace(",", ";"), row().replace(",", ";"))

    with pytest.raises(CsvImportError, match="separated by ';'"):
        import_file(rt, path, now)


def test_failure_while_writing_keeps_nothing(
    rt: Runtime,
    approver: Actor,
    services: None,
    now: dt.datetime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_draft = register_service.draft_restriction
    calls = 0

    def draft_then_fail(*args: object, **kwargs: object) -> Restriction:
        # The database going away part-way through: the fourth row's write fails.
        nonlocal calls
        calls += 1
        if calls == 4:
            raise RuntimeError("connection lost")
        return real_draft(*args, **kwargs)

    monkeypatch.setattr(register_service, "draft_restriction", draft_then_fail)
    before = counts(rt)

    with pytest.raises(RuntimeError, match="connection lost"):
        import_file(rt, GOOD, now)

    assert calls == 4
    assert counts(rt) == before


# --- export and the round trip ---------------------------------------------------------------


def test_export_writes_every_active_restriction_in_the_import_columns(
    rt: Runtime, approver: Actor, services: None, now: dt.datetime
) -> None:
    import_file(rt, GOOD, now)

    rows, content = exported(rt, now)

    assert rows == 6
    table = list(csv.DictReader(io.StringIO(content)))
    assert tuple(table[0]) == register_csv.COLUMNS
    by_ref = {(r["customer_ref"], r["email_measure"]): r for r in table}
    alex = by_ref["C-1001", "redirect"]
    assert alex["emails"] == "alex.sample@example.org"
    assert alex["phones"] == "+441632960001; +447700900001"
    assert alex["spoc_phone"] == "+442079460001"
    assert alex["scope"] == "Housing"
    assert (alex["starts_on"], alex["ends_on"]) == ("2026-01-06", "2030-07-06")
    assert by_ref["C-1004", "none"]["scope"] == "Council Tax; Housing"
    assert by_ref["C-1002", "copy"]["mode"] == "shadow"
    assert by_ref["C-1002", "copy"]["ends_on"] == ""
    (entry,) = audit_actions(rt, "register.exported")
    assert (entry.actor, entry.detail["rows"]) == ("cli:test", 6)


def test_export_leaves_out_lifted_restrictions(
    rt: Runtime, approver: Actor, services: None, now: dt.datetime
) -> None:
    import_file(rt, GOOD, now)
    with rt.uow() as session:
        (eve,) = restrictions_of(session, "C-1005")
        register_service.lift(session, approver, now, eve.id, reason="appeal upheld")

    table = exported_rows(rt, now)

    assert len(table) == 5
    assert "C-1005" not in {r["customer_ref"] for r in table}


def test_export_then_import_into_an_empty_database_gives_the_same_register(
    rt: Runtime,
    approver: Actor,
    make_staff: Callable[[str, Role], Actor],
    services: None,
    now: dt.datetime,
    empty_rt: Runtime,
    tmp_path: Path,
) -> None:
    import_file(rt, GOOD, now)
    add_restriction_through_the_web_path(rt, make_staff, approver, now)
    _rows, content = exported(rt, now)
    export_file = tmp_path / "export.csv"
    export_file.write_text(content, encoding="utf-8", newline="")
    add_services(empty_rt)
    add_approver(empty_rt, now)

    restored = import_file(empty_rt, export_file, now)

    assert restored.restrictions_created == 7
    assert register_state(empty_rt) == register_state(rt)
    assert exported(empty_rt, now)[1] == content


def test_row_without_reference_is_matched_to_its_customer_by_identities(
    rt: Runtime,
    approver: Actor,
    make_staff: Callable[[str, Role], Actor],
    services: None,
    now: dt.datetime,
    tmp_path: Path,
) -> None:
    add_restriction_through_the_web_path(rt, make_staff, approver, now)
    path = write_csv(
        tmp_path, HEADER, row(customer_ref="", name="", emails="", phones="07700900999")
    )

    summary = import_file(rt, path, now)

    assert (summary.customers_created, summary.customers_matched) == (0, 1)
    with rt.uow() as session:
        (customer,) = session.scalars(select(Customer)).all()
        assert len(repository.restrictions_of_customer(session, customer.id)) == 2


def test_logs_carry_no_personal_data(
    rt: Runtime,
    approver: Actor,
    services: None,
    now: dt.datetime,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)

    import_file(rt, GOOD, now)
    exported(rt, now)

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "register import: 6 row(s)" in logged
    for personal in ("Alex", "Sample", "example.org", "+44", "1632", "C-1001"):
        assert personal not in logged


def test_export_guards_cells_a_spreadsheet_would_run_as_formulas(
    rt: Runtime,
    approver: Actor,
    make_staff: Callable[[str, Role], Actor],
    services: None,
    now: dt.datetime,
) -> None:
    add_restriction_through_the_web_path(rt, make_staff, approver, now)

    (exported_row,) = exported_rows(rt, now)

    assert exported_row["name"] == "'" + FORMULA_NAME
    assert exported_row["phones"] == "+447700900999"  # E.164 as it is: never a formula
    assert exported_row["customer_ref"] == ""


FORMULA_NAME = '=HYPERLINK("http://example.org","Click")'


def add_restriction_through_the_web_path(
    rt: Runtime, make_staff: Callable[[str, Role], Actor], approver: Actor, now: dt.datetime
) -> None:
    """A customer entered by staff without a reference, under a name that looks like a formula."""
    manager = make_staff("manager@council.example.org", Role.MANAGER)
    with rt.uow() as session:
        customer = register_service.add_customer(
            session, manager, now, name=FORMULA_NAME, customer_ref=None
        )
        register_service.link_raw_identity(
            session, manager, now, customer, "07700 900999", IdentityKind.PHONE,
            fold_plus=True, region="GB",
        )  # fmt: skip
        draft = RestrictionDraft(
            stage=Stage.STAGE1,
            category=Category.C,
            starts_on=dt.date(2026, 2, 2),
            phone_measure=PhoneMeasure.BARRED,
            reason="-Calls every hour",
        )
        restriction = register_service.draft_restriction(session, manager, now, customer, draft)
        register_service.submit(session, manager, now, restriction.id)
        register_service.approve(
            session, approver, now, restriction.id, today=rt.today(now), appeal_days=14
        )


def add_approver(rt: Runtime, now: dt.datetime) -> None:
    with rt.uow() as session:
        accounts.add_user(
            session,
            email=APPROVER,
            role=Role.APPROVER,
            password="correct horse battery",
            actor="test",
            now=now,
        )
