"""Call flags for the contact centre: calls that broke a restriction, today's first, with the
restriction, the kind of flag, the time (UK time) and the line called. Never the
confidential notes: agents read this page, and it shows nothing of a restriction's terms but
its reference. It shows callers' names and the lines they called, so every look at it is
audited (by the days and kind chosen)."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from wtforms import DateField, SelectField
from wtforms.validators import Optional

from admin_ui import web
from admin_ui.access import CALL_FLAG_READERS, require_role
from admin_ui.caller_view import restriction_anchor
from admin_ui.forms import WebForm, choices
from admin_ui.paging import offset_links, positive_int
from gateway.services.safeguarding import raise_about_call
from gateway.store import web_queries
from routing.alerts import AlertRefused
from routing.audit import AuditAction
from routing.enums import FlagKind
from routing.models import AuditEntry

bp = Blueprint("calls", __name__, url_prefix="/call-flags")

RECENT_DAYS = 7  # shown when no dates are chosen: today and the six days before
LONGEST_RANGE_DAYS = 366
FLAG_KINDS = [("", "Every kind")] + [(k.value, k.value.replace("_", " ")) for k in FlagKind]


class FlagFilter(WebForm):
    start = DateField("From", validators=[Optional()], format="%Y-%m-%d")
    end = DateField("To", validators=[Optional()], format="%Y-%m-%d")
    kind = SelectField("Kind of flag", choices=choices(FLAG_KINDS), validators=[Optional()])

    def chosen_days(self, today: dt.date) -> tuple[dt.date, dt.date]:
        """The first and last day to show (both included), or the recent days by default."""
        last = self.end.data or today
        first = self.start.data or last - dt.timedelta(days=RECENT_DAYS - 1)
        if first > last:
            self.add_problem("start", "The first day must not be after the last day")
        elif (last - first).days >= LONGEST_RANGE_DAYS:
            self.add_problem("start", "Choose at most a year of days")
        else:
            return first, last
        return last - dt.timedelta(days=RECENT_DAYS - 1), last


@bp.get("")
@require_role(CALL_FLAG_READERS)
def flags() -> ResponseReturnValue:
    form = FlagFilter(formdata=request.args)
    form.validate()
    first, last = form.chosen_days(web.today())
    kind = FlagKind(form.kind.data) if form.kind.data and not form.kind.errors else None
    offset = positive_int(request.args.get("from")) or 0
    start, end = _bounds(first, last)
    with web.unit_of_work() as session:
        rows, more = web_queries.call_flags(session, start, end, kind=kind, offset=offset)
        session.add(_listed(first, last, kind, offset, len(rows)))
    return render_template(
        "calls/flags.html",
        form=form,
        rows=rows,
        pages=offset_links("calls.flags", offset, web_queries.FLAG_PAGE_SIZE, more),
        first=first,
        last=last,
        today=web.today(),
        # Agents follow a reference to the customer's caller view, not the restriction page.
        restriction_anchor=restriction_anchor,
    )


def _listed(
    first: dt.date, last: dt.date, kind: FlagKind | None, offset: int, shown: int
) -> AuditEntry:
    # The page shows callers' names and the lines they called: each look is recorded by the
    # filter used (days, kind, page), never by what it showed.
    return web.list_viewed(
        AuditAction.CALL_FLAGS_LISTED,
        "call_flags",
        first=first.isoformat(),
        last=last.isoformat(),
        kind=kind.value if kind else None,
        offset=offset,
        shown=shown,
    )


def _bounds(first: dt.date, last: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The council's calendar days as UTC instants [start, end)."""
    zone = web.runtime().timezone
    start = dt.datetime.combine(first, dt.time(), zone).astimezone(dt.UTC)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC)
    return start, end


@bp.post("/<int:event_id>/safeguarding")
@require_role(CALL_FLAG_READERS)
def raise_concern(event_id: int) -> ResponseReturnValue:
    """A member of staff thinks someone on a call is at risk: the same path as wording in an
    email (an urgent alert and the safeguarding mailbox told at once)."""
    try:
        raise_about_call(web.runtime(), web.actor(), web.now(), event_id)
    except AlertRefused as refused:
        flash(str(refused), "error")
    else:
        flash("Safeguarding concern raised: the safeguarding team has been told.", "success")
    return redirect(url_for("calls.flags"))
