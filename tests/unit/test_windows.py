"""Phone contact windows: parsing, wall-clock evaluation, clock changes and bank holidays."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.windows import (
    LONDON,
    Window,
    WindowSchedule,
    WindowSyntaxError,
    england_and_wales_bank_holidays,
)

BANK_HOLIDAYS = england_and_wales_bank_holidays()
ONE_MICROSECOND = dt.timedelta(microseconds=1)


def london(*args: int, fold: int = 0) -> dt.datetime:
    return dt.datetime(*args, tzinfo=LONDON, fold=fold)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def parse(text: str | None) -> WindowSchedule:
    return WindowSchedule.parse(text)


TUE_THU = parse("Tue 10:00-12:00; Thu 14:00-15:30")


class AlwaysHoliday:
    def __contains__(self, day: object) -> bool:
        return True


# --- parsing -------------------------------------------------------------------------------


def test_parse_two_windows() -> None:
    assert TUE_THU.windows == (
        Window(1, dt.time(10), dt.time(12)),
        Window(3, dt.time(14), dt.time(15, 30)),
    )


@pytest.mark.parametrize("text", [None, "", "   ", ";", " ; , "])
def test_blank_text_is_the_empty_schedule(text: str | None) -> None:
    schedule = parse(text)
    assert schedule.windows == ()
    assert not schedule
    assert str(schedule) == ""


def test_non_empty_schedule_is_truthy() -> None:
    assert TUE_THU


def test_day_range_expands_to_one_window_per_day() -> None:
    schedule = parse("Mon-Fri 09:00-12:00")
    assert [w.weekday for w in schedule.windows] == [0, 1, 2, 3, 4]
    assert str(schedule) == (
        "Mon 09:00-12:00; Tue 09:00-12:00; Wed 09:00-12:00; Thu 09:00-12:00; Fri 09:00-12:00"
    )


def test_day_range_may_wrap_past_sunday() -> None:
    assert str(parse("Sat-Mon 10:00-11:00")) == "Mon 10:00-11:00; Sat 10:00-11:00; Sun 10:00-11:00"


@pytest.mark.parametrize(
    ("text", "weekday"),
    [
        ("Mon 09:00-10:00", 0),
        ("monday 09:00-10:00", 0),
        ("TUE 09:00-10:00", 1),
        ("Tues 09:00-10:00", 1),
        ("tuesday 09:00-10:00", 1),
        ("Wed 09:00-10:00", 2),
        ("Weds 09:00-10:00", 2),
        ("Wednesday 09:00-10:00", 2),
        ("Thu 09:00-10:00", 3),
        ("Thurs 09:00-10:00", 3),
        ("Thursday 09:00-10:00", 3),
        ("fri 09:00-10:00", 4),
        ("Saturday 09:00-10:00", 5),
        ("SUNDAY 09:00-10:00", 6),
    ],
)
def test_day_names_and_abbreviations(text: str, weekday: int) -> None:
    assert parse(text).windows == (Window(weekday, dt.time(9), dt.time(10)),)


def test_single_digit_hours_commas_and_spaces_are_accepted() -> None:
    assert parse("  Thu 14:00 - 15:30 ,tue 9:00-12:00 ; ") == parse(
        "Tue 09:00-12:00; Thu 14:00-15:30"
    )


def test_windows_are_sorted_and_deduplicated() -> None:
    schedule = parse("Thu 14:00-15:30; Tue 10:00-12:00; Tue 10:00-12:00; Tue 08:00-09:00")
    assert str(schedule) == "Tue 08:00-09:00; Tue 10:00-12:00; Thu 14:00-15:30"


def test_constructor_normalises_order_too() -> None:
    late, early = Window(3, dt.time(14), dt.time(15)), Window(1, dt.time(10), dt.time(12))
    assert WindowSchedule((late, early, late)) == WindowSchedule((early, late))


def test_overnight_and_end_of_day_windows() -> None:
    assert parse("Fri 22:00-02:00").windows == (Window(4, dt.time(22), dt.time(2)),)
    assert parse("Mon 10:00-24:00").windows == (Window(0, dt.time(10), dt.time(0)),)
    assert parse("Mon 10:00-00:00") == parse("Mon 10:00-24:00")
    assert str(parse("Mon 10:00-00:00")) == "Mon 10:00-24:00"
    assert parse("Mon 00:00-24:00").windows == (Window(0, dt.time(0), dt.time(0)),)


@pytest.mark.parametrize(
    "text",
    [
        "Tue 10:00-12:00; Thu 14:00-15:30",
        "Mon-Fri 9:00-17:30, Sat 10:00-12:00",
        "Fri 22:00-02:00",
        "Sun 23:00-01:00; Mon 00:00-24:00",
        "Wed 10:00-24:00",
        "Sat-Mon 7:05-7:06",
        "",
    ],
)
def test_str_round_trips(text: str) -> None:
    schedule = parse(text)
    assert parse(str(schedule)) == schedule
    assert str(parse(str(schedule))) == str(schedule)


def test_exact_message_for_a_bad_hour() -> None:
    with pytest.raises(WindowSyntaxError) as raised:
        parse("Tue 25:00-26:00")
    assert str(raised.value) == "phone window 'Tue 25:00-26:00': hour must be 0-23"


@pytest.mark.parametrize(
    ("text", "message_part"),
    [
        ("Tue 10:60-11:00", "minute must be 0-59"),
        ("Tue 10:00-24:30", "hour must be 0-23"),
        ("Tus 10:00-12:00", "unknown day 'Tus'"),
        ("Mon-Fry 09:00-12:00", "unknown day 'Fry'"),
        ("Tue", "missing the times"),
        ("Tue 10:00-12:00; Wed", "phone window 'Wed': missing the times"),
        ("10:00-12:00", "must start with a day"),
        ("Tue 10:00", "expected one time range"),
        ("Tue 10:00-", "expected one time range"),
        ("Tue 10:00-12:00 14:00-15:00", "expected one time range"),
        ("Tue 10am-12pm", "'10am' is not a time"),
        ("Tue 1000-1200", "'1000' is not a time"),
        ("Tue 10.00-12.00", "'10.00' is not a time"),
        ("Tue 10:00-10:00", "zero length"),
        ("Tue 9:00-09:00", "zero length"),
        ("Tue 00:00-00:00", "zero length"),
        ("Tue 24:00-02:00", "24:00 can only be the end"),
    ],
)
def test_bad_text_is_refused_with_a_clear_message(text: str, message_part: str) -> None:
    with pytest.raises(WindowSyntaxError) as raised:
        parse(text)
    message = str(raised.value)
    assert message_part in message
    assert message.startswith("phone window ")
    assert "\n" not in message


def test_syntax_error_is_a_value_error() -> None:
    assert issubclass(WindowSyntaxError, ValueError)


@pytest.mark.parametrize(
    ("weekday", "start", "end"),
    [
        (7, dt.time(10), dt.time(11)),
        (-1, dt.time(10), dt.time(11)),
        (0, dt.time(10, 0, 30), dt.time(11)),
        (0, dt.time(10), dt.time(10)),
    ],
)
def test_window_refuses_impossible_values(weekday: int, start: dt.time, end: dt.time) -> None:
    with pytest.raises(ValueError):
        Window(weekday, start, end)


# --- is_open ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (london(2026, 1, 6, 9, 59, 59, 999999), False),  # Tuesday, GMT
        (london(2026, 1, 6, 10, 0), True),
        (london(2026, 1, 6, 11, 59, 59, 999999), True),
        (london(2026, 1, 6, 12, 0), False),
        (london(2026, 1, 8, 13, 59), False),  # Thursday
        (london(2026, 1, 8, 14, 0), True),
        (london(2026, 1, 8, 15, 29), True),
        (london(2026, 1, 8, 15, 30), False),
        (london(2026, 1, 7, 10, 30), False),  # Wednesday: no window
        (utc(2026, 7, 7, 8, 59), False),  # Tuesday, BST: 10:00 local is 09:00 UTC
        (utc(2026, 7, 7, 9, 0), True),
        (utc(2026, 7, 7, 10, 59), True),
        (utc(2026, 7, 7, 11, 0), False),
    ],
)
def test_is_open_either_side_of_each_edge(at: dt.datetime, expected: bool) -> None:
    assert TUE_THU.is_open(at) is expected


def test_is_open_depends_on_the_instant_not_the_zone_it_is_written_in() -> None:
    instant = utc(2026, 7, 7, 9, 30)
    new_york = dt.timezone(dt.timedelta(hours=-4))
    assert TUE_THU.is_open(instant.astimezone(new_york))
    assert TUE_THU.is_open(instant.astimezone(LONDON))


def test_other_evaluation_zone() -> None:
    paris = ZoneInfo("Europe/Paris")
    assert TUE_THU.is_open(utc(2026, 1, 6, 9, 30), tz=paris)
    assert not TUE_THU.is_open(utc(2026, 1, 6, 9, 30))


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (london(2026, 1, 9, 21, 59), False),  # Friday
        (london(2026, 1, 9, 22, 0), True),
        (london(2026, 1, 10, 0, 0), True),  # Saturday
        (london(2026, 1, 10, 1, 30), True),
        (london(2026, 1, 10, 1, 59, 59), True),
        (london(2026, 1, 10, 2, 0), False),
        (london(2026, 1, 10, 23, 0), False),  # Saturday night: the window starts on Fridays
        (london(2026, 1, 8, 23, 0), False),  # Thursday night
        (london(2026, 1, 9, 1, 0), False),  # Friday small hours belong to Thursday
    ],
)
def test_window_running_past_midnight(at: dt.datetime, expected: bool) -> None:
    assert parse("Fri 22:00-02:00").is_open(at) is expected


def test_sunday_overnight_window_wraps_into_monday() -> None:
    schedule = parse("Sun 23:00-01:00")
    assert schedule.is_open(london(2026, 1, 12, 0, 30))  # Monday
    assert not schedule.is_open(london(2026, 1, 12, 1, 0))
    assert schedule.is_open(london(2026, 1, 11, 23, 0))  # Sunday


def test_window_ending_at_24_00() -> None:
    schedule = parse("Mon 10:00-24:00")
    assert schedule.is_open(london(2026, 1, 5, 23, 59, 59))
    assert not schedule.is_open(london(2026, 1, 6, 0, 0))


def test_whole_day_window() -> None:
    schedule = parse("Mon 00:00-24:00")
    assert not schedule.is_open(london(2026, 1, 4, 23, 59, 59))
    assert schedule.is_open(london(2026, 1, 5, 0, 0))
    assert schedule.is_open(london(2026, 1, 5, 23, 59, 59))
    assert not schedule.is_open(london(2026, 1, 6, 0, 0))


def test_empty_schedule_is_never_open() -> None:
    empty = parse("")
    assert not empty.is_open(utc(2026, 1, 6, 10, 30))
    assert empty.next_open(utc(2026, 1, 6, 10, 30)) is None
    assert empty.closes_at(utc(2026, 1, 6, 10, 30)) is None


@pytest.mark.parametrize("method", ["is_open", "next_open", "closes_at"])
def test_naive_datetime_is_refused(method: str) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        getattr(TUE_THU, method)(dt.datetime(2026, 1, 6, 10, 30))


# --- clock changes: 29 Mar 2026 (01:00 GMT -> 02:00 BST), 25 Oct 2026 (02:00 BST -> 01:00 GMT)


@pytest.mark.parametrize(
    "at",
    [
        utc(2026, 3, 29, 0, 0),
        utc(2026, 3, 29, 0, 59, 59),
        utc(2026, 3, 29, 1, 0),
        utc(2026, 3, 29, 1, 30),
    ],
)
def test_spring_forward_window_inside_the_skipped_hour_never_opens(at: dt.datetime) -> None:
    assert not parse("Sun 01:00-02:00").is_open(at)


def test_spring_forward_window_inside_the_skipped_hour_next_opens_a_week_later() -> None:
    # 5 April is BST: 01:00 local is 00:00 UTC.
    assert parse("Sun 01:00-02:00").next_open(utc(2026, 3, 28, 12, 0)) == utc(2026, 4, 5, 0, 0)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (utc(2026, 3, 29, 0, 59, 59), False),  # 00:59:59 GMT
        (utc(2026, 3, 29, 1, 0), True),  # the jump: 02:00 BST
        (utc(2026, 3, 29, 1, 59), True),
        (utc(2026, 3, 29, 2, 0), False),  # 03:00 BST
    ],
)
def test_spring_forward_window_starting_in_the_skipped_hour_opens_at_the_jump(
    at: dt.datetime, expected: bool
) -> None:
    assert parse("Sun 01:30-03:00").is_open(at) is expected


def test_spring_forward_next_open_and_closes_at_agree_with_the_jump() -> None:
    schedule = parse("Sun 01:30-03:00")
    assert schedule.next_open(utc(2026, 3, 29, 0, 0)) == utc(2026, 3, 29, 1, 0)
    assert schedule.closes_at(utc(2026, 3, 29, 1, 0)) == utc(2026, 3, 29, 2, 0)


def test_spring_forward_overnight_window_spans_the_jump() -> None:
    # Saturday 23:00 GMT until 02:30 BST on Sunday: 2.5 real hours.
    schedule = parse("Sat 23:00-02:30")
    assert schedule.next_open(utc(2026, 3, 28, 12, 0)) == utc(2026, 3, 28, 23, 0)
    assert schedule.is_open(utc(2026, 3, 29, 0, 59))
    assert schedule.is_open(utc(2026, 3, 29, 1, 0))
    assert schedule.closes_at(utc(2026, 3, 28, 23, 0)) == utc(2026, 3, 29, 1, 30)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (utc(2026, 3, 29, 8, 59), False),
        (utc(2026, 3, 29, 9, 0), True),  # 10:00 BST
        (utc(2026, 3, 29, 10, 59), True),
        (utc(2026, 3, 29, 11, 0), False),  # 12:00 BST
        (utc(2026, 3, 22, 9, 30), False),  # a week earlier it is GMT: 09:30 local
        (utc(2026, 3, 22, 10, 0), True),
        (utc(2026, 10, 25, 9, 59), False),  # GMT again after the October change
        (utc(2026, 10, 25, 10, 0), True),
        (utc(2026, 10, 25, 11, 59), True),
        (utc(2026, 10, 25, 12, 0), False),
        (utc(2026, 10, 18, 9, 0), True),  # a week earlier it is still BST
        (utc(2026, 10, 18, 11, 0), False),
    ],
)
def test_ordinary_window_on_the_clock_change_sundays(at: dt.datetime, expected: bool) -> None:
    assert parse("Sun 10:00-12:00").is_open(at) is expected


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (utc(2026, 10, 24, 23, 59), False),  # 00:59 BST
        (utc(2026, 10, 25, 0, 0), True),  # 01:00 BST, first time
        (utc(2026, 10, 25, 0, 59), True),
        (utc(2026, 10, 25, 1, 0), True),  # 01:00 GMT, second time
        (utc(2026, 10, 25, 1, 59), True),
        (utc(2026, 10, 25, 2, 0), False),  # 02:00 GMT
        (london(2026, 10, 25, 1, 30, fold=0), True),
        (london(2026, 10, 25, 1, 30, fold=1), True),
    ],
)
def test_fall_back_window_over_the_repeated_hour_is_open_both_times(
    at: dt.datetime, expected: bool
) -> None:
    assert parse("Sun 01:00-02:00").is_open(at) is expected


def test_fall_back_repeated_hour_is_two_real_hours() -> None:
    schedule = parse("Sun 01:00-02:00")
    opens = schedule.next_open(utc(2026, 10, 24, 12, 0))
    assert opens == utc(2026, 10, 25, 0, 0)
    assert schedule.closes_at(opens) == utc(2026, 10, 25, 2, 0)
    assert schedule.next_open(utc(2026, 10, 25, 1, 15)) == utc(2026, 10, 25, 1, 15)


def test_fall_back_window_starting_in_the_repeated_hour_follows_the_wall_clock() -> None:
    # Literal wall-clock reading: 01:30 BST opens it, 01:00-01:29 GMT (shown a second time)
    # is before 01:30 on the clock, so closed, and 01:30 GMT opens it again until 03:00 GMT.
    schedule = parse("Sun 01:30-03:00")
    assert schedule.next_open(utc(2026, 10, 24, 12, 0)) == utc(2026, 10, 25, 0, 30)
    assert schedule.closes_at(utc(2026, 10, 25, 0, 45)) == utc(2026, 10, 25, 1, 0)
    assert not schedule.is_open(utc(2026, 10, 25, 1, 10))
    assert schedule.next_open(utc(2026, 10, 25, 1, 10)) == utc(2026, 10, 25, 1, 30)
    assert schedule.closes_at(utc(2026, 10, 25, 1, 30)) == utc(2026, 10, 25, 3, 0)


def test_fall_back_overnight_window_gains_an_hour() -> None:
    # Saturday 22:00 BST (21:00 UTC) until Sunday 02:00 GMT (02:00 UTC): five real hours.
    schedule = parse("Sat 22:00-02:00")
    opens = schedule.next_open(utc(2026, 10, 24, 12, 0))
    assert opens == utc(2026, 10, 24, 21, 0)
    assert schedule.closes_at(opens) == utc(2026, 10, 25, 2, 0)


# --- bank holidays ---------------------------------------------------------------------------


def test_bank_holiday_calendar_is_cached_and_knows_2026() -> None:
    assert england_and_wales_bank_holidays() is BANK_HOLIDAYS
    for day in (dt.date(2026, 8, 31), dt.date(2026, 12, 25), dt.date(2026, 12, 28)):
        assert day in BANK_HOLIDAYS
    assert dt.date(2026, 12, 21) not in BANK_HOLIDAYS


@pytest.mark.parametrize(
    ("text", "at"),
    [
        ("Mon 10:00-12:00", london(2026, 8, 31, 10, 30)),  # Summer bank holiday
        ("Fri 10:00-12:00", london(2026, 12, 25, 10, 30)),  # Christmas Day, a Friday
        ("Mon 10:00-12:00", london(2026, 12, 28, 10, 30)),  # Boxing Day substitute
    ],
)
def test_window_on_a_bank_holiday(text: str, at: dt.datetime) -> None:
    schedule = parse(text)
    assert schedule.is_open(at)
    assert not schedule.is_open(at, holidays=BANK_HOLIDAYS)
    assert schedule.closes_at(at, holidays=BANK_HOLIDAYS) is None


def test_ordinary_monday_is_open_with_holidays_given() -> None:
    assert parse("Mon 10:00-12:00").is_open(london(2026, 12, 21, 10, 30), holidays=BANK_HOLIDAYS)


def test_holiday_closes_the_part_of_its_window_after_midnight() -> None:
    # The Monday window belongs to the bank holiday, even its Tuesday-morning part.
    monday_night = parse("Mon 22:00-02:00")
    assert monday_night.is_open(london(2026, 9, 1, 1, 0))
    assert not monday_night.is_open(london(2026, 9, 1, 1, 0), holidays=BANK_HOLIDAYS)
    # The Sunday window is not a holiday one, even where it runs into the holiday Monday.
    sunday_night = parse("Sun 22:00-02:00")
    assert sunday_night.is_open(london(2026, 8, 31, 1, 0), holidays=BANK_HOLIDAYS)


def test_any_container_of_dates_can_be_the_holidays() -> None:
    assert not TUE_THU.is_open(london(2026, 1, 6, 10, 30), holidays={dt.date(2026, 1, 6)})
    assert TUE_THU.is_open(london(2026, 1, 6, 10, 30), holidays={dt.date(2026, 1, 7)})


# --- next_open -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (london(2026, 1, 6, 10, 30), london(2026, 1, 6, 10, 30)),  # inside: now
        (london(2026, 1, 6, 11, 59, 59, 999999), london(2026, 1, 6, 11, 59, 59, 999999)),
        (london(2026, 1, 6, 8, 0), london(2026, 1, 6, 10, 0)),  # before, same day
        (london(2026, 1, 6, 12, 0), london(2026, 1, 8, 14, 0)),  # just after: Thursday
        (london(2026, 1, 8, 15, 30), london(2026, 1, 13, 10, 0)),  # across the week boundary
        (london(2026, 1, 10, 9, 0), london(2026, 1, 13, 10, 0)),  # from the weekend
    ],
)
def test_next_open(at: dt.datetime, expected: dt.datetime) -> None:
    result = TUE_THU.next_open(at)
    assert result == expected
    assert result is not None
    assert result.tzinfo is dt.UTC


def test_next_open_skips_a_bank_holiday() -> None:
    schedule = parse("Mon 10:00-12:00")
    saturday = utc(2026, 8, 29, 12, 0)
    assert schedule.next_open(saturday) == utc(2026, 8, 31, 9, 0)
    assert schedule.next_open(saturday, holidays=BANK_HOLIDAYS) == utc(2026, 9, 7, 9, 0)


def test_next_open_skips_christmas_and_new_year() -> None:
    # Fri 25 Dec, Mon 28 Dec (Boxing Day substitute) and Fri 1 Jan 2027 are all holidays.
    schedule = parse("Mon 10:00-12:00; Fri 10:00-12:00")
    at = london(2026, 12, 24, 12, 0)
    assert schedule.next_open(at) == utc(2026, 12, 25, 10, 0)
    assert schedule.next_open(at, holidays=BANK_HOLIDAYS) == utc(2027, 1, 4, 10, 0)


def test_next_open_across_clock_changes() -> None:
    assert parse("Sun 10:00-12:00").next_open(utc(2026, 3, 28, 12, 0)) == utc(2026, 3, 29, 9, 0)
    # Friday in BST, Monday in GMT.
    assert parse("Mon 09:00-10:00").next_open(utc(2026, 10, 23, 12, 0)) == utc(2026, 10, 26, 9, 0)


def test_next_open_gives_up_when_nothing_opens_within_the_search() -> None:
    assert TUE_THU.next_open(utc(2026, 1, 1), holidays=AlwaysHoliday()) is None


# --- closes_at -------------------------------------------------------------------------------


def test_closes_at() -> None:
    assert TUE_THU.closes_at(london(2026, 1, 6, 10, 0)) == london(2026, 1, 6, 12, 0)
    assert TUE_THU.closes_at(utc(2026, 7, 7, 10, 59)) == utc(2026, 7, 7, 11, 0)
    closes = TUE_THU.closes_at(london(2026, 1, 6, 10, 30))
    assert closes is not None
    assert closes.tzinfo is dt.UTC


def test_closes_at_is_none_when_closed() -> None:
    assert TUE_THU.closes_at(london(2026, 1, 6, 12, 0)) is None
    assert TUE_THU.closes_at(london(2026, 1, 7, 10, 30)) is None


def test_closes_at_for_an_overnight_window() -> None:
    assert parse("Fri 22:00-02:00").closes_at(london(2026, 1, 9, 23, 0)) == london(2026, 1, 10, 2)


@pytest.mark.parametrize(
    "text",
    [
        "Mon 22:00-24:00; Tue 00:00-02:00",  # back to back across midnight
        "Mon 22:00-01:00; Tue 00:30-02:00",  # overlapping across midnight
    ],
)
def test_closes_at_runs_through_touching_windows(text: str) -> None:
    assert parse(text).closes_at(london(2026, 1, 5, 23, 0)) == london(2026, 1, 6, 2, 0)


def test_closes_at_runs_through_whole_days() -> None:
    schedule = parse("Mon-Fri 00:00-24:00")
    assert schedule.closes_at(london(2026, 1, 7, 12, 0)) == london(2026, 1, 10, 0, 0)


def test_closes_at_stops_at_a_bank_holiday() -> None:
    schedule = parse("Sun 22:00-24:00; Mon 00:00-02:00")
    sunday_night = london(2026, 8, 30, 23, 0)
    assert schedule.closes_at(sunday_night) == london(2026, 8, 31, 2, 0)
    assert schedule.closes_at(sunday_night, holidays=BANK_HOLIDAYS) == london(2026, 8, 31, 0, 0)


def test_closes_at_is_none_when_the_schedule_never_closes() -> None:
    assert parse("Mon-Sun 00:00-24:00").closes_at(utc(2026, 6, 1, 12, 0)) is None


# --- properties ------------------------------------------------------------------------------

PROPERTY_SCHEDULES = [
    "Tue 10:00-12:00; Thu 14:00-15:30",
    "Mon-Fri 09:00-17:00",
    "Fri 22:00-02:00; Sat 02:00-03:00",
    "Sun 01:00-02:00; Sun 01:30-03:00; Sat 23:00-01:30",
    "Sun 00:30-01:30; Mon 00:00-24:00",
    "Mon 22:00-24:00; Tue 00:00-02:00; Sat-Sun 00:00-24:00",
]


def _instants(start: dt.datetime, end: dt.datetime) -> st.SearchStrategy[dt.datetime]:
    return st.datetimes(min_value=start, max_value=end, timezones=st.just(dt.UTC))


INSTANTS_2026 = st.one_of(
    _instants(dt.datetime(2026, 1, 1), dt.datetime(2026, 12, 31, 23, 59, 59)),
    # Dense around the clock changes, where the edges are awkward.
    _instants(dt.datetime(2026, 3, 28, 12), dt.datetime(2026, 3, 29, 12)),
    _instants(dt.datetime(2026, 10, 24, 12), dt.datetime(2026, 10, 25, 12)),
)


@settings(max_examples=300, deadline=None)
@given(
    text=st.sampled_from(PROPERTY_SCHEDULES),
    at=INSTANTS_2026,
    with_holidays=st.booleans(),
)
def test_next_open_and_closes_at_agree_with_is_open(
    text: str, at: dt.datetime, with_holidays: bool
) -> None:
    schedule = parse(text)
    holidays = BANK_HOLIDAYS if with_holidays else None

    opens = schedule.next_open(at, holidays=holidays)
    assert opens is not None
    assert opens >= at
    assert schedule.is_open(opens, holidays=holidays)
    assert (opens == at) == schedule.is_open(at, holidays=holidays)
    if opens > at:
        assert not schedule.is_open(opens - ONE_MICROSECOND, holidays=holidays)

    closes = schedule.closes_at(opens, holidays=holidays)
    assert closes is not None
    assert closes > opens
    assert schedule.is_open(opens + (closes - opens) / 2, holidays=holidays)
    assert not schedule.is_open(closes, holidays=holidays)
    assert schedule.is_open(closes - ONE_MICROSECOND, holidays=holidays)
