"""The lookup answer: its state, its flat fields, and the agent script, for each measure."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from routing.engine import RoutingPolicy
from routing.enums import Category, EmailMeasure, IdentityKind, Mode, PhoneMeasure, Stage
from routing.identity import normalise_email, normalise_phone
from routing.lookup import (
    LookupState,
    agent_script,
    answer_fields,
    call_script,
    describe,
    look_up,
    summarise,
    when_text,
)
from routing.snapshot import RegisterSnapshot, RestrictionTerms
from routing.windows import LONDON, WindowSchedule

PHONE = "+441632960001"
EMAIL = "jo@example.org"
POLICY = RoutingPolicy(
    records_mailbox="records@council.example.org",
    ig_mailbox="information.governance@council.example.org",
    installation_id="test",
)
# Tuesday 24 November 2026, 11:15 GMT.
TUESDAY_MORNING = dt.datetime(2026, 11, 24, 11, 15, tzinfo=dt.UTC)


def terms(reference: str = "CCR-2026-0001", **overrides: object) -> RestrictionTerms:
    values: dict = {
        "id": int(reference[-4:]),
        "reference": reference,
        "customer_id": 1,
        "mode": Mode.ENFORCE,
        "stage": Stage.STAGE1,
        "category": Category.C,
        "email_measure": EmailMeasure.REDIRECT,
        "phone_measure": PhoneMeasure.NONE,
        "starts_on": dt.date(2026, 1, 1),
        "spoc_name": "Sam Spoc",
        "spoc_email": "spoc@council.example.org",
        "spoc_phone": "+442079460999",
        **overrides,
    }
    if isinstance(values.get("windows"), str):
        values["windows"] = WindowSchedule.parse(values["windows"])
    return RestrictionTerms(**values)


def answer_for(*restrictions: RestrictionTerms, raw: str = PHONE, at=TUESDAY_MORNING):
    links = [((IdentityKind.PHONE, PHONE), t) for t in restrictions]
    links += [((IdentityKind.EMAIL, EMAIL), t) for t in restrictions]
    snapshot = RegisterSnapshot.build(1, links)
    identity = normalise_email(raw) if "@" in raw else normalise_phone(raw)
    return look_up(identity, snapshot, POLICY, at)


def fields(answer) -> dict:
    return answer_fields(answer, LONDON)


def test_states_for_restricted_unrestricted_withheld_and_unparseable() -> None:
    restricted = answer_for(terms())
    assert restricted.state is LookupState.RESTRICTED
    assert answer_for(terms(), raw="07700 900123").state is LookupState.NOT_RESTRICTED
    assert answer_for(terms(), raw="Withheld").state is LookupState.WITHHELD
    assert answer_for(terms(), raw="12ab").state is LookupState.UNPARSEABLE
    assert answer_for(terms(), raw="not@an@address").state is LookupState.UNPARSEABLE


def test_every_state_has_the_same_fields() -> None:
    keys = {
        frozenset(fields(answer_for(terms(), raw=raw)))
        for raw in (PHONE, "07700 900123", "anonymous", "zz", EMAIL, "jo@")
    }
    assert len(keys) == 1


def test_a_restriction_not_yet_started_or_already_ended_does_not_apply() -> None:
    later = terms(starts_on=dt.date(2026, 11, 25))
    ended = terms("CCR-2026-0002", ends_on=dt.date(2026, 11, 23))
    assert answer_for(later, ended).state is LookupState.NOT_RESTRICTED


def test_the_strongest_restriction_leads_the_answer() -> None:
    trial = terms("CCR-2026-0001", mode=Mode.SHADOW, phone_measure=PhoneMeasure.BARRED)
    windows = terms("CCR-2026-0002", phone_measure=PhoneMeasure.WINDOWS, windows="Mon 09:00-10:00")
    barred = terms("CCR-2026-0003", phone_measure=PhoneMeasure.BARRED)
    answer = answer_for(trial, windows, barred)
    assert answer.references == ["CCR-2026-0003", "CCR-2026-0002", "CCR-2026-0001"]
    body = fields(answer)
    assert (body["reference"], body["phone_measure"]) == ("CCR-2026-0003", "barred")
    assert "Other restrictions also apply (CCR-2026-0002, CCR-2026-0001)" in body["agent_script"]


def test_a_caller_is_permitted_only_if_every_restriction_permits() -> None:
    open_window = terms(
        "CCR-2026-0001", phone_measure=PhoneMeasure.WINDOWS, windows="Tue 11:00-12:00"
    )
    closed = terms("CCR-2026-0002", phone_measure=PhoneMeasure.WINDOWS, windows="Wed 11:00-12:00")
    assert answer_for(open_window).call_permitted_now is True
    assert answer_for(open_window, closed).call_permitted_now is False


def test_a_window_that_runs_past_midnight_closes_tomorrow() -> None:
    late = terms(phone_measure=PhoneMeasure.WINDOWS, windows="Tue 23:00-01:00")
    at = dt.datetime(2026, 11, 24, 23, 30, tzinfo=dt.UTC)
    body = fields(answer_for(late, at=at))
    assert body["window_open_now"] is True
    assert body["window_closes_at"] == "2026-11-25T01:00:00+00:00"
    assert body["window_text"] == "open now, until tomorrow at 01:00"


def test_barred_script_points_to_the_spoc_mailbox_and_the_safeguarding_duty() -> None:
    script = fields(answer_for(terms(phone_measure=PhoneMeasure.BARRED)))["agent_script"]
    assert script.startswith(
        "Telephone contact is not accepted from this caller under contact restriction "
        "CCR-2026-0001."
    )
    assert "please contact Sam Spoc by email at spoc@council.example.org" in script
    assert "020 7946 0999" not in script  # a barred caller is not given a number to ring
    assert "safeguarding procedure" in script
    assert "subject access" in script


def test_closed_window_without_a_spoc_asks_for_contact_in_writing() -> None:
    bare = terms(
        phone_measure=PhoneMeasure.WINDOWS,
        windows="Thu 14:00-15:30",
        spoc_name=None,
        spoc_email=None,
        spoc_phone=None,
        email_measure=EmailMeasure.NONE,
    )
    script = fields(answer_for(bare))["agent_script"]
    assert "You can call again on Thursday 26 November at 14:00, or contact us in writing" in script


def test_an_email_only_restriction_lets_calls_through_and_names_the_spoc() -> None:
    body = fields(answer_for(terms()))
    assert body["call_permitted_now"] is True
    assert body["window_open_now"] is None
    assert body["summary"] == "Contact restriction CCR-2026-0001: telephone contact not restricted"
    assert body["agent_script"].startswith(
        "Contact restriction CCR-2026-0001 applies to this caller, but not to telephone calls: "
        "please take the call as normal. Their emails go to Sam Spoc (spoc@council.example.org)."
    )


def test_call_limits_are_read_out_kindly() -> None:
    limited = terms(max_calls_per_day=1, max_calls_per_week=3, max_call_minutes=15)
    assert (
        "The arrangement allows 1 call a day and 3 calls a week, up to 15 minutes a call; if a "
        "call goes beyond that, explain this kindly and close the call."
    ) in fields(answer_for(limited))["agent_script"]


def test_an_email_lookup_speaks_of_the_customer() -> None:
    body = fields(answer_for(terms(phone_measure=PhoneMeasure.BARRED), raw="Jo@Example.org"))
    assert body["kind"] == "email"
    assert "not accepted from this customer" in body["agent_script"]


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        (dt.datetime(2026, 11, 24, 14, 0, tzinfo=dt.UTC), "today at 14:00"),
        (dt.datetime(2026, 11, 25, 0, 30, tzinfo=dt.UTC), "tomorrow at 00:30"),
        (dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC), "on Tuesday 1 December at 09:00"),
        # 23:30 UTC on 28 June is 00:30 on the 29th in London (BST).
        (dt.datetime(2026, 6, 28, 23, 30, tzinfo=dt.UTC), "on Monday 29 June at 00:30"),
    ],
)
def test_when_text_reads_the_london_clock(instant: dt.datetime, expected: str) -> None:
    assert when_text(instant, TUESDAY_MORNING, LONDON) == expected


def test_describe_prints_the_fields_an_agent_needs() -> None:
    limited = dataclasses.replace(
        terms(phone_measure=PhoneMeasure.WINDOWS, windows="Thu 14:00-15:30"),
        max_call_minutes=10,
    )
    answer = answer_for(limited)
    body = fields(answer)
    assert describe(answer, LONDON) == [
        "phone +441632960001: 1 restriction(s) in force",
        "  CCR-2026-0001  stage stage1  mode enforce  email redirect  phone windows",
        "    permitted times: Thu 14:00-15:30; closed now, next opens on Thursday 26 November "
        "at 14:00",
        "    limits: up to 10 minutes a call",
        "    single point of contact: Sam Spoc, spoc@council.example.org, 020 7946 0999",
        "state: restricted",
        "call permitted now: no",
        f"summary: {body['summary']}",
        f"agent script: {body['agent_script']}",
    ]


@pytest.mark.parametrize(
    "overrides",
    [
        {"phone_measure": PhoneMeasure.BARRED},
        {"phone_measure": PhoneMeasure.WINDOWS, "windows": "Tue 10:00-12:00"},
        {"max_calls_per_day": 1},
        {"mode": Mode.SHADOW},
    ],
)
def test_the_caller_views_script_is_the_screen_pops(overrides: dict) -> None:
    restriction = terms(**overrides)
    pop = agent_script(answer_for(restriction), LONDON)
    one = summarise(restriction, POLICY, TUESDAY_MORNING)
    assert call_script(one, TUESDAY_MORNING, LONDON) == pop


def test_a_restriction_scoped_to_services_says_so_in_fields_script_and_description() -> None:
    scoped = terms(
        phone_measure=PhoneMeasure.BARRED,
        scope_all=False,
        scope_services=("Council Tax", "Housing"),
    )
    answer = answer_for(scoped)
    body = fields(answer)
    assert body["services"] == ["Council Tax", "Housing"]
    assert body["scope_text"] == "Council Tax and Housing only"
    assert body["agent_script"].startswith(
        "Council Tax and Housing only: take other calls as normal. Telephone contact is not "
        "accepted"
    )
    assert "    covers: Council Tax and Housing only" in describe(answer, LONDON)
    email = fields(answer_for(scoped, raw=EMAIL))["agent_script"]
    assert email.startswith("Council Tax and Housing only: take other contacts as normal.")


def test_a_restriction_on_every_service_has_no_services_field() -> None:
    body = fields(answer_for(terms(phone_measure=PhoneMeasure.BARRED)))
    assert (body["services"], body["scope_text"]) == (None, "Every council service")
    assert body["agent_script"].startswith("Telephone contact is not accepted")
