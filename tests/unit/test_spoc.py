"""The SPOC queue's rules (routing.spoc): which routed mail becomes an item, when an item
is overdue, what an outcome needs, and which days are a restriction's response days."""

from __future__ import annotations

import datetime as dt

import pytest

from routing.engine import Decision
from routing.enums import (
    Category,
    EmailMeasure,
    Mode,
    Outcome,
    PhoneMeasure,
    ResponseTimetable,
    Stage,
)
from routing.snapshot import RestrictionTerms
from routing.spoc import (
    ItemOutcome,
    OutcomeChoice,
    OutcomeRefused,
    check_outcome,
    digest_due,
    is_overdue,
    items_for,
)

TODAY = dt.date(2026, 12, 10)
STARTED = dt.date(2026, 1, 31)


def decision(outcome: Outcome, mode: Mode = Mode.ENFORCE, ref: str = "CCR-2026-0001") -> Decision:
    terms = RestrictionTerms(
        id=1,
        reference=ref,
        customer_id=7,
        mode=mode,
        stage=Stage.STAGE1,
        category=Category.C,
        email_measure=EmailMeasure.REDIRECT,
        phone_measure=PhoneMeasure.NONE,
        starts_on=STARTED,
        spoc_email="spoc@council.example.org",
    )
    return Decision(outcome, (), restriction=terms, mode=mode)


def test_each_enforced_restriction_that_diverted_a_message_makes_one_item() -> None:
    made = items_for(
        [
            ("a@council.example.org", decision(Outcome.COPY)),
            ("b@council.example.org", decision(Outcome.REJECT)),
            ("c@council.example.org", Decision(Outcome.DELIVER, ())),
        ]
    )
    assert [(q.restriction_ref, q.outcome, q.addressed_to) for q in made] == [
        ("CCR-2026-0001", Outcome.REJECT, ("a@council.example.org", "b@council.example.org"))
    ]


def test_shadow_mode_and_delivered_mail_make_no_item() -> None:
    assert items_for([("a@council.example.org", decision(Outcome.REDIRECT, Mode.SHADOW))]) == []
    assert items_for([("a@council.example.org", decision(Outcome.DELIVER))]) == []


def test_overdue_means_no_outcome_after_the_due_date_or_a_late_reply() -> None:
    yesterday, tomorrow = TODAY - dt.timedelta(days=1), TODAY + dt.timedelta(days=1)
    assert is_overdue(None, yesterday, None, TODAY)
    assert not is_overdue(None, TODAY, None, TODAY)
    assert not is_overdue(ItemOutcome.ON_FILE, yesterday, None, TODAY)
    assert is_overdue(ItemOutcome.REPLY_DUE, tomorrow, yesterday, TODAY)
    assert not is_overdue(ItemOutcome.REPLY_DUE, yesterday, tomorrow, TODAY)


def test_an_outcome_must_say_what_it_needs() -> None:
    with pytest.raises(OutcomeRefused, match="which service"):
        check_outcome(OutcomeChoice(ItemOutcome.NEW_MATTER), TODAY)
    with pytest.raises(OutcomeRefused, match="reply is due by"):
        check_outcome(OutcomeChoice(ItemOutcome.REPLY_DUE), TODAY)
    kept = check_outcome(OutcomeChoice(ItemOutcome.ON_FILE, reply_due_on=TODAY, note=" "), TODAY)
    assert (kept.reply_due_on, kept.note) == (None, None)


@pytest.mark.parametrize(
    ("timetable", "day", "due"),
    [
        (ResponseTimetable.NONE, dt.date(2026, 2, 7), False),
        (ResponseTimetable.WEEKLY, STARTED, False),  # the start itself is not a response day
        (ResponseTimetable.WEEKLY, dt.date(2026, 2, 7), True),
        (ResponseTimetable.WEEKLY, dt.date(2026, 2, 8), False),
        (ResponseTimetable.FORTNIGHTLY, dt.date(2026, 2, 7), False),
        (ResponseTimetable.FORTNIGHTLY, dt.date(2026, 2, 14), True),
        (ResponseTimetable.MONTHLY, dt.date(2026, 2, 28), True),  # February has no 31st
        (ResponseTimetable.MONTHLY, dt.date(2026, 3, 31), True),
        (ResponseTimetable.MONTHLY, dt.date(2026, 3, 28), False),
    ],
)
def test_response_days_follow_the_timetable_from_the_start(
    timetable: ResponseTimetable, day: dt.date, due: bool
) -> None:
    assert digest_due(timetable, STARTED, day) is due
