"""Contact volume rules (routing.volume): thresholds, windows, what counts, and the wording."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from routing.enums import Channel, Direction
from routing.volume import (
    CHART_DAYS,
    DEFAULT_THRESHOLDS,
    Focus,
    Measure,
    VolumeConfigError,
    VolumeEvent,
    build_rules,
    evaluate,
    parse_person_key,
    person_key,
    with_chart,
)

LONDON = ZoneInfo("Europe/London")
NOW = dt.datetime(2026, 11, 24, 15, 0, tzinfo=dt.UTC)
SECOND = dt.timedelta(seconds=1)
EMAIL, PHONE = Channel.EMAIL, Channel.PHONE
HOUSING = "housing@council.example.org"


def only(name: str, threshold: int, services: dict | None = None):
    """A rule set holding this one rule (every default switched off)."""
    thresholds = dict.fromkeys(DEFAULT_THRESHOLDS, False) | {name: threshold}
    return build_rules(thresholds, services)


def events(count: int, channel: Channel = EMAIL, *, start: int = 1, **fields) -> list[VolumeEvent]:
    """``count`` contacts one minute apart, the last at NOW."""
    made = []
    for n in range(count):
        at = NOW - dt.timedelta(minutes=count - 1 - n)
        values = {"target": HOUSING, **fields}
        made.append(VolumeEvent(id=start + n, at=at, channel=channel, **values))
    return made


def crossed(rules, contacts, focus: Focus | None = None, **kwargs) -> list[str]:
    focus = focus or Focus.around([NOW])
    ordered = sorted(contacts, key=lambda e: (e.at, e.id))
    return [f.rule.key for f in evaluate(rules, ordered, focus, LONDON, **kwargs)]


# --- each rule crossed, and not crossed, by one contact -----------------------------------------


@pytest.mark.parametrize(
    ("rule", "channel", "fields"),
    [
        ("emails_1d", EMAIL, {}),
        ("emails_7d", EMAIL, {}),
        ("emails_28d", EMAIL, {}),
        ("calls_1d", PHONE, {}),
        ("calls_7d", PHONE, {}),
        ("calls_28d", PHONE, {}),
        ("contacts_1d", PHONE, {}),
        ("contacts_7d", EMAIL, {}),
        ("contacts_28d", EMAIL, {}),
        ("same_content_14d", EMAIL, {"content_hash": "a" * 64}),
    ],
)
def test_a_count_rule_is_crossed_by_the_contact_after_its_threshold(rule, channel, fields):
    rules = only(rule, 4)
    assert crossed(rules, events(4, channel, **fields)) == []
    assert crossed(rules, events(5, channel, **fields)) == [rule]


def test_call_minutes_cross_when_the_total_goes_over_by_a_second():
    rules = only("call_minutes_1d", 60)
    calls = events(3, PHONE, seconds=20 * 60)
    assert crossed(rules, calls) == []
    longer = [*calls[:2], VolumeEvent(3, calls[2].at, PHONE, HOUSING, seconds=20 * 60 + 1)]
    [finding] = evaluate(rules, longer, Focus.around([NOW]), LONDON)
    assert finding.shown_value == 61  # minutes, rounded up


def test_scatter_gun_counts_different_mailboxes_and_lines():
    rules = only("mailboxes_7d", 3)
    boxes = [f"officer{n}@council.example.org" for n in range(3)]
    three = [VolumeEvent(n, NOW - n * SECOND, EMAIL, box) for n, box in enumerate(boxes)]
    assert crossed(rules, three) == []
    again = [*three, VolumeEvent(9, NOW - 9 * SECOND, EMAIL, boxes[0])]  # same box again
    assert crossed(rules, again) == []
    line = VolumeEvent(10, NOW - 10 * SECOND, PHONE, "+441632960100")
    assert crossed(rules, [*again, line]) == ["mailboxes_7d"]


def test_the_same_content_counts_only_identical_fingerprints():
    rules = only("same_content_14d", 2)
    same = events(2, content_hash="a" * 64)
    other = events(2, start=10, content_hash="b" * 64)
    unknown = events(3, start=20, content_hash=None)  # empty messages are never "the same"
    assert crossed(rules, same + other + unknown) == []
    third = VolumeEvent(30, NOW - dt.timedelta(hours=1), EMAIL, HOUSING, content_hash="a" * 64)
    assert crossed(rules, [*same, third]) == ["same_content_14d"]
    # The same message to two mailboxes at once is one sending, not two.
    copy = VolumeEvent(31, NOW, EMAIL, "tax@council.example.org", content_hash="a" * 64)
    assert crossed(rules, [*same, copy]) == []


# --- windows ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("rule", "days"), [("emails_1d", 1), ("emails_7d", 7), ("emails_28d", 28)])
def test_a_contact_just_inside_the_window_counts_and_one_just_outside_does_not(rule, days):
    rules = only(rule, 2)
    window = dt.timedelta(days=days)
    recent = [VolumeEvent(1, NOW - SECOND, EMAIL, HOUSING), VolumeEvent(2, NOW, EMAIL, HOUSING)]
    inside = VolumeEvent(3, NOW - window + SECOND, EMAIL, HOUSING)
    outside = VolumeEvent(4, NOW - window, EMAIL, HOUSING)  # the window is (end - W, end]
    assert crossed(rules, [inside, *recent]) == [rule]
    assert crossed(rules, [outside, *recent]) == []


def test_a_late_contact_is_counted_with_the_contacts_after_it():
    rules = only("calls_1d", 2)
    later = [VolumeEvent(n, NOW + n * dt.timedelta(hours=1), PHONE, "x") for n in (1, 2)]
    late = VolumeEvent(3, NOW, PHONE, "x")  # recorded last, happened first
    assert crossed(rules, [late, *later], Focus.around([late.at])) == ["calls_1d"]


def test_windows_not_containing_the_new_contact_are_not_looked_at():
    rules = only("calls_1d", 2)
    old_burst = [
        VolumeEvent(n, NOW - dt.timedelta(days=3, minutes=n), PHONE, "x") for n in range(3)
    ]
    new = VolumeEvent(9, NOW, PHONE, "x")
    assert crossed(rules, [*old_burst, new], Focus.around([NOW])) == []
    period = Focus.between(NOW - dt.timedelta(days=5), NOW)
    assert crossed(rules, [*old_burst, new], period) == ["calls_1d"]


def test_after_a_closed_alert_only_later_contacts_count_toward_that_rule():
    rules = only("emails_1d", 2)
    burst = events(5)
    closed = {"emails_1d": burst[2].at}  # dismissed after the third
    assert crossed(rules, burst, counted_after=closed) == []
    more = [*burst, VolumeEvent(10, NOW + SECOND, EMAIL, HOUSING)]  # the third after it
    assert crossed(rules, more, Focus.around([NOW + SECOND]), counted_after=closed) == ["emails_1d"]


# --- what is counted ----------------------------------------------------------------------------


def test_statutory_requests_and_outbound_calls_are_never_counted():
    rules = only("contacts_1d", 2)
    base = events(2)
    foi = VolumeEvent(7, NOW - SECOND, EMAIL, HOUSING, statutory=True)
    outbound = VolumeEvent(8, NOW - SECOND, PHONE, "x", direction=Direction.OUTBOUND)
    assert crossed(rules, [*base, foi, outbound]) == []
    assert crossed(rules, [*base, VolumeEvent(9, NOW - SECOND, PHONE, "x")]) == ["contacts_1d"]


def test_one_message_to_several_mailboxes_is_one_email():
    rules = only("emails_1d", 1)
    one_message = [
        VolumeEvent(n, NOW, EMAIL, f"box{n}@council.example.org", content_hash="c" * 64)
        for n in range(4)
    ]
    assert crossed(rules, one_message) == []
    [finding] = evaluate(
        rules, [VolumeEvent(9, NOW - SECOND, EMAIL, HOUSING), *one_message], Focus.around([NOW]),
        LONDON,
    )  # fmt: skip
    assert finding.value == 2
    assert sorted(finding.event_ids) == [0, 1, 2, 3, 9]  # every event is evidence


def test_emails_and_calls_combine_only_in_the_rules_that_say_so():
    thresholds = dict.fromkeys(DEFAULT_THRESHOLDS, False) | {
        "emails_1d": 3,
        "calls_1d": 3,
        "contacts_1d": 3,
    }
    rules = build_rules(thresholds)
    mixed = events(2, EMAIL) + events(2, PHONE, start=10)
    assert crossed(rules, mixed) == ["contacts_1d"]


# --- per-service thresholds ---------------------------------------------------------------------


def test_a_service_threshold_counts_its_own_contacts_and_the_general_rule_the_rest():
    rules = only("emails_1d", 2, {"Housing repairs": {"emails_1d": 4}})
    to_housing = [
        VolumeEvent(n, NOW - n * SECOND, EMAIL, HOUSING, services=frozenset({"Housing repairs"}))
        for n in range(4)
    ]
    assert crossed(rules, to_housing) == []  # 4 is not over Housing's 4, and not counted above
    fifth = VolumeEvent(
        9, NOW - 9 * SECOND, EMAIL, HOUSING, services=frozenset({"Housing repairs"})
    )
    assert crossed(rules, [*to_housing, fifth]) == ["emails_1d@Housing repairs"]
    elsewhere = [
        VolumeEvent(20 + n, NOW - n * SECOND, EMAIL, "tax@council.example.org") for n in range(3)
    ]
    assert crossed(rules, [*to_housing, *elsewhere]) == ["emails_1d"]


def test_a_service_can_switch_a_rule_off_for_its_contacts():
    rules = only("calls_1d", 1, {"Adult social care": {"calls_1d": False}})
    duty = frozenset({"Adult social care"})
    calls = [
        VolumeEvent(n, NOW - n * SECOND, PHONE, "+441632960200", services=duty) for n in range(9)
    ]
    assert crossed(rules, calls) == []
    assert [r.key for r in rules.rules] == ["calls_1d"]


# --- configuration and wording ------------------------------------------------------------------


def test_every_default_rule_has_a_plain_title_and_explanation():
    rules = build_rules({})
    assert {r.name for r in rules.rules} == set(DEFAULT_THRESHOLDS)
    titles = {r.key: r.title for r in rules.rules}
    assert titles["emails_1d"] == "More than 10 emails in any 24 hours"
    assert titles["calls_7d"] == "More than 15 calls in any 7 days"
    assert titles["call_minutes_7d"] == "More than 180 minutes of calls in any 7 days"
    assert titles["mailboxes_7d"] == (
        "Contact with more than 6 different council mailboxes or phone lines in any 7 days"
    )
    assert titles["same_content_14d"] == "The same email sent more than 3 times in any 14 days"
    for rule in rules.rules:
        assert "never counted" in rule.explanation
    assert {r.measure for r in rules.rules} == set(Measure)


@pytest.mark.parametrize(
    ("thresholds", "services", "message"),
    [
        ({"emails_1d": 0}, None, "rules.emails_1d: expected a whole number from 1"),
        ({"emails_1d": True}, None, "rules.emails_1d: expected a whole number"),
        ({"emails_1d": "10"}, None, "rules.emails_1d: expected a whole number"),
        ({"letters_1d": 3}, None, "rules.letters_1d: not a rule"),
        ({"emails_1w": 3}, None, "rules.emails_1w: not a rule"),
        ({"emails_32d": 3}, None, "rules.emails_32d: a window can be at most 31 days"),
        ({}, {"Housing": {"calls_1d": -1}}, "services.Housing.calls_1d: expected a whole"),
        ({}, {"Housing": {"callz_1d": 3}}, "services.Housing.callz_1d: not a rule"),
        ({}, {"Housing": 3}, "services.Housing: expected a table"),
    ],
)
def test_a_wrong_threshold_is_one_line_naming_it(thresholds, services, message):
    with pytest.raises(VolumeConfigError) as caught:
        build_rules(thresholds, services)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_a_finding_says_what_was_seen_without_personal_data():
    rules = only("emails_1d", 2)
    contacts = events(3)
    [found] = evaluate(rules, contacts, Focus.around([NOW]), LONDON)
    assert found.series == ()  # charted only when needed
    finding = with_chart(found, contacts, LONDON)
    assert finding.summary(LONDON) == (
        "More than 2 emails in any 24 hours: 3 emails from 24 Nov 2026 14:58 to 24 Nov 2026 15:00."
    )
    evidence = finding.evidence(LONDON)
    assert evidence["value"] == 3 and evidence["threshold"] == 2
    assert evidence["events"] == [1, 2, 3] and evidence["event_count"] == 3
    assert evidence["window"]["hours"] == 24
    assert len(evidence["series"]) == CHART_DAYS
    assert evidence["series"][-1] == {"day": "2026-11-24", "value": 3}
    assert HOUSING not in str(evidence)


def test_the_chart_uses_council_days():
    rules = only("emails_7d", 1)
    late_evening = dt.datetime(2026, 7, 1, 23, 30, tzinfo=dt.UTC)  # 00:30 on 2 July in London
    contacts = [VolumeEvent(n, late_evening + n * SECOND, EMAIL, HOUSING) for n in range(2)]
    [finding] = evaluate(rules, contacts, Focus.around([late_evening]), LONDON)
    series = with_chart(finding, contacts, LONDON).series
    assert series[-1] == (dt.date(2026, 7, 2), 2)
    assert series[-2] == (dt.date(2026, 7, 1), 0) and len(series) == CHART_DAYS


def test_person_keys():
    assert person_key(5, 9) == "c:5"
    assert person_key(None, 9) == "i:9"
    assert person_key(None, None) is None
    assert parse_person_key("c:5") == (5, None)
    assert parse_person_key("i:9") == (None, 9)
