"""Charts drawn on the server as SVG: geometry here, markup in templates/_chart.html.

No script draws anything in the browser (the content security policy allows none inline),
and every chart comes with its figures as a table, which is its text alternative.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.store.web_queries import DailyContacts

WIDTH = 720
HEIGHT = 240
LEFT, RIGHT, TOP, BOTTOM = 40, 10, 10, 40
PLOT_WIDTH = WIDTH - LEFT - RIGHT
PLOT_HEIGHT = HEIGHT - TOP - BOTTOM


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: str  # "email" or "phone": the template picks the fill


@dataclass(frozen=True, slots=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True, slots=True)
class DailyChart:
    """A stacked bar chart of contacts per day: emails below, calls above."""

    title: str
    description: str
    bars: list[Bar]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right_edge: int = WIDTH - RIGHT
    baseline: int = TOP + PLOT_HEIGHT


def daily_contacts_chart(days: Sequence[DailyContacts]) -> DailyChart:
    """The chart of a customer's daily emails and calls."""
    top = nice_ceiling(max((d.total for d in days), default=0))
    slot = PLOT_WIDTH / max(len(days), 1)
    bars: list[Bar] = []
    for index, day in enumerate(days):
        x = LEFT + index * slot + slot * 0.15
        bars.extend(_stack(x, slot * 0.7, day, top))
    return DailyChart(
        title=f"Contacts per day, {_date(days[0])} to {_date(days[-1])}" if days else "Contacts",
        description=describe(days),
        bars=bars,
        y_ticks=[Tick(TOP + PLOT_HEIGHT * (1 - v / top), str(v)) for v in _tick_values(top)],
        x_ticks=[
            Tick(LEFT + i * slot + slot / 2, days[i].day.strftime("%d %b"))
            for i in range(0, len(days), max(len(days) // 6, 1))
        ],
    )


def _stack(x: float, width: float, day: DailyContacts, top: int) -> list[Bar]:
    scale = PLOT_HEIGHT / top
    baseline = TOP + PLOT_HEIGHT
    bars = []
    if day.emails:
        bars.append(Bar(x, baseline - day.emails * scale, width, day.emails * scale, "email"))
    if day.calls:
        y = baseline - day.total * scale
        bars.append(Bar(x, y, width, day.calls * scale, "phone"))
    return bars


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50 ... at or above `value` (at least 1)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def _tick_values(top: int) -> list[int]:
    step = max(top // 4, 1) if top >= 4 else 1
    return list(range(0, top + 1, step))


def describe(days: Sequence[DailyContacts]) -> str:
    """The chart in one sentence: totals and the busiest day."""
    emails = sum(d.emails for d in days)
    calls = sum(d.calls for d in days)
    if not emails and not calls:
        return f"No contacts in the {len(days)} days shown."
    busiest = max(days, key=lambda d: (d.total, d.day))
    return (
        f"{_plural(emails, 'email')} and {_plural(calls, 'call')} in {len(days)} days; "
        f"the busiest day was {_date(busiest)} with {_plural(busiest.total, 'contact')}."
    )


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _date(day: DailyContacts) -> str:
    return f"{day.day.day} {day.day:%B %Y}"


def series_chart(points: Sequence[tuple[dt.date, int]], unit: str, title: str) -> DailyChart:
    """A one-series daily bar chart (an alert's figure per day, in the rule's unit)."""
    top = nice_ceiling(max((value for _, value in points), default=0))
    slot = PLOT_WIDTH / max(len(points), 1)
    baseline = TOP + PLOT_HEIGHT
    bars = [
        Bar(LEFT + i * slot + slot * 0.15, baseline - h, slot * 0.7, h, "email")
        for i, (_, value) in enumerate(points)
        if (h := value * PLOT_HEIGHT / top)
    ]
    return DailyChart(
        title=title,
        description=describe_series(points, unit),
        bars=bars,
        y_ticks=[Tick(TOP + PLOT_HEIGHT * (1 - v / top), str(v)) for v in _tick_values(top)],
        x_ticks=[
            Tick(LEFT + i * slot + slot / 2, points[i][0].strftime("%d %b"))
            for i in range(0, len(points), max(len(points) // 6, 1))
        ],
    )


def describe_series(points: Sequence[tuple[dt.date, int]], unit: str) -> str:
    """A one-series chart in one sentence: the total and the busiest day."""
    if not any(value for _, value in points):
        return f"Nothing counted in the {len(points)} days shown."
    day, value = max(points, key=lambda point: (point[1], point[0]))
    total = sum(value for _, value in points)
    return (
        f"{total} {unit} in {len(points)} days; the busiest day was "
        f"{day.day} {day:%B %Y} with {value} {unit}."
    )
