"""The staff forms: field types, labels and hints only.

The rules about what makes sound restriction terms live in routing/terms.py
(RestrictionDraft.problems); a form turns its fields into a draft and shows each problem
against the field it names. CSRF is checked for every form by CSRFProtect (admin_ui/security.py),
so the forms themselves carry no token of their own.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    Field,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Optional

from routing.enums import (
    Category,
    EmailMeasure,
    Mode,
    PhoneMeasure,
    ResponseTimetable,
    ReviewOutcome,
    Stage,
)
from routing.lifecycle import VARIABLE_TERMS
from routing.models import Restriction
from routing.terms import RestrictionDraft, TermsProblem


class WebForm(FlaskForm):
    """A form bound to the request; CSRF is CSRFProtect's job, for every form alike."""

    class Meta:
        csrf = False

    def error_list(self) -> list[tuple[str | None, str]]:
        """(element id to link to, message) for the error summary; form-wide problems have
        no field to link to."""
        found = [(_anchor(field), message) for field in self for message in field.errors]
        return found + [(None, message) for message in self.form_errors]

    def add_problem(self, name: str, message: str) -> None:
        """Show a message against the field called `name` (or the whole form)."""
        field = self._fields.get(name)
        if field is None:
            self.form_errors.append(message)
        else:
            field.errors = [*field.errors, message]


def _anchor(field: Field) -> str:
    # A group of radios or checkboxes is reached through its first option's input.
    grouped = isinstance(field, RadioField | SelectMultipleField)
    return f"{field.id}-0" if grouped else field.id


def _date(label: str, *, required: bool, description: str = "") -> DateField:
    validators = [InputRequired(f"Enter the {label.lower()}")] if required else [Optional()]
    return DateField(
        label,
        validators=validators,
        description=description,
        invalid_value_message=f"Enter the {label.lower()} as a date, for example 2026-03-31",
    )


def _whole_number(label: str, description: str = "") -> IntegerField:
    return IntegerField(
        label,
        validators=[Optional()],
        description=description,
        invalid_value_message=f"Enter the {label.lower()} as a whole number, or leave it empty",
    )


def _text(label: str, description: str = "") -> StringField:
    return StringField(label, validators=[Optional()], description=description)


STAGES = [
    (Stage.WARNING.value, "Warning"),
    (Stage.STAGE1.value, "Stage 1"),
    (Stage.STAGE2.value, "Stage 2"),
    (Stage.CEASE_AND_DESIST.value, "Cease and desist"),
]
CATEGORIES = [
    (Category.A.value, "A: aggressive or abusive behaviour"),
    (Category.B.value, "B: unreasonable demands"),
    (Category.C.value, "C: unreasonable levels of contact"),
    (Category.D.value, "D: unreasonable use of the complaints process"),
]
MODES = [
    (Mode.ENFORCE.value, "Enforce: apply it to every contact"),
    (Mode.SHADOW.value, "Shadow: record what it would do and change nothing (a trial)"),
]
EMAIL_MEASURES = [
    (EmailMeasure.NONE.value, "No email measure"),
    (EmailMeasure.REDIRECT.value, "Redirect: email goes only to the single point of contact"),
    (EmailMeasure.COPY.value, "Copy: email reaches its addressee, and a copy the SPOC"),
    (EmailMeasure.FILE.value, "Place on file: email goes to the records mailbox, no reply"),
    (EmailMeasure.REJECT.value, "Refuse: email is returned naming the permitted channel"),
]
PHONE_MEASURES = [
    (PhoneMeasure.NONE.value, "No telephone measure"),
    (PhoneMeasure.WINDOWS.value, "Calls only at set times"),
    (PhoneMeasure.BARRED.value, "No telephone contact"),
]
REVIEW_OUTCOMES = [
    (ReviewOutcome.CONTINUE.value, "Continue: keep the restriction as it is"),
    (ReviewOutcome.VARY.value, "Vary: change its terms (the next page)"),
    (ReviewOutcome.LIFT.value, "Lift: end it early (the next page)"),
]
RESPONSE_TIMETABLES = [
    (ResponseTimetable.NONE.value, "No set timetable"),
    (ResponseTimetable.WEEKLY.value, "Weekly"),
    (ResponseTimetable.FORTNIGHTLY.value, "Fortnightly"),
    (ResponseTimetable.MONTHLY.value, "Monthly"),
]
REVIEW_MONTHS = [(n, f"Every {n} month{'s' if n > 1 else ''}") for n in range(1, 13)]


def choices(pairs: list[tuple[Any, str]]) -> list[SelectChoice]:
    """(value, label) pairs as the options of a radio, select or checkbox field."""
    return [SelectChoice(value, label) for value, label in pairs]


class TermsForm(WebForm):
    """The terms of a restriction that both a proposal and a variation set."""

    stage = RadioField(
        "Stage", choices=choices(STAGES), validators=[InputRequired("Choose the stage")]
    )
    category = RadioField(
        "Reason category",
        choices=choices(CATEGORIES),
        validators=[InputRequired("Choose the category")],
    )
    mode = RadioField("Mode", choices=choices(MODES), default=Mode.ENFORCE.value)
    email_measure = RadioField(
        "Email", choices=choices(EMAIL_MEASURES), default=EmailMeasure.NONE.value
    )
    spoc_name = _text("Name of the single point of contact (SPOC)", "A team or an officer")
    spoc_email = _text("SPOC email address", "Needed when email is redirected or copied")
    spoc_phone = _text("SPOC telephone number")
    response_timetable = SelectField(
        "SPOC responses",
        choices=choices(RESPONSE_TIMETABLES),
        default=ResponseTimetable.NONE.value,
        description="A digest of the SPOC queue items due goes to the SPOC mailbox on this "
        "timetable, counted from the start date",
    )
    phone_measure = RadioField(
        "Telephone", choices=choices(PHONE_MEASURES), default=PhoneMeasure.NONE.value
    )
    phone_windows = _text(
        "Permitted call times", "Days and times, for example: Tue 10:00-12:00; Thu 14:00-15:30"
    )
    max_calls_per_day = _whole_number("Most calls in a day")
    max_calls_per_week = _whole_number("Most calls in a week")
    max_call_minutes = _whole_number("Longest call in minutes")
    exempt_addresses = TextAreaField(
        "Exempt mailboxes and lines",
        validators=[Optional()],
        description="One a line. Contact to these is never restricted (for example a duty team)",
    )
    ends_on = _date("End date", required=False, description="Leave empty for no end date")
    review_every_months = SelectField(
        "Review",
        choices=choices(REVIEW_MONTHS),
        coerce=int,
        default=3,
        validators=[InputRequired()],
    )
    reason = TextAreaField(
        "Reason", validators=[Optional()], description="The customer may see this in a request"
    )
    confidential_notes = TextAreaField(
        "Confidential notes",
        validators=[Optional()],
        description="Not shown to contact-centre agents",
    )
    business_case = TextAreaField(
        "Business case",
        validators=[Optional()],
        description="Why this stage is warranted: required for the stages that need one",
    )

    def draft(self, *, starts_on: dt.date, scope: list[str]) -> RestrictionDraft:
        """The terms as typed, for RestrictionDraft to check."""
        return RestrictionDraft(
            stage=Stage(self.stage.data),
            category=Category(self.category.data),
            starts_on=starts_on,
            mode=Mode(self.mode.data or Mode.ENFORCE.value),
            email_measure=EmailMeasure(self.email_measure.data or EmailMeasure.NONE.value),
            phone_measure=PhoneMeasure(self.phone_measure.data or PhoneMeasure.NONE.value),
            phone_windows=_blank_to_none(self.phone_windows.data),
            max_calls_per_day=self.max_calls_per_day.data,
            max_calls_per_week=self.max_calls_per_week.data,
            max_call_minutes=self.max_call_minutes.data,
            spoc_name=_blank_to_none(self.spoc_name.data),
            spoc_email=_blank_to_none(self.spoc_email.data),
            spoc_phone=_blank_to_none(self.spoc_phone.data),
            response_timetable=ResponseTimetable(
                self.response_timetable.data or ResponseTimetable.NONE.value
            ),
            scope_services=scope,
            exempt_addresses=_lines(self.exempt_addresses.data),
            ends_on=self.ends_on.data,
            review_every_months=self.review_every_months.data or 3,
            reason=_blank_to_none(self.reason.data),
            confidential_notes=_blank_to_none(self.confidential_notes.data),
            business_case=_blank_to_none(self.business_case.data),
        )

    def show_problems(self, problems: list[TermsProblem]) -> None:
        for problem in problems:
            self.add_problem(problem.field, problem.message)


class ProposeForm(TermsForm):
    starts_on = _date("Start date", required=True)
    scope_services = SelectMultipleField(
        "Services covered",
        choices=[],
        validate_choice=True,
        description="Leave all unticked to cover every council service",
    )

    def terms(self) -> RestrictionDraft:
        assert self.starts_on.data is not None  # InputRequired has passed
        return self.draft(starts_on=self.starts_on.data, scope=list(self.scope_services.data or []))


class VaryForm(TermsForm):
    variation_reason = TextAreaField(
        "Why the terms are changing",
        validators=[InputRequired("Enter why the terms are changing")],
    )

    def changes(self, restriction: Restriction) -> dict[str, Any] | None:
        """The terms that differ from the restriction's, normalised; None if the new terms
        have problems (shown on the form)."""
        scope = [s.name for s in restriction.services]
        draft = self.draft(starts_on=restriction.starts_on, scope=scope)
        problems = draft.problems()
        if problems:
            self.show_problems(problems)
            return None
        new = draft.normalised()
        return {
            name: getattr(new, name)
            for name in sorted(VARIABLE_TERMS)
            if getattr(new, name) != getattr(restriction, name)
        }


def terms_of(restriction: Restriction) -> dict[str, Any]:
    """A restriction's current terms as form data (to start a variation from)."""
    data = {name: getattr(restriction, name) for name in VARIABLE_TERMS}
    data["exempt_addresses"] = "\n".join(restriction.exempt_addresses or [])
    return {k: v.value if hasattr(v, "value") else v for k, v in data.items()}


class LiftForm(WebForm):
    reason = TextAreaField(
        "Why the restriction is being lifted",
        validators=[InputRequired("Enter why the restriction is being lifted")],
    )


class WithdrawForm(WebForm):
    reason = TextAreaField(
        "Why the proposal is being withdrawn",
        validators=[InputRequired("Enter why the proposal is being withdrawn")],
    )


class ReviewForm(WebForm):
    outcome = RadioField(
        "Decision",
        choices=choices(REVIEW_OUTCOMES),
        validators=[InputRequired("Choose the decision")],
    )
    notes = TextAreaField("Notes", validators=[Optional()], description="What the review found")


class CustomerForm(WebForm):
    name = _text("Name")
    customer_ref = _text("Customer reference", "Your case-management reference, if any")
    emails = TextAreaField("Email addresses", validators=[Optional()], description="One a line")
    phones = TextAreaField("Telephone numbers", validators=[Optional()], description="One a line")


class LinkForm(WebForm):
    identity = StringField(
        "Email address or telephone number",
        validators=[InputRequired("Enter an email address or a telephone number")],
    )


def _blank_to_none(value: str | None) -> str | None:
    return value.strip() or None if value else None


def _lines(value: str | None) -> list[str]:
    return [line.strip() for line in (value or "").splitlines() if line.strip()]


def lines_of(field: Field) -> list[str]:
    """The non-empty lines of a text area."""
    return _lines(field.data)


__all__ = [
    "CustomerForm",
    "LiftForm",
    "LinkForm",
    "ProposeForm",
    "ReviewForm",
    "VaryForm",
    "WebForm",
    "terms_of",
]
