"""The dashboard: the figures each role works from, and the reviews falling due.

Each figure names the roles that may see it; a figure a role may not see is not even
counted for it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from flask import Blueprint, g, render_template
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from admin_ui import web
from admin_ui.access import (
    ANY_STAFF,
    CALL_FLAG_READERS,
    CASEWORKERS,
    MAIL_READERS,
    require_role,
)
from gateway import web_queries
from routing.enums import Role

bp = Blueprint("dashboard", __name__)

REVIEW_HORIZON_DAYS = 14


@dataclass(frozen=True, slots=True)
class Day:
    """Today in the council's calendar, and its bounds in UTC for counting."""

    date: dt.date
    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True, slots=True)
class Figure:
    """One number on the dashboard: who sees it, how it is counted, where it leads."""

    label: str
    roles: frozenset[Role]
    count: Callable[[Session, Day], int]
    link: str | None = None  # an endpoint; linked when it exists and the role may use it


FIGURES: tuple[Figure, ...] = (
    Figure(
        "Active restrictions",
        CASEWORKERS,
        lambda s, _day: web_queries.active_restriction_count(s),
        "restrictions.register",
    ),
    Figure(
        f"Reviews due in the next {REVIEW_HORIZON_DAYS} days",
        CASEWORKERS,
        lambda s, day: len(web_queries.reviews_due(s, _horizon(day))),
    ),
    Figure(
        "Open alerts", CASEWORKERS, lambda s, _day: web_queries.open_alert_count(s), "alerts.index"
    ),
    Figure(
        "Call flags today",
        CALL_FLAG_READERS,
        lambda s, day: web_queries.call_flag_count(s, day.start, day.end),
        "calls.flags",
    ),
    Figure(
        "Dead letters",
        MAIL_READERS,
        lambda s, _day: web_queries.dead_letter_count(s),
        "mail.index",
    ),
)


@dataclass(frozen=True, slots=True)
class Shown:
    label: str
    value: int
    link: str | None


@bp.get("/")
@require_role(ANY_STAFF)
def index() -> ResponseReturnValue:
    day = _today()
    role = g.staff.role
    with web.unit_of_work() as session:
        figures = [
            Shown(f.label, f.count(session, day), f.link) for f in FIGURES if role in f.roles
        ]
        # None: this role does not see reviews at all (not "no reviews due").
        reviews = web_queries.reviews_due(session, _horizon(day)) if role in CASEWORKERS else None
    return render_template(
        "dashboard.html", figures=figures, reviews=reviews, today=day.date, horizon=_horizon(day)
    )


def _today() -> Day:
    zone = web.runtime().timezone
    date = web.today()
    start = dt.datetime.combine(date, dt.time(), zone).astimezone(dt.UTC)
    end = dt.datetime.combine(date + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC)
    return Day(date, start, end)


def _horizon(day: Day) -> dt.date:
    return day.date + dt.timedelta(days=REVIEW_HORIZON_DAYS)
