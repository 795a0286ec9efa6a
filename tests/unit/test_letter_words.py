"""What a letter says about the measures, in the customer's words (routing/letters.py), and
the appeal rules that need no database (routing/appeals.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from routing import appeals
from routing.appeals import AppealRefused
from routing.enums import (
    Category,
    EmailMeasure,
    LetterKind,
    LetterMethod,
    Mode,
    PhoneMeasure,
    RestrictionStatus,
    Role,
    Stage,
)
from routing.letters import measures_in_words, windows_in_words
from routing.lifecycle import Actor
from routing.models import Customer, Restriction, Service, StaffUser

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
TODAY = NOW.date()
MANAGER = Actor("manager@council.example.org", Role.MANAGER, 1)
APPROVER = Actor("approver@council.example.org", Role.APPROVER, 2)


def _restriction(**terms: object) -> Restriction:
    values: dict = {
        "reference": "CCR-2026-0001",
        "revision": 1,
        "customer": Customer(name="Jo Example"),
        "status": RestrictionStatus.ACTIVE,
        "mode": Mode.ENFORCE,
        "stage": Stage.STAGE1,
        "category": Category.C,
        "email_measure": EmailMeasure.NONE,
        "phone_measure": PhoneMeasure.NONE,
        "starts_on": TODAY,
        "review_every_months": 3,
        "scope_all": True,
        "services": [],
        "letters": [],
        "appeals": [],
        "proposed_by_id": 1,
        "approved_by_id": 2,
        **terms,
    }
    return Restriction(**values)


def test_call_times_read_as_days_and_hours() -> None:
    assert windows_in_words("Tue 10:00-12:00; Thu 14:00-15:30") == (
        "Tuesdays 10:00 to 12:00, Thursdays 14:00 to 15:30"
    )
    assert windows_in_words("Mon-Wed 09:00-10:00") == (
        "Mondays 09:00 to 10:00, Tuesdays 09:00 to 10:00, Wednesdays 09:00 to 10:00"
    )


def test_each_email_measure_is_said_plainly_with_the_spoc() -> None:
    said = {
        measure: measures_in_words(_restriction(email_measure=measure, spoc_name="Housing Team"))
        for measure in EmailMeasure
    }
    assert "go to Housing Team only" in said[EmailMeasure.REDIRECT][0]
    assert "a copy will go to Housing Team" in said[EmailMeasure.COPY][0]
    assert "placed on file" in said[EmailMeasure.FILE][0]
    assert "returned to you; please contact Housing Team" in said[EmailMeasure.REJECT][0]
    assert said[EmailMeasure.NONE][0].startswith("There is no change")


def test_telephone_bars_and_limits_each_get_a_sentence() -> None:
    said = measures_in_words(
        _restriction(phone_measure=PhoneMeasure.BARRED, max_calls_per_day=1, max_call_minutes=10)
    )
    assert said[:3] == [
        "You may not contact the council by telephone.",
        "You may make at most 1 call a day.",
        "Each call may last at most 10 minutes.",
    ]


def test_a_restriction_scoped_to_services_names_them() -> None:
    said = measures_in_words(_restriction(scope_all=False, services=[Service(name="Council Tax")]))
    assert said[-1] == (
        "These measures apply only to your contact with: Council Tax. "
        "Contact other services as normal."
    )


def test_a_letter_about_a_decision_starts_the_window_and_a_lifting_letter_does_not() -> None:
    restriction = _restriction()
    sent_on = TODAY - dt.timedelta(days=1)
    appeals.record_letter_sent(
        restriction, MANAGER, NOW, today=TODAY, kind=LetterKind.LIFTING, sent_on=sent_on,
        method=LetterMethod.POST, appeal_days=14,
    )  # fmt: skip
    assert restriction.appeal_deadline is None
    appeals.record_letter_sent(
        restriction, MANAGER, NOW, today=TODAY, kind=LetterKind.NOTIFICATION, sent_on=sent_on,
        method=LetterMethod.POST, appeal_days=14,
    )  # fmt: skip
    assert restriction.appeal_deadline == sent_on + dt.timedelta(days=14)
    assert [letter.kind for letter in restriction.letters] == [
        LetterKind.LIFTING,
        LetterKind.NOTIFICATION,
    ]


def test_without_appeals_no_window_starts() -> None:
    restriction = _restriction()
    appeals.record_letter_sent(
        restriction, MANAGER, NOW, today=TODAY, kind=LetterKind.NOTIFICATION, sent_on=TODAY,
        method=LetterMethod.EMAIL, appeal_days=None,
    )  # fmt: skip
    assert restriction.appeal_deadline is None


def test_an_agent_may_not_record_a_letter_nor_an_appeal() -> None:
    agent = Actor("agent@council.example.org", Role.AGENT, 9)
    with pytest.raises(AppealRefused, match="your role may not record a letter"):
        appeals.record_letter_sent(
            _restriction(), agent, NOW, today=TODAY, kind=LetterKind.NOTIFICATION,
            sent_on=TODAY, method=LetterMethod.POST, appeal_days=14,
        )  # fmt: skip
    with pytest.raises(AppealRefused, match="your role may not record an appeal"):
        appeals.lodge(
            _restriction(), agent, NOW, today=TODAY, received_on=TODAY,
            received_how=LetterMethod.POST,
        )  # fmt: skip


def test_only_a_restriction_in_force_can_be_appealed() -> None:
    with pytest.raises(AppealRefused, match="not in force"):
        appeals.lodge(
            _restriction(status=RestrictionStatus.LIFTED), MANAGER, NOW, today=TODAY,
            received_on=TODAY, received_how=LetterMethod.POST,
        )  # fmt: skip


def test_a_deactivated_approver_cannot_hear_an_appeal() -> None:
    restriction = _restriction()
    appeal, _entry = appeals.lodge(
        restriction, MANAGER, NOW, today=TODAY, received_on=TODAY, received_how=LetterMethod.POST
    )
    away = StaffUser(id=7, email="away@council.example.org", role=Role.APPROVER, active=False)
    with pytest.raises(AppealRefused, match="account is active"):
        appeals.assign_hearer(appeal, MANAGER, NOW, hearer=away, decision_makers={1, 2})
