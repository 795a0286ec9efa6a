"""Register CSV import and export: load the register a council keeps in a spreadsheet, and back.

Import is all-or-nothing. Every row is read and checked first (cells, the consistency rules
of RestrictionDraft, the rest of the file and what is already on the register) and every
problem is reported with its line number; only a clean file is written, in one unit of work.
Imported rows are decisions already taken outside the system, so they are in force at once
(a gap would let mail through). Nobody approved them here, so none is recorded as approved:
each keeps its provenance (the operating-system account that ran the import, and who
approved and decided it, and when, as the file says) and waits on the work list of the
approver named with --approved-by, who confirms or withdraws it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import NamedTuple, TextIO, TypeVar

from sqlalchemy.orm import Session

from gateway.runtime import Runtime
from gateway.services import register_service
from gateway.services.register_service import RegisterError
from gateway.settings import Settings
from gateway.store import repository
from routing import lifecycle
from routing.audit import AuditAction, audit_entry
from routing.enums import (
    Category,
    EmailMeasure,
    IdentityKind,
    ImportConfirmation,
    Mode,
    PhoneMeasure,
    RestrictionStatus,
    Stage,
)
from routing.identity import NormalisedIdentity, normalise_email, normalise_phone
from routing.lifecycle import Actor
from routing.models import AuditEntry, Customer, Identity, ImportedRestriction, Restriction
from routing.roles import Permission, may
from routing.terms import RestrictionDraft

log = logging.getLogger(__name__)

COLUMNS: tuple[str, ...] = (
    "customer_ref",
    "name",
    "emails",
    "phones",
    "stage",
    "category",
    "email_measure",
    "phone_measure",
    "phone_windows",
    "max_calls_per_day",
    "max_call_minutes",
    "spoc_name",
    "spoc_email",
    "spoc_phone",
    "scope",
    "starts_on",
    "ends_on",
    "review_every_months",
    "reason",
    "mode",
    "approved_by",
    "approved_on",
    "decided_by",
    "next_review_on",
)
# Who approved and decided it and when, as the council's own records say, and the review
# date already set (kept as it is, so an overdue review stays overdue).
PROVENANCE_COLUMNS = ("approved_by", "approved_on", "decided_by", "next_review_on")
OPTIONAL_COLUMNS = frozenset({"mode", *PROVENANCE_COLUMNS})

LIST_SEPARATOR = ";"
SCOPE_ALL = "all"

# Column widths in the database: checked here so an over-long cell is a line-numbered
# problem in the report rather than a database error that aborts the whole import.
_MAX_LENGTHS = {
    "customer_ref": 64,
    "name": 200,
    "spoc_name": 200,
    "phone_windows": 500,
    "approved_by": 320,
    "decided_by": 320,
}
# PostgreSQL INTEGER; a larger number would fail only at write time.
_MAX_WHOLE_NUMBER = 2**31 - 1

_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_SAVE_AS_UTF8 = "save the spreadsheet as 'CSV UTF-8'"

_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_UK_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_WHOLE_NUMBER = re.compile(r"\d+")

# A spreadsheet runs a cell starting with one of these as a formula (CSV injection): export
# puts a "'" in front of such a cell, and import takes it away again.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_E164_LIST = re.compile(r"\+\d{2,15}(; \+\d{2,15})*")

# The terms that make two restrictions the same, for spotting a row imported twice.
_TERM_FIELDS = (
    "mode",
    "stage",
    "category",
    "email_measure",
    "phone_measure",
    "phone_windows",
    "max_calls_per_day",
    "max_call_minutes",
    "spoc_name",
    "spoc_email",
    "spoc_phone",
    "starts_on",
    "ends_on",
    "review_every_months",
)

E = TypeVar("E", bound=StrEnum)
# ("ref", customer_ref), or ("ids", identity, ...) for a row without a customer_ref.
CustomerKey = tuple[str, ...]


class CsvImportError(ValueError):
    """A register file that cannot be imported; nothing from it was written.

    ``problems`` lists every problem as "line N: column: what is wrong"; ``str()`` is one line
    for the command line.
    """

    def __init__(self, path: Path, problems: Sequence[str]) -> None:
        self.path = path
        self.problems = list(problems)
        super().__init__(f"{path}: {len(self.problems)} problem(s); first: {self.problems[0]}")


@dataclass
class ImportSummary:
    customers_created: int = 0
    customers_matched: int = 0
    identities_linked: int = 0
    restrictions_created: int = 0


class _Problem(NamedTuple):
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.column}: {self.message}"


@dataclass(frozen=True, slots=True)
class _Provenance:
    """What the file says about the decision, kept with the imported restriction."""

    approved_by: str | None = None
    approved_on: dt.date | None = None
    decided_by: str | None = None
    next_review_on: dt.date | None = None


@dataclass
class _Row:
    """One data row, read: what could be made of each cell."""

    line: int
    customer_ref: str | None
    name: str | None
    identities: list[tuple[str, NormalisedIdentity]]  # (column, identity)
    scope: list[str]
    draft: RestrictionDraft | None  # None when a cell could not be read
    identities_reported: bool = False  # a problem with its identities is reported already
    provenance: _Provenance | None = None

    @property
    def customer_key(self) -> CustomerKey:
        if self.customer_ref:
            return ("ref", self.customer_ref)
        return ("ids", *sorted({_identity_key(i) for _, i in self.identities}))


@dataclass
class _Plan:
    """What the checks against the register found, for the writes to use."""

    existing: dict[CustomerKey, Customer | None] = field(default_factory=dict)
    names: dict[CustomerKey, str] = field(default_factory=dict)


# --- import ------------------------------------------------------------------------------


def import_register(
    rt: Runtime, path: Path, *, approved_by: str, imported_by: str, now: dt.datetime
) -> ImportSummary:
    """Load a register CSV, all of it or none of it: every row in force at once, awaiting
    confirmation by ``approved_by``; ``imported_by`` names who ran it (``cli:jo``).

    Raises RegisterError when ``approved_by`` is not an active approver and CsvImportError
    listing every problem in the file; in both cases nothing is written.
    """
    with rt.uow() as session:
        approver = _approver(session, approved_by, imported_by)
        rows, problems = _read_file(path, rt.settings)
        problems += _file_problems(rows)
        plan, register_problems = _check_against_register(session, rows)
        problems += register_problems
        if problems:
            raise CsvImportError(path, [str(p) for p in sorted(problems, key=lambda p: p.line)])
        summary = _write(session, rt, rows, plan, approver, now, path)
    log.info(
        "register import: %d row(s), %d customer(s) created, %d matched",
        summary.restrictions_created,
        summary.customers_created,
        summary.customers_matched,
    )
    return summary


def _approver(session: Session, email: str, imported_by: str) -> Actor:
    """Who the import acts as: named as the account that ran it, with the authority of the
    approver named with --approved-by (whose id goes on the confirmation task)."""
    user = repository.staff_by_email(session, email)
    if user is None or not user.active:
        raise RegisterError(f"--approved-by {email}: no active staff account with that address")
    if not may(user.role, Permission.APPROVE):
        raise RegisterError(
            f"--approved-by {email}: the account's role is {user.role.value}; "
            "only an approver may approve imported restrictions"
        )
    return Actor(imported_by, user.role, user.id)


def _read_file(path: Path, settings: Settings) -> tuple[list[_Row], list[_Problem]]:
    records = _records(_decoded(path))
    try:
        header_line, header = next(records, (1, []))
    except _CsvSyntaxError as exc:
        raise CsvImportError(path, [str(_Problem(exc.line, "header", exc.message))]) from None
    positions = _header_positions(path, header_line, header)
    # Spreadsheets often add empty, unnamed columns at the right; they are ignored if empty.
    unnamed = sorted(set(range(len(header))) - set(positions.values()))
    rows: list[_Row] = []
    problems: list[_Problem] = []
    try:
        for line, cells in records:
            if len(cells) != len(header):
                problems.append(
                    _Problem(
                        line, "row", f"has {len(cells)} cells but the header has {len(header)}"
                    )
                )
                continue
            if any(cells[i].strip() for i in unnamed):
                problems.append(_Problem(line, "row", "has a value under a column with no name"))
                continue
            cells_by_column = {column: cells[i] for column, i in positions.items()}
            rows.append(_RowReader(line, cells_by_column, problems, settings).row())
    except _CsvSyntaxError as exc:
        # The quoting is broken from here on, so later lines cannot be read reliably.
        problems.append(_Problem(exc.line, "file", f"{exc.message}; nothing after it was read"))
    if not rows and not problems:
        problems.append(_Problem(header_line + 1, "file", "no register rows below the header"))
    return rows, problems


def _decoded(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CsvImportError(path, [f"cannot read the file: {exc.strerror or exc}"]) from None
    if data.startswith(_UTF16_BOMS):
        raise CsvImportError(path, [f"line 1: file: is UTF-16 text; {_SAVE_AS_UTF8}"])
    # Excel's "CSV UTF-8" starts with a byte-order mark; it is not part of the first column.
    data = data.removeprefix(_BOM)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        byte = data[exc.start]
        raise CsvImportError(
            path, [f"line {line}: file: is not UTF-8 (byte 0x{byte:02x}); {_SAVE_AS_UTF8}"]
        ) from None


class _CsvSyntaxError(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """(first physical line, cells) for each record that is not blank.

    Spreadsheets write trailing rows of empty cells; those are skipped, not reported.
    """
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    consumed = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _CsvSyntaxError(consumed + 1, f"not valid CSV ({exc})") from None
        # A quoted cell may span lines: the record starts on the line after the last one.
        start, consumed = consumed + 1, reader.line_num
        if any(cell.strip() for cell in cells):
            yield start, cells


def _header_positions(path: Path, line: int, header: list[str]) -> dict[str, int]:
    """Column name -> position; a bad header stops the import (no row can be read without it)."""
    names = [cell.strip().lower() for cell in header]
    problems = []
    if len(names) == 1 and LIST_SEPARATOR in names[0]:
        problems.append(
            f"line {line}: header: the columns are separated by ';'; "
            "save the file with ',' between columns"
        )
    else:
        problems += _header_problems(line, names)
    if problems:
        raise CsvImportError(path, problems)
    return {name: position for position, name in enumerate(names) if name}


def _header_problems(line: int, names: list[str]) -> list[str]:
    if not any(names):
        return [f"line {line}: header: the file is empty; the first row must name the columns"]
    problems = []
    unknown = [name for name in names if name and name not in COLUMNS]
    if unknown:
        problems.append(
            f"line {line}: header: unknown column(s) {', '.join(unknown)}; "
            f"the columns are {', '.join(COLUMNS)}"
        )
    missing = [c for c in COLUMNS if c not in names and c not in OPTIONAL_COLUMNS]
    if missing:
        problems.append(f"line {line}: header: missing column(s) {', '.join(missing)}")
    repeated = sorted({name for name in names if name and names.count(name) > 1})
    if repeated:
        problems.append(f"line {line}: header: column(s) given twice: {', '.join(repeated)}")
    return problems


class _RowReader:
    """Reads the cells of one row, noting a problem for each cell that cannot be read."""

    def __init__(
        self, line: int, cells: dict[str, str], problems: list[_Problem], settings: Settings
    ) -> None:
        self.line = line
        self.cells = cells
        self.problems = problems
        self.settings = settings
        self.problem_count_at_start = len(problems)

    def row(self) -> _Row:
        customer_ref = self.text("customer_ref")
        name = self.text("name")
        problems_before = len(self.problems)
        identities = self.identities("emails", IdentityKind.EMAIL) + self.identities(
            "phones", IdentityKind.PHONE
        )
        reported = len(self.problems) > problems_before
        if customer_ref is None and not identities and not reported:
            self.problem("customer_ref", "required (or at least one email address or phone number)")
            reported = True
        scope = self.scope()
        draft = self.draft(scope)
        provenance = self.provenance()
        return _Row(self.line, customer_ref, name, identities, scope, draft, reported, provenance)

    def provenance(self) -> _Provenance:
        return _Provenance(
            approved_by=self.text("approved_by"),
            approved_on=self.date("approved_on", required=False),
            decided_by=self.text("decided_by"),
            next_review_on=self.date("next_review_on", required=False),
        )

    def draft(self, scope: list[str]) -> RestrictionDraft | None:
        terms = {
            "stage": self.choice("stage", Stage, default=None),
            "category": self.choice("category", Category, default=None),
            "starts_on": self.date("starts_on", required=True),
            "email_measure": self.choice("email_measure", EmailMeasure, EmailMeasure.NONE),
            "phone_measure": self.choice("phone_measure", PhoneMeasure, PhoneMeasure.NONE),
            "mode": self.choice("mode", Mode, Mode.ENFORCE),
            "phone_windows": self.text("phone_windows"),
            "max_calls_per_day": self.whole_number("max_calls_per_day"),
            "max_call_minutes": self.whole_number("max_call_minutes"),
            "spoc_name": self.text("spoc_name"),
            "spoc_email": self.text("spoc_email"),
            "spoc_phone": self.text("spoc_phone"),
            "ends_on": self.date("ends_on", required=False),
            "review_every_months": self.whole_number("review_every_months"),
            "reason": self.required_text("reason", "why the restriction was imposed"),
        }
        # The consistency rules only run on a fully read row: a cell that could not be read
        # is left empty, and the rules would then report its absence as a second, false problem.
        if len(self.problems) > self.problem_count_at_start:
            return None
        if terms["review_every_months"] is None:
            terms["review_every_months"] = self.settings.default_review_months
        draft = RestrictionDraft(scope_services=scope, **terms)
        return self.consistent(draft)

    def consistent(self, draft: RestrictionDraft) -> RestrictionDraft | None:
        problems = draft.problems()
        for problem in problems:
            self.problem(problem.field, problem.message)
        if problems:
            return None
        normalised = draft.normalised()
        limit = _MAX_LENGTHS["phone_windows"]
        if normalised.phone_windows and len(normalised.phone_windows) > limit:
            self.problem("phone_windows", f"longer than {limit} characters once written out")
            return None
        return normalised

    def problem(self, column: str, message: str) -> None:
        self.problems.append(_Problem(self.line, column, message))

    def text(self, column: str) -> str | None:
        """The cell without surrounding spaces or an export's formula guard; None when empty."""
        value = _unguarded(self.cells.get(column, "").strip())
        if "\x00" in value:
            self.problem(column, "contains a NUL character")
            return None
        limit = _MAX_LENGTHS.get(column)
        if limit is not None and len(value) > limit:
            self.problem(column, f"longer than {limit} characters")
            return None
        return value or None

    def required_text(self, column: str, what: str) -> str | None:
        value = self.text(column)
        if value is None:
            self.problem(column, f"required: {what}")
        return value

    def items(self, column: str) -> list[str]:
        value = self.text(column)
        return [item.strip() for item in (value or "").split(LIST_SEPARATOR) if item.strip()]

    def choice(self, column: str, enum: type[E], default: E | None) -> E | None:
        allowed = ", ".join(member.value for member in enum)
        value = self.text(column)
        if value is None:
            if default is None:
                self.problem(column, f"required: one of {allowed}")
            return default
        for member in enum:
            if member.value.lower() == value.lower():
                return member
        self.problem(column, f"{value!r} is not one of {allowed}")
        return None

    def whole_number(self, column: str) -> int | None:
        value = self.text(column)
        if value is None:
            return None
        if not _WHOLE_NUMBER.fullmatch(value):
            self.problem(column, f"{value!r} is not a whole number")
            return None
        if int(value) > _MAX_WHOLE_NUMBER:
            self.problem(column, f"{value!r} is too large")
            return None
        return int(value)

    def date(self, column: str, *, required: bool) -> dt.date | None:
        value = self.text(column)
        if value is None:
            if required:
                self.problem(column, "required: a date as YYYY-MM-DD or DD/MM/YYYY")
            return None
        day = _parse_date(value)
        if day is None:
            self.problem(column, f"{value!r} is not a date; use YYYY-MM-DD or DD/MM/YYYY")
        return day

    def identities(self, column: str, kind: IdentityKind) -> list[tuple[str, NormalisedIdentity]]:
        found: dict[str, tuple[str, NormalisedIdentity]] = {}
        for raw in self.items(column):
            identity = self.normalised(raw, kind)
            if not identity.ok:
                what = "an email address" if kind is IdentityKind.EMAIL else "a telephone number"
                self.problem(column, f"{raw!r} is not {what}")
                continue
            # The same address written twice in one cell (or in two spellings) is one identity.
            found.setdefault(_identity_key(identity), (column, identity))
        return list(found.values())

    def normalised(self, raw: str, kind: IdentityKind) -> NormalisedIdentity:
        if kind is IdentityKind.EMAIL:
            return normalise_email(raw, fold_plus=self.settings.fold_plus_addresses)
        return normalise_phone(raw, region=self.settings.phone_region)

    def scope(self) -> list[str]:
        names = self.items("scope")
        if any(name.lower() == SCOPE_ALL for name in names):
            if len(names) > 1:
                self.problem("scope", f"either '{SCOPE_ALL}' or service names, not both")
            return []
        return list(dict.fromkeys(names))


def _parse_date(value: str) -> dt.date | None:
    """ISO ``YYYY-MM-DD`` or the UK spreadsheet form ``DD/MM/YYYY`` (never US month-first)."""
    if found := _ISO_DATE.fullmatch(value):
        year, month, day = found.groups()
    elif found := _UK_DATE.fullmatch(value):
        day, month, year = found.groups()
    else:
        return None
    try:
        return dt.date(int(year), int(month), int(day))
    except ValueError:
        return None


def _identity_key(identity: NormalisedIdentity) -> str:
    return f"{identity.kind.value}:{identity.value}"


def _describe(key: CustomerKey) -> str:
    return f"customer_ref {key[1]!r}" if key[0] == "ref" else "a row without customer_ref"


def _file_problems(rows: list[_Row]) -> list[_Problem]:
    """Rows that contradict other rows of the same file."""
    return _shared_identities(rows) + _differing_names(rows) + _repeated_terms(rows)


def _shared_identities(rows: list[_Row]) -> list[_Problem]:
    # One address for two customers would restrict one person under the other's terms.
    first_owner: dict[str, tuple[CustomerKey, int]] = {}
    problems = []
    for row in rows:
        for column, identity in row.identities:
            owner, line = first_owner.setdefault(
                _identity_key(identity), (row.customer_key, row.line)
            )
            if owner != row.customer_key:
                problems.append(
                    _Problem(
                        row.line,
                        column,
                        f"{identity.raw!r} is also given on line {line} for {_describe(owner)}",
                    )
                )
    return problems


def _differing_names(rows: list[_Row]) -> list[_Problem]:
    first_name: dict[str, tuple[str, int]] = {}
    problems = []
    for row in rows:
        if row.customer_ref and row.name:
            name, line = first_name.setdefault(row.customer_ref, (row.name, row.line))
            if name != row.name:
                problems.append(
                    _Problem(
                        row.line, "name", f"differs from line {line} for the same customer_ref"
                    )
                )
    return problems


def _repeated_terms(rows: list[_Row]) -> list[_Problem]:
    # Two identical rows for one customer are a copy-and-paste slip, not two decisions.
    first_line: dict[tuple[object, ...], int] = {}
    problems = []
    for row in rows:
        if row.draft is None:
            continue
        key = (row.customer_key, *_terms_of_draft(row.draft))
        line = first_line.setdefault(key, row.line)
        if line != row.line:
            problems.append(
                _Problem(row.line, "row", f"the same restriction as line {line} for this customer")
            )
    return problems


def _terms_of_draft(draft: RestrictionDraft) -> tuple[object, ...]:
    return (*(getattr(draft, name) for name in _TERM_FIELDS), frozenset(draft.scope_services))


def _terms_of_restriction(restriction: Restriction) -> tuple[object, ...]:
    scope = (
        frozenset() if restriction.scope_all else frozenset(s.name for s in restriction.services)
    )
    return (*(getattr(restriction, name) for name in _TERM_FIELDS), scope)


def _check_against_register(session: Session, rows: list[_Row]) -> tuple[_Plan, list[_Problem]]:
    """Rows that contradict the register: identities of other people, unknown services."""
    plan = _Plan()
    problems: list[_Problem] = []
    for key, customer_rows in _rows_by_customer(rows).items():
        existing, ambiguous = _existing_customer(session, key, customer_rows)
        plan.existing[key] = existing
        plan.names[key] = next((r.name for r in customer_rows if r.name), "")
        # Identities that match several customers are reported once, not once per identity.
        problems += ambiguous or _identities_of_others(session, customer_rows, existing)
        problems += _without_identities(customer_rows, existing)
        problems += _already_on_register(session, customer_rows, existing)
    problems += _unknown_services(session, rows)
    return plan, problems


def _rows_by_customer(rows: Iterable[_Row]) -> dict[CustomerKey, list[_Row]]:
    grouped: dict[CustomerKey, list[_Row]] = {}
    for row in rows:
        grouped.setdefault(row.customer_key, []).append(row)
    return grouped


def _existing_customer(
    session: Session, key: CustomerKey, rows: list[_Row]
) -> tuple[Customer | None, list[_Problem]]:
    """The customer the rows are about, if already on the register.

    Found by customer_ref; a row without one is matched by its identities (an export of a
    customer created without a reference comes back this way).
    """
    if key[0] == "ref":
        return repository.customer_by_ref(session, key[1]), []
    owners = {
        stored.customer_id: stored.customer
        for row in rows
        for _, identity in row.identities
        if (stored := _stored(session, identity)) and stored.customer_id is not None
    }
    if len(owners) > 1:
        return None, [
            _Problem(
                row.line,
                "customer_ref",
                "the addresses and numbers belong to different customers on the register; "
                "give the customer_ref",
            )
            for row in rows
        ]
    return next(iter(owners.values()), None), []


def _stored(session: Session, identity: NormalisedIdentity) -> Identity | None:
    assert identity.value is not None, "only understood identities are read from a row"
    return repository.find_identity(session, identity.kind, identity.value)


def _identities_of_others(
    session: Session, rows: list[_Row], customer: Customer | None
) -> list[_Problem]:
    problems = []
    for row in rows:
        for column, identity in row.identities:
            stored = _stored(session, identity)
            if stored is None or stored.customer_id is None:
                continue
            if customer is None or stored.customer_id != customer.id:
                problems.append(
                    _Problem(
                        row.line,
                        column,
                        f"{identity.raw!r} already belongs to another customer on the register",
                    )
                )
    return problems


def _without_identities(rows: list[_Row], customer: Customer | None) -> list[_Problem]:
    # A restriction on someone with no address or number could never be enforced. (When the
    # row's identities were reported already, reporting their absence too adds nothing.)
    if any(row.identities or row.identities_reported for row in rows) or (
        customer is not None and customer.identities
    ):
        return []
    return [
        _Problem(row.line, "emails", "no email address or phone number for this customer")
        for row in rows
    ]


def _already_on_register(
    session: Session, rows: list[_Row], customer: Customer | None
) -> list[_Problem]:
    # Running the same import twice must not double the register.
    if customer is None:
        return []
    active = {
        _terms_of_restriction(r): r.reference
        for r in repository.restrictions_of_customer(session, customer.id)
        if r.status is RestrictionStatus.ACTIVE
    }
    return [
        _Problem(
            row.line,
            "row",
            f"already on the register as {active[terms]} (was this file imported before?)",
        )
        for row in rows
        if row.draft is not None and (terms := _terms_of_draft(row.draft)) in active
    ]


def _unknown_services(session: Session, rows: list[_Row]) -> list[_Problem]:
    known: dict[str, bool] = {}
    problems = []
    for row in rows:
        for name in row.scope:
            if name not in known:
                known[name] = repository.service_by_name(session, name) is not None
            if not known[name]:
                problems.append(
                    _Problem(row.line, "scope", f"unknown service {name!r}; add it first")
                )
    return problems


def _write(
    session: Session,
    rt: Runtime,
    rows: list[_Row],
    plan: _Plan,
    approver: Actor,
    now: dt.datetime,
    path: Path,
) -> ImportSummary:
    summary = ImportSummary()
    customers: dict[CustomerKey, Customer] = {}
    references = []
    for row in rows:
        assert row.draft is not None, "rows with problems never reach the writes"
        try:
            customer = customers.get(row.customer_key)
            if customer is None:
                customer = _customer_for(session, row, plan, approver, now, summary)
                customers[row.customer_key] = customer
            summary.identities_linked += _link(session, customer, row, approver, now)
            restriction = register_service.draft_restriction(
                session, approver, now, customer, row.draft
            )
            _bring_into_force(session, rt, restriction, row, approver, now, path)
        except RegisterError as exc:
            # The checks should have caught this; say where, and let the unit of work roll back.
            raise CsvImportError(path, [str(_Problem(row.line, "row", str(exc)))]) from exc
        summary.restrictions_created += 1
        references.append(restriction.reference)
    session.add(_import_audit(approver, now, path, summary, references))
    return summary


def _customer_for(
    session: Session,
    row: _Row,
    plan: _Plan,
    approver: Actor,
    now: dt.datetime,
    summary: ImportSummary,
) -> Customer:
    existing = plan.existing[row.customer_key]
    if existing is not None:
        # The register's own record of the person is kept; the file does not rename them.
        summary.customers_matched += 1
        return existing
    summary.customers_created += 1
    return register_service.add_customer(
        session,
        approver,
        now,
        name=plan.names[row.customer_key] or None,
        customer_ref=row.customer_ref,
    )


def _link(
    session: Session, customer: Customer, row: _Row, approver: Actor, now: dt.datetime
) -> int:
    """Link the row's identities to the customer; how many were not linked already."""
    linked = 0
    for _, identity in row.identities:
        stored = _stored(session, identity)
        if stored is not None and stored.customer_id == customer.id:
            continue
        register_service.link_identity(session, approver, now, customer, identity)
        linked += 1
    return linked


def _bring_into_force(
    session: Session,
    rt: Runtime,
    restriction: Restriction,
    row: _Row,
    importer: Actor,
    now: dt.datetime,
    path: Path,
) -> None:
    """Bring a drafted row into force as the decision it records, with its provenance.

    There is no proposer and no approval here: the lifecycle puts it in force, records who
    ran the import and what the file says, and puts it on the named approver's work list.
    A row whose end date has already passed imports as active, keeping the history; the
    next maintenance run expires it.
    """
    given = row.provenance or _Provenance()
    assert importer.user_id is not None, "the named approver's account was found"
    provenance = ImportedRestriction(
        imported_at=now,
        imported_by=importer.name,
        source_file=path.name[:255],
        approved_by=given.approved_by,
        approved_on=given.approved_on,
        decided_by=given.decided_by,
        confirmer_id=importer.user_id,
        state=ImportConfirmation.AWAITING,
    )
    entry = lifecycle.bring_imported_into_force(
        restriction,
        provenance,
        now,
        today=rt.today(now),
        appeal_days=rt.settings.appeal_days,
        next_review_on=given.next_review_on,
    )
    session.add(entry)
    repository.bump_register_version(session)
    session.flush()


def _import_audit(
    approver: Actor, now: dt.datetime, path: Path, summary: ImportSummary, references: list[str]
) -> AuditEntry:
    return audit_entry(
        AuditAction.REGISTER_IMPORTED,
        actor=approver.name,
        at=now,
        subject_type="register",
        detail={
            "file": path.name,
            "rows": summary.restrictions_created,
            "customers_created": summary.customers_created,
            "customers_matched": summary.customers_matched,
            "identities_linked": summary.identities_linked,
            "references": references,
            "confirmer_id": approver.user_id,
        },
    )


def _unguarded(value: str) -> str:
    return value[1:] if value.startswith("'") and _looks_guarded(value[1:]) else value


def _looks_guarded(value: str) -> bool:
    """True for what import takes a leading "'" away from."""
    # A value that itself starts with "'" + formula character is guarded again on export,
    # so that import, which removes exactly one "'", gives back exactly what was exported.
    return value.startswith(_FORMULA_STARTS) or (
        value.startswith("'") and _looks_guarded(value[1:])
    )


def _needs_guard(value: str) -> bool:
    # E.164 numbers are left as they are (the design promises E.164 in the phone columns);
    # they cannot carry a formula, only be shown as a number by a spreadsheet.
    return not _E164_LIST.fullmatch(value) and _looks_guarded(value)


# --- export ------------------------------------------------------------------------------


def export_register(rt: Runtime, out: TextIO, *, actor: str, now: dt.datetime) -> int:
    """Write every active restriction as a CSV row in COLUMNS; return the number of rows.

    Only active restrictions are written: the file has no status column and importing it
    brings every row into force, so a lifted or expired restriction must not be in it.
    """
    with rt.uow() as session:
        restrictions = [
            r for r in repository.register_rows(session) if r.status is RestrictionStatus.ACTIVE
        ]
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for restriction in restrictions:
            writer.writerow(_guarded(_export_row(restriction)))
        _warn_about_terms_left_out(restrictions)
        session.add(
            audit_entry(
                AuditAction.REGISTER_EXPORTED,
                actor=actor,
                at=now,
                subject_type="register",
                detail={"rows": len(restrictions)},
            )
        )
    log.info("register export: %d row(s)", len(restrictions))
    return len(restrictions)


def _export_row(restriction: Restriction) -> list[str]:
    customer = restriction.customer
    identities = customer.identities if customer else []
    values = {
        "customer_ref": customer.customer_ref if customer else None,
        "name": customer.name if customer else None,
        "emails": _joined(i.value for i in identities if i.kind is IdentityKind.EMAIL),
        "phones": _joined(i.value for i in identities if i.kind is IdentityKind.PHONE),
        "stage": restriction.stage.value,
        "category": restriction.category.value,
        "email_measure": restriction.email_measure.value,
        "phone_measure": restriction.phone_measure.value,
        "phone_windows": restriction.phone_windows,
        "max_calls_per_day": restriction.max_calls_per_day,
        "max_call_minutes": restriction.max_call_minutes,
        "spoc_name": restriction.spoc_name,
        "spoc_email": restriction.spoc_email,
        "spoc_phone": restriction.spoc_phone,
        "scope": SCOPE_ALL
        if restriction.scope_all
        else _joined(s.name for s in restriction.services),
        "starts_on": restriction.starts_on.isoformat(),
        "ends_on": restriction.ends_on.isoformat() if restriction.ends_on else None,
        "review_every_months": restriction.review_every_months,
        "reason": restriction.reason,
        "mode": restriction.mode.value,
        **_provenance_cells(restriction),
    }
    return ["" if values[c] is None else str(values[c]) for c in COLUMNS]


def _provenance_cells(restriction: Restriction) -> dict[str, str | None]:
    """Who approved and decided it and when: the file's own words for an imported one,
    the system's record otherwise; and the review date, so a re-import keeps it."""
    given = restriction.imported
    approver = restriction.approved_by
    approved_at = restriction.approved_at
    return {
        "approved_by": given.approved_by if given else (approver.email if approver else None),
        "approved_on": _iso(given.approved_on if given else (approved_at and approved_at.date())),
        "decided_by": given.decided_by if given else None,
        "next_review_on": _iso(restriction.next_review_on),
    }


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def _joined(values: Iterable[str]) -> str:
    return f"{LIST_SEPARATOR} ".join(sorted(values))


def _guarded(cells: list[str]) -> list[str]:
    return ["'" + cell if _needs_guard(cell) else cell for cell in cells]


def _warn_about_terms_left_out(restrictions: Sequence[Restriction]) -> None:
    # The CSV columns carry no weekly call limit, exempt addresses or confidential notes.
    left_out = [
        r.reference
        for r in restrictions
        if r.max_calls_per_week or r.exempt_addresses or r.confidential_notes
    ]
    if left_out:
        log.warning(
            "register export: %d restriction(s) have terms the CSV cannot hold "
            "(weekly call limit, exempt addresses or confidential notes): %s",
            len(left_out),
            ", ".join(left_out),
        )
