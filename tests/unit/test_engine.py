"""The decision table: every measure and outcome the design names, for mail and for calls."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from routing.content import ContentHints, scan_text
from routing.engine import Contact, Decision, RoutingPolicy, decide
from routing.enums import (
    Category,
    Channel,
    Direction,
    EmailMeasure,
    FlagKind,
    IdentityKind,
    Mode,
    Outcome,
    PhoneMeasure,
    Stage,
)
from routing.identity import normalise_email, normalise_phone
from routing.snapshot import RegisterSnapshot, RestrictionTerms
from routing.windows import WindowSchedule, england_and_wales_bank_holidays

CUSTOMER = "jo@example.org"
CUSTOMER_PHONE = "+441632960001"
OTHER = "someone.else@example.org"
HOUSING = "housing@council.example.org"
TAX = "counciltax@council.example.org"
SPOC = "spoc@council.example.org"
SPOC_LINE = "+442079460999"
RECORDS = "records@council.example.org"
IG = "information.governance@council.example.org"
DUTY = "asc.duty@council.example.org"

POLICY = RoutingPolicy(
    records_mailbox=RECORDS,
    ig_mailbox=IG,
    installation_id="ccr-test",
    exempt_addresses=frozenset({DUTY}),
    holidays=england_and_wales_bank_holidays(),
)
# Tuesday 24 November 2026, 10:30 in London (GMT, so also 10:30 UTC).
TUESDAY_MORNING = dt.datetime(2026, 11, 24, 10, 30, tzinfo=dt.UTC)


def terms(ref: str = "CCR-2026-0001", **overrides: object) -> RestrictionTerms:
    base = RestrictionTerms(
        id=int(ref[-4:]),
        reference=ref,
        customer_id=1,
        mode=Mode.ENFORCE,
        stage=Stage.STAGE1,
        category=Category.C,
        email_measure=EmailMeasure.REDIRECT,
        phone_measure=PhoneMeasure.NONE,
        starts_on=dt.date(2026, 1, 1),
        spoc_email=SPOC,
        spoc_phone=SPOC_LINE,
    )
    return dataclasses.replace(base, **overrides)


def register(*restrictions: RestrictionTerms, email: str = CUSTOMER) -> RegisterSnapshot:
    links = []
    for r in restrictions:
        links.append(((IdentityKind.EMAIL, email), r))
        links.append(((IdentityKind.PHONE, CUSTOMER_PHONE), r))
    return RegisterSnapshot.build(1, links)


def mail(
    snapshot: RegisterSnapshot,
    *,
    senders: tuple[str, ...] = (CUSTOMER,),
    to: str = HOUSING,
    at: dt.datetime = TUESDAY_MORNING,
    hints: ContentHints | None = None,
) -> Decision:
    contact = Contact(
        channel=Channel.EMAIL,
        senders=tuple(normalise_email(s) for s in senders),
        to=to,
        at=at,
        hints=hints or ContentHints(),
    )
    return decide(contact, snapshot, POLICY)


def call(snapshot: RegisterSnapshot, *, caller: str = "01632 960001", **fields: object) -> Decision:
    values: dict = {"to": SPOC_LINE, "at": TUESDAY_MORNING, **fields}
    contact = Contact(channel=Channel.PHONE, senders=(normalise_phone(caller),), **values)
    return decide(contact, snapshot, POLICY)


def rules(decision: Decision) -> list[str]:
    return [hit.rule for hit in decision.reasons]


# --- mail: each measure -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("measure", "outcome", "recipients"),
    [
        (EmailMeasure.NONE, Outcome.DELIVER, (HOUSING,)),
        (EmailMeasure.COPY, Outcome.COPY, (HOUSING, SPOC)),
        (EmailMeasure.REDIRECT, Outcome.REDIRECT, (SPOC,)),
        (EmailMeasure.FILE, Outcome.FILE, (RECORDS,)),
        # Refused, but a person still reads it: the single point of contact.
        (EmailMeasure.REJECT, Outcome.REJECT, (SPOC,)),
    ],
)
def test_each_email_measure_routes_the_message_where_the_design_says(
    measure: EmailMeasure, outcome: Outcome, recipients: tuple[str, ...]
) -> None:
    decision = mail(register(terms(email_measure=measure)))
    assert decision.outcome is outcome
    assert decision.deliver_to == recipients
    assert decision.restriction is not None
    assert decision.restriction.reference == "CCR-2026-0001"
    assert decision.reasons[-1].restriction == "CCR-2026-0001"


def test_unrestricted_sender_is_delivered_as_addressed_with_a_reason() -> None:
    decision = mail(register(terms()), senders=(OTHER,))
    assert decision.outcome is Outcome.DELIVER
    assert decision.deliver_to == (HOUSING,)
    assert decision.restriction is None
    assert decision.reasons[0].reason == "No restriction applies to this sender."


def test_rejection_names_the_permitted_channel() -> None:
    decision = mail(register(terms(email_measure=EmailMeasure.REJECT)))
    assert decision.reject_message is not None
    assert SPOC in decision.reject_message
    assert SPOC_LINE in decision.reject_message
    assert decision.reject_message.isascii()


def test_rejection_does_not_offer_a_barred_telephone_line() -> None:
    barred = terms(email_measure=EmailMeasure.REJECT, phone_measure=PhoneMeasure.BARRED)
    decision = mail(register(barred))
    assert decision.reject_message is not None
    assert SPOC_LINE not in decision.reject_message


def test_redirect_reason_names_the_restriction_sender_and_spoc() -> None:
    reason = mail(register(terms())).reasons[-1].reason
    assert "CCR-2026-0001" in reason
    assert CUSTOMER in reason
    assert SPOC in reason


def test_any_sender_identity_matches_not_only_the_first() -> None:
    # The envelope sender is a list bounce address; the From header is the customer's.
    decision = mail(register(terms()), senders=("bounce-123@lists.example.org", CUSTOMER))
    assert decision.outcome is Outcome.REDIRECT
    assert CUSTOMER in decision.reasons[-1].reason


def test_plus_addressed_variant_is_caught_when_folding_is_on() -> None:
    contact = Contact(
        Channel.EMAIL,
        (normalise_email("Jo+council@EXAMPLE.org", fold_plus=True),),
        HOUSING,
        TUESDAY_MORNING,
    )
    assert decide(contact, register(terms()), POLICY).outcome is Outcome.REDIRECT


def test_unreadable_sender_is_ignored_not_guessed() -> None:
    decision = mail(register(terms()), senders=("not an address",))
    assert decision.outcome is Outcome.DELIVER


# --- mail: modes and several restrictions ---------------------------------------------------


def test_shadow_mode_delivers_untouched_and_records_what_would_have_happened() -> None:
    decision = mail(register(terms(mode=Mode.SHADOW, email_measure=EmailMeasure.REJECT)))
    assert decision.outcome is Outcome.DELIVER
    assert decision.deliver_to == (HOUSING,)
    assert decision.would_outcome is Outcome.REJECT
    assert decision.mode is Mode.SHADOW
    assert decision.reject_message is None
    assert rules(decision)[-1] == "shadow_mode"


def test_an_enforced_restriction_wins_over_a_shadow_one() -> None:
    shadow = terms("CCR-2026-0002", mode=Mode.SHADOW, email_measure=EmailMeasure.REJECT)
    enforced = terms("CCR-2026-0003", email_measure=EmailMeasure.COPY)
    decision = mail(register(shadow, enforced))
    assert decision.outcome is Outcome.COPY
    assert decision.restriction is not None
    assert decision.restriction.reference == "CCR-2026-0003"


def test_an_enforced_phone_only_restriction_does_not_hide_a_shadow_email_trial() -> None:
    phone_only = terms(
        "CCR-2026-0002", email_measure=EmailMeasure.NONE, phone_measure=PhoneMeasure.BARRED
    )
    trial = terms("CCR-2026-0003", mode=Mode.SHADOW, email_measure=EmailMeasure.REJECT)
    decision = mail(register(phone_only, trial))
    assert decision.outcome is Outcome.DELIVER
    assert decision.would_outcome is Outcome.REJECT
    assert "shadow_mode" in rules(decision)


def test_a_shadow_trial_never_records_refusing_a_statutory_request() -> None:
    trial = terms(mode=Mode.SHADOW, email_measure=EmailMeasure.REJECT)
    decision = mail(register(trial), hints=scan_text("This is a subject access request"))
    assert decision.outcome is Outcome.DELIVER
    assert decision.would_outcome is Outcome.REDIRECT


def test_the_strongest_of_several_enforced_measures_applies() -> None:
    copy = terms("CCR-2026-0002", email_measure=EmailMeasure.COPY)
    reject = terms("CCR-2026-0003", email_measure=EmailMeasure.REJECT)
    redirect = terms("CCR-2026-0004", email_measure=EmailMeasure.REDIRECT)
    assert mail(register(copy, reject, redirect)).outcome is Outcome.REJECT


# --- mail: dates, scope, exemptions -------------------------------------------------------


def test_restriction_not_yet_started_does_not_apply() -> None:
    decision = mail(register(terms(starts_on=dt.date(2026, 12, 1))))
    assert decision.outcome is Outcome.DELIVER
    assert "in_force" in rules(decision)


def test_end_date_is_judged_by_the_uk_calendar_day() -> None:
    # 23:30 UTC on 1 July is 00:30 on 2 July in London (BST): the restriction has ended.
    ended = register(terms(ends_on=dt.date(2026, 7, 1)))
    late_evening_utc = dt.datetime(2026, 7, 1, 23, 30, tzinfo=dt.UTC)
    assert mail(ended, at=late_evening_utc).outcome is Outcome.DELIVER
    earlier = dt.datetime(2026, 7, 1, 22, 30, tzinfo=dt.UTC)  # 23:30 BST, still 1 July
    assert mail(ended, at=earlier).outcome is Outcome.REDIRECT


def test_installation_wide_exempt_mailbox_is_always_delivered() -> None:
    decision = mail(register(terms(email_measure=EmailMeasure.REJECT)), to=DUTY)
    assert decision.outcome is Outcome.DELIVER
    assert decision.deliver_to == (DUTY,)
    assert "exempt" in rules(decision)


def test_restriction_specific_exemption_is_delivered() -> None:
    exempting = terms(exempt_addresses=frozenset({TAX}))
    assert mail(register(exempting), to=TAX).outcome is Outcome.DELIVER
    assert mail(register(exempting), to=HOUSING).outcome is Outcome.REDIRECT


def test_scoped_restriction_applies_only_to_its_services() -> None:
    scoped = terms(
        scope_all=False, scope_services=("Housing",), scope_addresses=frozenset({HOUSING})
    )
    assert mail(register(scoped), to=HOUSING).outcome is Outcome.REDIRECT
    outside = mail(register(scoped), to=TAX)
    assert outside.outcome is Outcome.DELIVER
    assert "covers only Housing" in outside.reasons[-1].reason


# --- mail: statutory requests, safeguarding, loops ------------------------------------------


def test_statutory_request_also_reaches_information_governance() -> None:
    hints = scan_text("Please treat this as a Freedom of Information request.")
    decision = mail(register(terms(email_measure=EmailMeasure.FILE)), hints=hints)
    assert decision.statutory
    assert decision.outcome is Outcome.FILE
    assert decision.deliver_to == (RECORDS, IG)


def test_statutory_request_from_an_unrestricted_sender_still_reaches_ig() -> None:
    hints = scan_text("I am making a subject access request for my records.")
    decision = mail(RegisterSnapshot.empty(), senders=(OTHER,), hints=hints)
    assert decision.deliver_to == (HOUSING, IG)


@pytest.mark.parametrize(
    "text",
    [
        "This is a subject access request under the Data Protection Act.",
        "I feel like I want to end my life.",
    ],
)
def test_statutory_or_safeguarding_mail_is_redirected_never_rejected(text: str) -> None:
    decision = mail(register(terms(email_measure=EmailMeasure.REJECT)), hints=scan_text(text))
    assert decision.outcome is Outcome.REDIRECT
    assert SPOC in decision.deliver_to
    assert "a_person_must_read" in rules(decision)


def test_safeguarding_wording_is_marked_for_an_urgent_alert() -> None:
    decision = mail(register(terms()), hints=scan_text("I am going to hurt myself tonight"))
    assert decision.safeguarding
    assert decision.outcome is Outcome.REDIRECT


def test_message_already_routed_here_is_not_routed_again() -> None:
    decision = mail(register(terms()), hints=ContentHints(routed_by="ccr-test"))
    assert decision.outcome is Outcome.DELIVER
    assert decision.deliver_to == (HOUSING,)
    assert rules(decision) == ["loop_guard"]


def test_message_routed_by_another_installation_is_still_routed() -> None:
    decision = mail(register(terms()), hints=ContentHints(routed_by="another-council"))
    assert decision.outcome is Outcome.REDIRECT


def test_redirect_never_returns_the_message_to_its_sender() -> None:
    own_spoc = terms(spoc_email=CUSTOMER)
    decision = mail(register(own_spoc))
    assert decision.outcome is Outcome.DELIVER
    assert decision.deliver_to == (HOUSING,)
    assert "never_back_to_sender" in rules(decision)


def test_contact_time_must_carry_a_time_zone() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        mail(register(terms()), at=dt.datetime(2026, 11, 24, 10, 30))


# --- calls -----------------------------------------------------------------------------------


def windows(
    text: str = "Tue 10:00-12:00; Thu 14:00-15:30", **overrides: object
) -> RestrictionTerms:
    return terms(
        phone_measure=PhoneMeasure.WINDOWS, windows=WindowSchedule.parse(text), **overrides
    )


def flag_kinds(decision: Decision) -> list[FlagKind]:
    return [flag.kind for flag in decision.flags]


def test_unrestricted_caller_is_allowed() -> None:
    decision = call(register(terms()), caller="01632 960777")
    assert decision.outcome is Outcome.ALLOW
    assert decision.flags == ()


@pytest.mark.parametrize("caller", ["anonymous", "", "not a number"])
def test_withheld_or_unreadable_caller_is_allowed_and_says_why(caller: str) -> None:
    decision = call(register(terms(phone_measure=PhoneMeasure.BARRED)), caller=caller)
    assert decision.outcome is Outcome.ALLOW
    assert rules(decision) == ["unidentified_caller"]


def test_barred_caller_is_flagged_naming_the_restriction() -> None:
    decision = call(register(terms(phone_measure=PhoneMeasure.BARRED)))
    assert decision.outcome is Outcome.FLAG
    assert flag_kinds(decision) == [FlagKind.PHONE_BARRED]
    assert decision.flags[0].restriction.reference == "CCR-2026-0001"


def test_outbound_call_to_a_barred_customer_is_recorded_not_flagged() -> None:
    decision = call(
        register(terms(phone_measure=PhoneMeasure.BARRED)), direction=Direction.OUTBOUND
    )
    assert decision.outcome is Outcome.ALLOW
    assert decision.flags == ()


@pytest.mark.parametrize(
    ("local_time", "flagged"),
    [((9, 59), True), ((10, 0), False), ((11, 59), False), ((12, 0), True)],
)
def test_call_either_side_of_a_window_edge(local_time: tuple[int, int], flagged: bool) -> None:
    at = dt.datetime(2026, 11, 24, *local_time, tzinfo=dt.UTC)  # GMT: UTC equals London time
    decision = call(register(windows()), at=at)
    assert (FlagKind.OUTSIDE_WINDOW in flag_kinds(decision)) is flagged


def test_window_is_evaluated_in_summer_time() -> None:
    # Tuesday 7 July 2026 10:30 BST is 09:30 UTC: inside the 10:00-12:00 window.
    at = dt.datetime(2026, 7, 7, 9, 30, tzinfo=dt.UTC)
    assert flag_kinds(call(register(windows()), at=at)) == []


def test_window_on_a_bank_holiday_is_closed() -> None:
    # Monday 31 August 2026 is the summer bank holiday in England and Wales.
    at = dt.datetime(2026, 8, 31, 9, 30, tzinfo=dt.UTC)  # 10:30 BST
    decision = call(register(windows("Mon 10:00-12:00")), at=at)
    assert flag_kinds(decision) == [FlagKind.OUTSIDE_WINDOW]


@pytest.mark.parametrize(("earlier", "flagged"), [(1, False), (2, True)])
def test_daily_call_limit(earlier: int, flagged: bool) -> None:
    decision = call(register(windows(max_calls_per_day=2)), calls_earlier_today=earlier)
    assert (FlagKind.OVER_CALL_LIMIT in flag_kinds(decision)) is flagged


@pytest.mark.parametrize(("earlier", "flagged"), [(4, False), (5, True)])
def test_weekly_call_limit(earlier: int, flagged: bool) -> None:
    decision = call(register(windows(max_calls_per_week=5)), calls_earlier_this_week=earlier)
    assert (FlagKind.OVER_CALL_LIMIT in flag_kinds(decision)) is flagged


@pytest.mark.parametrize(("seconds", "flagged"), [(600, False), (601, True)])
def test_call_duration_limit(seconds: int, flagged: bool) -> None:
    decision = call(register(windows(max_call_minutes=10)), duration_seconds=seconds)
    assert (FlagKind.OVER_DURATION in flag_kinds(decision)) is flagged


def test_call_to_another_line_than_the_spoc_is_flagged() -> None:
    decision = call(register(windows()), to="+442079460100")
    assert flag_kinds(decision) == [FlagKind.WRONG_LINE]
    assert "+442079460999" in decision.flags[0].detail


def test_every_broken_term_is_flagged_at_once() -> None:
    restriction = windows(max_calls_per_day=1, max_call_minutes=5)
    saturday = dt.datetime(2026, 11, 28, 10, 30, tzinfo=dt.UTC)
    decision = call(
        register(restriction),
        at=saturday,
        to="+442079460100",
        calls_earlier_today=1,
        duration_seconds=900,
    )
    assert set(flag_kinds(decision)) == {
        FlagKind.OUTSIDE_WINDOW,
        FlagKind.OVER_CALL_LIMIT,
        FlagKind.OVER_DURATION,
        FlagKind.WRONG_LINE,
    }


def test_call_within_terms_is_allowed_with_a_reason() -> None:
    decision = call(register(windows()))
    assert decision.outcome is Outcome.ALLOW
    assert decision.restriction is not None
    assert rules(decision)[-1] == "within_terms"


def test_shadow_call_flags_are_recorded_as_would_have() -> None:
    decision = call(register(terms(mode=Mode.SHADOW, phone_measure=PhoneMeasure.BARRED)))
    assert decision.outcome is Outcome.ALLOW
    assert decision.would_outcome is Outcome.FLAG
    assert flag_kinds(decision) == [FlagKind.PHONE_BARRED]
    assert decision.reasons[-1].reason.startswith("(shadow mode)")


def test_scoped_restriction_ignores_calls_to_other_services() -> None:
    scoped = terms(
        phone_measure=PhoneMeasure.BARRED,
        scope_all=False,
        scope_services=("Council Tax",),
        scope_addresses=frozenset({"+442079460200"}),
    )
    assert call(register(scoped), to="+442079460200").outcome is Outcome.FLAG
    assert call(register(scoped), to="+442079460100").outcome is Outcome.ALLOW


# --- content screens -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "FOI request: bin collections",
        "under the Freedom of Information Act 2000",
        "Environmental Information Regulations request",
        "subject access request",
        "my SAR about my file",
    ],
)
def test_statutory_wording_is_recognised(text: str) -> None:
    assert scan_text(text).statutory


@pytest.mark.parametrize(
    "text",
    [
        "Please fix the boiler",
        "the information you sent was wrong",
        "foil wrapping",
        "sarcastic reply",
    ],
)
def test_ordinary_wording_is_not_statutory(text: str) -> None:
    assert not scan_text(text).statutory


@pytest.mark.parametrize(
    "text",
    [
        "I will kill myself",
        "thinking about suicide",
        "I'm going to hurt you",
        "I don't want to live any more",
    ],
)
def test_safeguarding_wording_is_recognised(text: str) -> None:
    assert scan_text(text).safeguarding


def test_ordinary_wording_raises_no_safeguarding_concern() -> None:
    assert not scan_text("The repair is killing me with delays, please call back").safeguarding


@pytest.mark.parametrize(
    ("to", "why"),
    [
        (SPOC, "the single point of contact it names"),
        (IG, "the information-governance mailbox"),
        (DUTY, "is exempt"),
    ],
)
def test_a_refusing_restriction_never_stands_in_the_way_of_the_channels_that_stay_open(
    to: str, why: str
) -> None:
    for measure in (EmailMeasure.REJECT, EmailMeasure.FILE, EmailMeasure.REDIRECT):
        decision = mail(register(terms(email_measure=measure)), to=to)
        assert decision.outcome is Outcome.DELIVER, measure
        assert decision.deliver_to == (to,)
        assert decision.reject_message is None
        assert why in decision.reasons[-1].reason


def test_another_spoc_address_is_not_an_open_channel_for_this_customer() -> None:
    other_spoc = "other.spoc@council.example.org"
    decision = mail(register(terms(email_measure=EmailMeasure.REJECT)), to=other_spoc)
    assert decision.outcome is Outcome.REJECT
