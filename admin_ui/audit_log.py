"""The audit log for admins: filter by who, what, which subject and when; a page at a time.

Read-only by design: this module has no route that changes an entry, and the table refuses
UPDATE and DELETE by trigger anyway. Reading the log is itself recorded.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from wtforms import DateField, SelectField, StringField
from wtforms.validators import Optional

from admin_ui import web
from admin_ui.access import ADMINS, require_role
from admin_ui.forms import WebForm, choices
from admin_ui.paging import link, positive_int
from gateway.store import web_queries
from routing.audit import AuditAction
from routing.models import AuditEntry

bp = Blueprint("audit", __name__, url_prefix="/audit")


class AuditFilterForm(WebForm):
    actor = StringField(
        "Who", validators=[Optional()], description="An email address, or for example cli, system"
    )
    action = StringField(
        "What",
        validators=[Optional()],
        description="An action such as customer.viewed, or a family such as restriction",
    )
    subject_type = SelectField("Subject", choices=[], validators=[Optional()])
    subject_ref = StringField(
        "Subject reference",
        validators=[Optional()],
        description="For example a customer id, or CCR-2026-0001/1 for a restriction",
    )
    start = DateField("From", validators=[Optional()], format="%Y-%m-%d")
    end = DateField("To", validators=[Optional()], format="%Y-%m-%d")

    def wanted(self) -> web_queries.AuditFilter:
        return web_queries.AuditFilter(
            actor=_text(self.actor.data),
            action=_text(self.action.data),
            subject_type=_text(self.subject_type.data),
            subject_ref=_text(self.subject_ref.data),
            start=_day_start(self.start.data),
            end=_day_start(self.end.data + dt.timedelta(days=1) if self.end.data else None),
        )


@bp.get("")
@require_role(ADMINS)
def index() -> ResponseReturnValue:
    before = positive_int(request.args.get("before"))
    form = AuditFilterForm(formdata=request.args)
    with web.unit_of_work() as session:
        subject_types = web_queries.audit_subject_types(session)
        form.subject_type.choices = choices([("", "Any")] + [(t, t) for t in subject_types])
        valid = form.validate()
        page = web_queries.audit_log(session, form.wanted() if valid else _nothing(), before=before)
        session.add(_read(form, len(page.entries)))
    return render_template(
        "audit/index.html",
        form=form,
        page=page,
        before=before,
        newest=link("audit.index", before=None) if before else None,
        older=link("audit.index", before=page.older_than) if page.older_than else None,
    )


def _nothing() -> web_queries.AuditFilter:
    # A filter that cannot be read (a date that is not one) shows every entry, with the error.
    return web_queries.AuditFilter()


def _read(form: AuditFilterForm, shown: int) -> AuditEntry:
    # Which filters were asked for, never what was typed in them.
    used = sorted(name for name in form._fields if request.args.get(name))
    return web.list_viewed(AuditAction.AUDIT_LISTED, "audit", filters=used, shown=shown)


def _text(value: str | None) -> str | None:
    return (value or "").strip() or None


def _day_start(day: dt.date | None) -> dt.datetime | None:
    if day is None:
        return None
    return dt.datetime.combine(day, dt.time(), web.runtime().timezone).astimezone(dt.UTC)
