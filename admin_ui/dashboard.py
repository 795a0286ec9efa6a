"""The dashboard: the figures each role works from, and the reviews falling due.

Each figure names the roles that may see it; a figure a role may not see is not even
counted for it. The reviews due are read once, capped, with their total: the figure and
the list both come from that one read, and the full list has a page of its own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from flask import Blueprint, g, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from admin_ui import web
from admin_ui.access import (
    ANY_STAFF,
    APPROVERS,
    CALL_FLAG_READERS,
    CASEWORKERS,
    MAIL_READERS,
    SPOC_HANDLERS,
    require_role,
)
from admin_ui.paging import offset_links, positive_int
from gateway.services import import_confirmation
from gateway.store import spoc_queue, web_queries
from routing.audit import AuditAction
from routing.enums import Role
from routing.models import AuditEntry

bp = Blueprint("dashboard", __name__)

REVIEW_HORIZON_DAYS = 14
REVIEW_READERS = CASEWORKERS
# The dashboard lists this many reviews, then says how many more and links to them all.
REVIEWS_ON_DASHBOARD = 50
REVIEWS_PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class Day:
    """Today in the council's calendar, and its bounds in UTC for counting."""

    date: dt.date
    start: dt.datetime
    end: dt.datetime

    @property
    def horizon(self) -> dt.date:
        """The last day the reviews due reach to."""
        return self.date + dt.timedelta(days=REVIEW_HORIZON_DAYS)


@dataclass(frozen=True, slots=True)
class Reading:
    """What the figures are counted from: the day, the reviews due (None for a role that
    does not see reviews) and who is looking."""

    day: Day
    reviews: web_queries.ReviewsDue | None
    user_id: int | None = None
    staff_email: str = ""


@dataclass(frozen=True, slots=True)
class Figure:
    """One number on the dashboard: who sees it, how it is counted, where it leads."""

    label: str
    roles: frozenset[Role]
    count: Callable[[Session, Reading], int]
    link: str | None = None  # an endpoint; linked when it exists and the role may use it
    query: tuple[tuple[str, str], ...] = ()  # the link's filter, as (name, value) pairs


FIGURES: tuple[Figure, ...] = (
    Figure(
        "Active restrictions",
        CASEWORKERS,
        lambda s, _read: web_queries.active_restriction_count(s),
        "restrictions.register",
    ),
    Figure(
        f"Reviews due in the next {REVIEW_HORIZON_DAYS} days",
        REVIEW_READERS,
        lambda _s, read: read.reviews.total if read.reviews else 0,
        "dashboard.reviews_due",
    ),
    Figure(
        "Open alerts",
        CASEWORKERS,
        lambda s, _read: web_queries.open_alert_count(s),
        "alerts.index",
    ),
    # The signed-in SPOC's own queue (items for their mailbox): what waits to be read, and
    # what has gone past its due date without an outcome or a promised reply.
    Figure(
        "SPOC queue items unread",
        SPOC_HANDLERS,
        lambda s, read: spoc_queue.counts(s, read.day.date, read.staff_email).unread,
        "spoc.index",
        (("show", "unread"),),
    ),
    Figure(
        "Call flags today",
        CALL_FLAG_READERS,
        lambda s, read: web_queries.call_flag_count(s, read.day.start, read.day.end),
        "calls.flags",
    ),
)


@dataclass(frozen=True, slots=True)
class Work:
    """One kind of work waiting for a person: who acts on it, how much is waiting, and the
    page where they do it (with its query)."""

    label: str
    roles: frozenset[Role]
    count: Callable[[Session, Reading], int]
    endpoint: str
    args: tuple[tuple[str, str], ...] = ()


WORK: tuple[Work, ...] = (
    Work(
        "Urgent alerts: safeguarding concerns and cases contacting again",
        CASEWORKERS,
        lambda s, _read: web_queries.urgent_alert_count(s),
        "alerts.index",
    ),
    Work(
        "Proposals waiting for your approval",
        APPROVERS,
        lambda s, read: web_queries.awaiting_approval_count(s, read.user_id),
        "restrictions.register",
        (("status", "pending_approval"),),
    ),
    Work(
        # The signed-in SPOC's own items gone past their due date without an outcome or a
        # promised reply.
        "Your SPOC queue: items overdue",
        SPOC_HANDLERS,
        lambda s, read: spoc_queue.counts(s, read.day.date, read.staff_email).overdue,
        "spoc.index",
        (("show", "overdue"),),
    ),
    Work(
        # The task of the approver named on a register import: theirs alone.
        "Imported restrictions to confirm",
        APPROVERS,
        lambda s, _read: import_confirmation.awaiting_count(s, web.actor()),
        "imports.index",
    ),
    Work(
        "Appeals waiting for a decision",
        CASEWORKERS,
        lambda s, _read: web_queries.appeals_waiting_count(s),
        "letters.appeals",
    ),
    Work(
        "Reviews overdue",
        REVIEW_READERS,
        lambda _s, read: read.reviews.overdue if read.reviews else 0,
        "dashboard.reviews_due",
    ),
    Work(
        "Dead letters: mail that could not be delivered",
        MAIL_READERS,
        lambda s, _read: web_queries.dead_letter_count(s),
        "mail.index",
    ),
)


@dataclass(frozen=True, slots=True)
class WorkShown:
    label: str
    waiting: int
    endpoint: str
    args: dict[str, str]


@dataclass(frozen=True, slots=True)
class Shown:
    label: str
    value: int
    link: str | None
    query: dict[str, str]


@bp.get("/")
@require_role(ANY_STAFF)
def index() -> ResponseReturnValue:
    day = _today()
    role = g.staff.role
    with web.unit_of_work() as session:
        # None: this role does not see reviews at all (not "no reviews due").
        reviews = (
            web_queries.reviews_due(
                session, day.horizon, limit=REVIEWS_ON_DASHBOARD, today=day.date
            )
            if role in REVIEW_READERS
            else None
        )
        reading = Reading(day, reviews, g.staff.id, g.staff.email)
        figures = [
            Shown(f.label, f.count(session, reading), f.link, dict(f.query))
            for f in FIGURES
            if role in f.roles
        ]
        work = [
            WorkShown(w.label, w.count(session, reading), w.endpoint, dict(w.args))
            for w in WORK
            if role in w.roles
        ]
        concerns = web_queries.safeguarding_waiting(session) if role in CASEWORKERS else []
    return render_template(
        "dashboard.html",
        figures=figures,
        work=work,
        reviews=reviews,
        today=day.date,
        horizon=day.horizon,
        concerns=concerns,
    )


@bp.get("/reviews-due")
@require_role(REVIEW_READERS)
def reviews_due() -> ResponseReturnValue:
    """Every review due by the dashboard's horizon (overdue ones first), a page at a time."""
    day = _today()
    offset = positive_int(request.args.get("from")) or 0
    with web.unit_of_work() as session:
        due = web_queries.reviews_due(session, day.horizon, limit=REVIEWS_PAGE_SIZE, offset=offset)
        session.add(_listed(day.horizon, offset, len(due.shown)))
    return render_template(
        "reviews_due.html",
        due=due,
        today=day.date,
        horizon=day.horizon,
        pages=offset_links("dashboard.reviews_due", offset, REVIEWS_PAGE_SIZE, due.more > 0),
    )


def _listed(until: dt.date, offset: int, shown: int) -> AuditEntry:
    # Restriction references and dates: register data, so each look is recorded.
    return web.list_viewed(
        AuditAction.REGISTER_REVIEWS_LISTED,
        "register",
        until=until.isoformat(),
        offset=offset,
        shown=shown,
    )


def _today() -> Day:
    zone = web.runtime().timezone
    date = web.today()
    start = dt.datetime.combine(date, dt.time(), zone).astimezone(dt.UTC)
    end = dt.datetime.combine(date + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC)
    return Day(date, start, end)
