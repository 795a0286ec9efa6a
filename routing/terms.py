"""The terms of a proposed restriction, checked before they reach the register.

Every way in (the web form, the CSV import, the API) builds a RestrictionDraft and asks
`problems()`; an empty list means the terms are complete and consistent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

from routing.enums import Category, EmailMeasure, Mode, PhoneMeasure, ResponseTimetable, Stage
from routing.identity import normalise_email, normalise_phone
from routing.windows import WindowSchedule, WindowSyntaxError


@dataclass(frozen=True, slots=True)
class TermsProblem:
    """One thing wrong with proposed terms, and the field (form input, CSV column) to fix."""

    field: str
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass
class RestrictionDraft:
    """What a manager proposes (or a spreadsheet row holds) for one customer."""

    stage: Stage
    category: Category
    starts_on: dt.date
    email_measure: EmailMeasure = EmailMeasure.NONE
    phone_measure: PhoneMeasure = PhoneMeasure.NONE
    mode: Mode = Mode.ENFORCE
    phone_windows: str | None = None
    max_calls_per_day: int | None = None
    max_calls_per_week: int | None = None
    max_call_minutes: int | None = None
    spoc_name: str | None = None
    spoc_email: str | None = None
    spoc_phone: str | None = None
    response_timetable: ResponseTimetable = ResponseTimetable.NONE
    scope_services: list[str] = field(default_factory=list)  # empty: all council services
    exempt_addresses: list[str] = field(default_factory=list)
    ends_on: dt.date | None = None
    review_every_months: int = 3
    reason: str | None = None
    confidential_notes: str | None = None
    business_case: str | None = None  # required for the stages the settings name

    def problems(self) -> list[TermsProblem]:
        """Everything wrong with these terms, each in one line; empty when they are sound."""
        return [p for check in _CHECKS if (p := check(self))]

    def normalised(self) -> RestrictionDraft:
        """The same terms with the SPOC contact details and windows in canonical form."""
        spoc_email = normalise_email(self.spoc_email) if self.spoc_email else None
        spoc_phone = normalise_phone(self.spoc_phone) if self.spoc_phone else None
        windows = WindowSchedule.parse(self.phone_windows) if self.phone_windows else None
        return replace(
            self,
            spoc_email=spoc_email.value if spoc_email else None,
            spoc_phone=spoc_phone.value if spoc_phone else None,
            phone_windows=str(windows) if windows else None,
            exempt_addresses=[_normalise_address(a) for a in self.exempt_addresses],
        )


def _normalise_address(address: str) -> str:
    identity = normalise_email(address) if "@" in address else normalise_phone(address)
    return identity.value or address.strip()


def _spoc_needed(d: RestrictionDraft) -> TermsProblem | None:
    if d.email_measure in (EmailMeasure.REDIRECT, EmailMeasure.COPY) and not d.spoc_email:
        return TermsProblem(
            "spoc_email", f"email measure '{d.email_measure}' needs a SPOC email address"
        )
    return None


def _spoc_email_valid(d: RestrictionDraft) -> TermsProblem | None:
    if d.spoc_email and not normalise_email(d.spoc_email).ok:
        return TermsProblem("spoc_email", f"SPOC email {d.spoc_email!r} is not an email address")
    return None


def _spoc_phone_valid(d: RestrictionDraft) -> TermsProblem | None:
    if d.spoc_phone and not normalise_phone(d.spoc_phone).ok:
        return TermsProblem("spoc_phone", f"SPOC phone {d.spoc_phone!r} is not a telephone number")
    return None


def _windows_valid(d: RestrictionDraft) -> TermsProblem | None:
    if d.phone_measure is PhoneMeasure.WINDOWS and not (d.phone_windows or "").strip():
        return TermsProblem(
            "phone_windows",
            "phone measure 'windows' needs the permitted times, e.g. 'Tue 10:00-12:00'",
        )
    try:
        WindowSchedule.parse(d.phone_windows)
    except WindowSyntaxError as exc:
        return TermsProblem("phone_windows", str(exc))
    return None


def _dates_in_order(d: RestrictionDraft) -> TermsProblem | None:
    if d.ends_on is not None and d.ends_on < d.starts_on:
        return TermsProblem(
            "ends_on",
            f"end date {d.ends_on.isoformat()} is before start date {d.starts_on.isoformat()}",
        )
    return None


def _limits_positive(d: RestrictionDraft) -> TermsProblem | None:
    for name in ("max_calls_per_day", "max_calls_per_week", "max_call_minutes"):
        value = getattr(d, name)
        if value is not None and value < 1:
            return TermsProblem(name, f"{name} must be at least 1, or left empty for no limit")
    return None


def _review_interval(d: RestrictionDraft) -> TermsProblem | None:
    if not 1 <= d.review_every_months <= 12:
        return TermsProblem(
            "review_every_months", "review interval must be between 1 and 12 months"
        )
    return None


def _something_restricted(d: RestrictionDraft) -> TermsProblem | None:
    measures = (
        d.email_measure is not EmailMeasure.NONE
        or d.phone_measure is not PhoneMeasure.NONE
        or d.max_calls_per_day
        or d.max_calls_per_week
        or d.max_call_minutes
    )
    if not measures and d.stage is not Stage.WARNING:
        return TermsProblem(
            "email_measure",
            "a restriction beyond a warning needs at least one email or telephone measure",
        )
    return None


_CHECKS = (
    _spoc_needed,
    _spoc_email_valid,
    _spoc_phone_valid,
    _windows_valid,
    _dates_in_order,
    _limits_positive,
    _review_interval,
    _something_restricted,
)
