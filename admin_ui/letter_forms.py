"""The forms for letters and appeals: field types, labels and hints only (the rules are in
routing/appeals.py)."""

from __future__ import annotations

from wtforms import DateField, RadioField, SelectField, TextAreaField
from wtforms.validators import InputRequired

from admin_ui.forms import WebForm, choices
from routing.enums import AppealDecision, LetterMethod

LETTER_METHODS = [
    (LetterMethod.POST.value, "By post"),
    (LetterMethod.EMAIL.value, "By email"),
    (LetterMethod.BY_HAND.value, "By hand"),
]
APPEAL_DECISIONS = [
    (AppealDecision.UPHELD.value, "Upheld: the restriction stays as it is"),
    (AppealDecision.VARIED.value, "Varied: change its terms (the next page)"),
    (AppealDecision.LIFTED.value, "Lifted: end the restriction now"),
]


def _day(label: str) -> DateField:
    return DateField(
        label,
        validators=[InputRequired(f"Enter the {label.lower()}")],
        invalid_value_message=f"Enter the {label.lower()} as a date, for example 2026-03-31",
    )


class LetterSentForm(WebForm):
    sent_on = _day("Date sent")
    method = RadioField(
        "How it was sent",
        choices=choices(LETTER_METHODS),
        validators=[InputRequired("Choose how the letter was sent")],
    )


class LodgeAppealForm(WebForm):
    received_on = _day("Date received")
    received_how = RadioField(
        "How it was received",
        choices=choices(LETTER_METHODS),
        validators=[InputRequired("Choose how the appeal was received")],
    )


class HearerForm(WebForm):
    hearer = SelectField(
        "Who will hear the appeal",
        coerce=int,
        validators=[InputRequired("Choose who will hear the appeal")],
        description="An approver who neither proposed nor approved the restriction",
    )


class DecideAppealForm(WebForm):
    decision = RadioField(
        "Decision",
        choices=choices(APPEAL_DECISIONS),
        validators=[InputRequired("Choose the decision")],
    )
    reasons = TextAreaField(
        "Reasons for the decision",
        validators=[InputRequired("Enter the reasons for the decision")],
        description="The customer is sent these in the appeal outcome letter",
    )
