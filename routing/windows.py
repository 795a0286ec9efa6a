"""Telephone contact windows for restricted customers, evaluated in UK wall-clock time.

A schedule such as ``"Tue 10:00-12:00; Thu 14:00-15:30"`` says when a customer may phone.
Instants are passed in (and returned) as aware datetimes, normally UTC; the windows are read
against the Europe/London wall clock, so they follow the March and October clock changes.

Wall-clock semantics are literal: an instant is inside a window when the clock on the wall
at that instant shows a time in ``[start, end)`` on the window's day. Consequences at the
clock changes: wall times skipped in March never occur (a window wholly inside the skipped
hour never opens; one that starts inside it opens at the jump), and wall times repeated in
October occur twice (a window covering the repeated hour is open for both real hours).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Container, Iterable, Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from zoneinfo import ZoneInfo

from holidays import country_holidays

__all__ = [
    "LONDON",
    "Window",
    "WindowSchedule",
    "WindowSyntaxError",
    "england_and_wales_bank_holidays",
]

LONDON = ZoneInfo("Europe/London")

# How far next_open/closes_at look before giving up; a little over a year covers every
# weekly schedule even when holidays and clock changes are taken into account.
SEARCH_DAYS = 400

_MIDNIGHT = dt.time(0, 0)
_ONE_DAY = dt.timedelta(days=1)
_ONE_SECOND = dt.timedelta(seconds=1)
# UTC offsets change at most a few times a year; probing hourly cannot miss one.
_OFFSET_PROBE_STEP = dt.timedelta(hours=1)

_DAY_ABBREVIATIONS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_DAY_NAMES = {
    **{name.lower(): number for number, name in enumerate(_DAY_ABBREVIATIONS)},
    "monday": 0,
    "tues": 1,
    "tuesday": 1,
    "weds": 2,
    "wednesday": 2,
    "thur": 3,
    "thurs": 3,
    "thursday": 3,
    "friday": 4,
    "saturday": 5,
    "sunday": 6,
}

_WINDOW_SEPARATOR = re.compile(r"[;,]")
_DAYS_THEN_TIMES = re.compile(
    r"(?P<first>[A-Za-z]+)(?:\s*-\s*(?P<last>[A-Za-z]+))?\s*(?P<times>.*)", re.DOTALL
)
_TIME_RANGE = re.compile(r"(?P<start>[^\s-]+)\s*-\s*(?P<end>[^\s-]+)")
_CLOCK_TIME = re.compile(r"(?P<hour>[0-9]{1,2}):(?P<minute>[0-9]{2})")

UTCInterval = tuple[dt.datetime, dt.datetime]
# Builds the WindowSyntaxError for the piece being parsed, from a description of the problem.
_Failure = Callable[[str], "WindowSyntaxError"]


class WindowSyntaxError(ValueError):
    """A phone-window string could not be understood; the message names the bad part."""


@dataclass(frozen=True, slots=True)
class Window:
    """One weekly window, belonging to the day it starts on.

    ``end <= start`` means the window runs past midnight into the next day, so an ``end`` of
    ``00:00`` is midnight at the end of the day (written ``24:00``) and ``00:00-00:00`` is the
    whole day.
    """

    weekday: int
    start: dt.time
    end: dt.time

    def __post_init__(self) -> None:
        if isinstance(self.weekday, bool) or self.weekday not in range(7):
            raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), got {self.weekday!r}")
        for label, value in (("start", self.start), ("end", self.end)):
            if not isinstance(value, dt.time) or value.tzinfo is not None:
                raise ValueError(f"window {label} must be a naive datetime.time, got {value!r}")
            # Whole minutes only, so that str() and parse() describe exactly the same window.
            if value.second or value.microsecond:
                raise ValueError(f"window {label} must be a whole minute, got {value}")
        if self.start == self.end != _MIDNIGHT:
            raise ValueError(f"window {self} has zero length")

    def __str__(self) -> str:
        end = "24:00" if self.end == _MIDNIGHT else f"{self.end:%H:%M}"
        return f"{_DAY_ABBREVIATIONS[self.weekday]} {self.start:%H:%M}-{end}"

    @property
    def crosses_midnight(self) -> bool:
        """True when the window ends on the day after it starts (including at 24:00)."""
        return self.end <= self.start


@dataclass(frozen=True, slots=True)
class WindowSchedule:
    """A customer's weekly phone windows, kept sorted by (weekday, start) without duplicates."""

    windows: tuple[Window, ...] = ()

    def __post_init__(self) -> None:
        windows = tuple(self.windows)
        for window in windows:
            if not isinstance(window, Window):
                raise TypeError(f"WindowSchedule holds Window objects, got {window!r}")
        ordered = tuple(sorted(set(windows), key=lambda w: (w.weekday, w.start, w.end)))
        # Frozen dataclass: normalising in place is the only way to make equal schedules equal.
        object.__setattr__(self, "windows", ordered)

    @classmethod
    def parse(cls, text: str | None) -> WindowSchedule:
        """Read a schedule like ``"Mon-Fri 09:00-12:00; Sat 10:00-11:00"``.

        Windows are separated by ``;`` or ``,``. ``None``, an empty string or only separators
        give the empty schedule (never open). Raises WindowSyntaxError naming the bad part.
        """
        if text is None:
            return cls(())
        pieces = (piece.strip() for piece in _WINDOW_SEPARATOR.split(text))
        return cls(tuple(w for piece in pieces if piece for w in _parse_piece(piece)))

    def __str__(self) -> str:
        return "; ".join(str(window) for window in self.windows)

    def __bool__(self) -> bool:
        return bool(self.windows)

    def is_open(
        self,
        at: dt.datetime,
        *,
        tz: ZoneInfo = LONDON,
        holidays: Container[dt.date] | None = None,
    ) -> bool:
        """Whether the wall clock in ``tz`` at the aware instant ``at`` is inside a window.

        A window on a date in ``holidays`` is closed throughout, including any part that runs
        past midnight into the next day.
        """
        wall = _require_aware(at).astimezone(tz).replace(tzinfo=None)
        return any(
            start <= wall < end
            for day in (wall.date() - _ONE_DAY, wall.date())
            if not _is_holiday(day, holidays)
            for start, end in (_wall_span(w, day) for w in self._starting_on(day))
        )

    def next_open(
        self,
        at: dt.datetime,
        *,
        tz: ZoneInfo = LONDON,
        holidays: Container[dt.date] | None = None,
    ) -> dt.datetime | None:
        """The earliest instant at or after ``at`` when the schedule is open, in UTC.

        Returns ``at`` (as UTC) when already open, and None for an empty schedule or when
        nothing opens within SEARCH_DAYS.
        """
        at_utc = _require_aware(at).astimezone(dt.UTC)
        if self.is_open(at_utc, tz=tz, holidays=holidays):
            return at_utc
        earliest: dt.datetime | None = None
        for day, intervals in self._open_intervals_from(_search_start(at_utc, tz), tz, holidays):
            if earliest is not None and _lower_bound_utc(day) > earliest:
                break
            for start, end in intervals:
                if end > at_utc:
                    candidate = max(start, at_utc)
                    earliest = candidate if earliest is None else min(earliest, candidate)
        return earliest

    def closes_at(
        self,
        at: dt.datetime,
        *,
        tz: ZoneInfo = LONDON,
        holidays: Container[dt.date] | None = None,
    ) -> dt.datetime | None:
        """When the open period containing ``at`` ends (first closed instant), in UTC.

        Back-to-back windows (``Mon 22:00-24:00; Tue 00:00-02:00``) count as one period.
        Returns None when closed at ``at``, and also when the period does not end within
        SEARCH_DAYS (a schedule open all day every day, with no holidays).
        """
        at_utc = _require_aware(at).astimezone(dt.UTC)
        if not self.is_open(at_utc, tz=tz, holidays=holidays):
            return None
        closes = at_utc
        pending: list[UTCInterval] = []
        for day, intervals in self._open_intervals_from(_search_start(at_utc, tz), tz, holidays):
            if _lower_bound_utc(day) > closes:
                return closes
            pending.extend(intervals)
            closes, pending = _extend_through(closes, pending)
        return None

    def _starting_on(self, day: dt.date) -> Iterator[Window]:
        weekday = day.weekday()
        return (w for w in self.windows if w.weekday == weekday)

    def _open_intervals_from(
        self,
        first_day: dt.date,
        tz: ZoneInfo,
        holidays: Container[dt.date] | None,
    ) -> Iterator[tuple[dt.date, list[UTCInterval]]]:
        """For each local day with windows, the UTC instants its windows are open."""
        for offset in range(SEARCH_DAYS):
            day = first_day + dt.timedelta(days=offset)
            windows = list(self._starting_on(day))
            if windows and not _is_holiday(day, holidays):
                yield day, [iv for w in windows for iv in _utc_intervals(w, day, tz)]


@cache
def england_and_wales_bank_holidays() -> Container[dt.date]:
    """The England and Wales bank holidays (GB, subdivision ENG), shared by all callers."""
    return country_holidays("GB", subdiv="ENG")


def _parse_piece(piece: str) -> list[Window]:
    """One ``"<day>[-<day>] <start>-<end>"`` entry, expanded to a window per day."""

    def fail(problem: str) -> WindowSyntaxError:
        return WindowSyntaxError(f"phone window {piece!r}: {problem}")

    found = _DAYS_THEN_TIMES.fullmatch(piece)
    if found is None:
        raise fail("must start with a day, e.g. 'Tue 10:00-12:00'")
    days = _day_range(found["first"], found["last"], fail)
    times = found["times"].strip()
    if not times:
        raise fail("missing the times, e.g. 'Tue 10:00-12:00'")
    time_range = _TIME_RANGE.fullmatch(times)
    if time_range is None:
        raise fail(f"expected one time range like 10:00-12:00 after the day, got {times!r}")
    start = _parse_clock(time_range["start"], fail, is_end=False)
    end = _parse_clock(time_range["end"], fail, is_end=True)
    # 00:00-24:00 is the whole day; any other equal pair is a window of no length.
    if start == end and time_range["end"] != "24:00":
        raise fail("start and end are the same, so the window has zero length")
    return [Window(day, start, end) for day in days]


def _day_range(first: str, last: str | None, fail: _Failure) -> list[int]:
    """Weekday numbers from ``first`` to ``last`` inclusive, wrapping past Sunday."""
    start = _day_number(first, fail)
    stop = start if last is None else _day_number(last, fail)
    return [(start + step) % 7 for step in range((stop - start) % 7 + 1)]


def _day_number(name: str, fail: _Failure) -> int:
    try:
        return _DAY_NAMES[name.lower()]
    except KeyError:
        raise fail(f"unknown day {name!r} (use Mon, Tue, ... or Monday, Tuesday, ...)") from None


def _parse_clock(text: str, fail: _Failure, *, is_end: bool) -> dt.time:
    """An ``H:MM`` or ``HH:MM`` time; ``24:00`` is allowed only as an end."""
    found = _CLOCK_TIME.fullmatch(text)
    if found is None:
        raise fail(f"{text!r} is not a time, use HH:MM such as 09:30")
    hour, minute = int(found["hour"]), int(found["minute"])
    if hour == 24 and minute == 0:
        if not is_end:
            raise fail("24:00 can only be the end of a window")
        return _MIDNIGHT
    if hour > 23:
        raise fail("hour must be 0-23")
    if minute > 59:
        raise fail("minute must be 0-59")
    return dt.time(hour, minute)


def _require_aware(at: dt.datetime) -> dt.datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(
            f"phone windows need a timezone-aware datetime, got naive {at.isoformat()}; "
            "attach a zone, e.g. datetime.now(datetime.UTC)"
        )
    return at


def _is_holiday(day: dt.date, holidays: Container[dt.date] | None) -> bool:
    return holidays is not None and day in holidays


def _wall_span(window: Window, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The naive wall-clock interval ``[start, end)`` of ``window`` when it starts on ``day``."""
    end_day = day + _ONE_DAY if window.crosses_midnight else day
    return dt.datetime.combine(day, window.start), dt.datetime.combine(end_day, window.end)


def _search_start(at_utc: dt.datetime, tz: ZoneInfo) -> dt.date:
    # Two days back: a window that started yesterday may still be open, and in October the
    # wall clock steps back, so allow one more day of slack.
    return at_utc.astimezone(tz).date() - 2 * _ONE_DAY


def _lower_bound_utc(day: dt.date) -> dt.datetime:
    """No window starting on local ``day`` can be open before this instant (offsets < 24h)."""
    return dt.datetime.combine(day - _ONE_DAY, _MIDNIGHT, tzinfo=dt.UTC)


def _extend_through(
    closes: dt.datetime, intervals: Iterable[UTCInterval]
) -> tuple[dt.datetime, list[UTCInterval]]:
    """Push ``closes`` through every interval that is open at it; return what is left over."""
    remaining = [iv for iv in intervals if iv[1] > closes]
    extended = True
    while extended:
        extended = False
        for start, end in remaining:
            if start <= closes < end:
                closes, extended = end, True
        remaining = [iv for iv in remaining if iv[1] > closes]
    return closes, remaining


@lru_cache(maxsize=4096)
def _utc_intervals(window: Window, day: dt.date, tz: ZoneInfo) -> tuple[UTCInterval, ...]:
    """The UTC instants whose wall-clock time in ``tz`` lies in the window starting on ``day``.

    Within a stretch of constant UTC offset the wall clock is just UTC shifted, so the window
    maps to at most one interval per stretch. Across a clock change this yields one interval
    (a start inside the skipped hour becomes the jump) or two (a repeated hour cut in half).
    """
    wall_start, wall_end = _wall_span(window, day)
    # Real offsets are under a day, so every matching instant lies in this span.
    span_start = wall_start.replace(tzinfo=dt.UTC) - _ONE_DAY
    span_end = wall_end.replace(tzinfo=dt.UTC) + _ONE_DAY
    intervals = []
    for stretch_start, stretch_end, offset in _constant_offset_stretches(span_start, span_end, tz):
        start = max(stretch_start, wall_start.replace(tzinfo=dt.UTC) - offset)
        end = min(stretch_end, wall_end.replace(tzinfo=dt.UTC) - offset)
        if start < end:
            intervals.append((start, end))
    return tuple(intervals)


def _constant_offset_stretches(
    start: dt.datetime, end: dt.datetime, tz: ZoneInfo
) -> list[tuple[dt.datetime, dt.datetime, dt.timedelta]]:
    """Split UTC ``[start, end)`` at each change of ``tz``'s UTC offset."""
    stretches = []
    stretch_start, offset = start, _offset(start, tz)
    probe = start
    while probe < end:
        following = min(probe + _OFFSET_PROBE_STEP, end)
        if _offset(following, tz) != offset:
            change = _first_instant_with_new_offset(probe, following, offset, tz)
            stretches.append((stretch_start, change, offset))
            stretch_start, offset = change, _offset(change, tz)
        probe = following
    stretches.append((stretch_start, end, offset))
    return stretches


def _first_instant_with_new_offset(
    before: dt.datetime, after: dt.datetime, old_offset: dt.timedelta, tz: ZoneInfo
) -> dt.datetime:
    """Binary search, to the second, for where the offset stops being ``old_offset``."""
    # tzdata transitions fall on whole seconds, and ``before`` is whole seconds here.
    low, high = 0, int((after - before) / _ONE_SECOND)
    while high - low > 1:
        middle = (low + high) // 2
        if _offset(before + middle * _ONE_SECOND, tz) == old_offset:
            low = middle
        else:
            high = middle
    return before + high * _ONE_SECOND


def _offset(instant: dt.datetime, tz: ZoneInfo) -> dt.timedelta:
    offset = instant.astimezone(tz).utcoffset()
    assert offset is not None  # a zone always knows its offset for a UTC instant
    return offset
