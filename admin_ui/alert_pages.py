"""Alerts for managers: the list, one alert with its evidence and chart, and the three
things a manager does with it (acknowledge, dismiss with a reason, escalate to a draft).

The steps are gateway/alerts.py's, the same functions `ccr alerts acknowledge|dismiss|
escalate` use: they check who may do what and write the audit entries. A refusal from them
is shown as it is worded there. An escalation drafts a warning; it applies only once a
manager proposes it and a different approver approves it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session
from wtforms import RadioField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Optional

from admin_ui import web
from admin_ui.access import CASEWORKERS, require_role
from admin_ui.charts import series_chart
from admin_ui.forms import WebForm, choices
from admin_ui.paging import offset_links, positive_int
from gateway.services import alerts
from gateway.store import web_queries
from routing.alerts import LIVE, RECONTACT, REFERRAL_NAMES, SAFEGUARDING, AlertRefused
from routing.audit import AuditAction
from routing.enums import AlertStatus, Referral
from routing.models import AuditEntry

bp = Blueprint("alerts", __name__, url_prefix="/alerts")

# The status filter: "waiting" (open or acknowledged, the default), "all", or one status.
STATUS_CHOICES = [
    ("waiting", "Waiting for a decision (open or acknowledged)"),
    ("all", "Every status (waiting ones first)"),
] + [(s.value, s.value.replace("_", " ").capitalize()) for s in AlertStatus]
CONTRIBUTING_SHOWN = 50


class DismissForm(WebForm):
    reason = TextAreaField(
        "Why the contact is reasonable",
        # Spaces alone are no reason: stripped first, then required.
        filters=[lambda text: text.strip() if text else text],
        validators=[DataRequired("Enter why the contact is reasonable")],
        description="Kept with the alert, for the next manager who looks at this person",
    )


class ReferForm(WebForm):
    to = RadioField(
        "Who was it referred to?",
        choices=choices([(r.value, REFERRAL_NAMES[r].capitalize()) for r in Referral]),
        validators=[InputRequired("Choose who it was referred to")],
    )
    other = StringField(
        "If another agency, which one",
        filters=[lambda text: text.strip() if text else text],
        validators=[Optional()],
    )
    reference = StringField(
        "Their reference (optional)",
        filters=[lambda text: text.strip() if text else text],
        validators=[Optional()],
        description="For example the police incident number",
    )


class NoConcernForm(WebForm):
    note = TextAreaField(
        "What you found (optional)", validators=[Optional()], description="Kept with the alert"
    )


class EscalateForm(WebForm):
    note = TextAreaField(
        "Note (optional)", validators=[Optional()], description="Kept with the alert"
    )


@bp.get("")
@require_role(CASEWORKERS)
def index() -> ResponseReturnValue:
    status = request.args.get("status") or "waiting"
    status = status if status in dict(STATUS_CHOICES) else "waiting"
    statuses = _statuses(status)
    rule = request.args.get("rule") or None
    offset = positive_int(request.args.get("from")) or 0
    with web.unit_of_work() as session:
        rows, more = web_queries.alerts_list(session, statuses=statuses, rule=rule, offset=offset)
        rules = web_queries.alert_rules_seen(session)
        alerts.record_listing(session, g.staff.email, web.now(), len(rows))
    return render_template(
        "alerts/index.html",
        rows=rows,
        pages=offset_links("alerts.index", offset, web_queries.ALERT_PAGE_SIZE, more),
        status=status,
        status_choices=STATUS_CHOICES,
        rule=rule if rule in rules else None,
        rules=rules,
        titles=rule_titles(),
    )


def _statuses(chosen: str) -> list[AlertStatus]:
    if chosen == "waiting":
        return sorted(LIVE)
    return list(AlertStatus) if chosen == "all" else [AlertStatus(chosen)]


@bp.get("/<int:alert_id>")
@require_role(CASEWORKERS)
def show(alert_id: int) -> ResponseReturnValue:
    return _alert_page(alert_id, DismissForm(formdata=None), EscalateForm(formdata=None))


def _alert_page(
    alert_id: int,
    dismiss_form: DismissForm,
    escalate_form: EscalateForm,
    status: int = 200,
    refer_form: ReferForm | None = None,
) -> ResponseReturnValue:
    with web.unit_of_work() as session:
        row = web_queries.alert(session, alert_id) or abort(404)
        page = _evidence(session, row.alert.evidence or {})
        session.add(_viewed(row))
    return render_template(
        "alerts/show.html",
        row=row,
        person=alerts.person_label(row.alert, row.customer_ref, row.identity_kind),
        live=row.alert.status in LIVE,
        title=rule_titles().get(row.alert.rule, row.alert.rule.replace("_", " ")),
        dismiss_form=dismiss_form,
        escalate_form=escalate_form,
        safeguarding=row.alert.rule == SAFEGUARDING,
        refer_form=refer_form or ReferForm(formdata=None),
        no_concern_form=NoConcernForm(formdata=None),
        **page,
    ), status


def _evidence(session: Session, evidence: dict[str, Any]) -> dict[str, Any]:
    """What the evidence shows: the figures, the window, the contacts counted and a chart.
    Alerts other than contact volume (safeguarding, reviews) have only a few named facts."""
    if "series" not in evidence:
        return {"volume": None, "facts": sorted(evidence.items())}
    points = [(dt.date.fromisoformat(p["day"]), int(p["value"])) for p in evidence["series"]]
    unit = str(evidence.get("unit", ""))
    window = evidence.get("window", {})
    event_ids = list(evidence.get("events", []))[:CONTRIBUTING_SHOWN]
    return {
        "facts": [],
        "volume": {
            "evidence": evidence,
            "unit": unit,
            "start": _instant(window.get("first_contact") or window.get("start")),
            "end": _instant(window.get("end")),
            "hours": window.get("hours"),
            "points": points,
            "chart": series_chart(points, unit, f"{unit.capitalize()} per day up to the alert"),
            "events": web_queries.contact_events(session, event_ids),
            "event_count": evidence.get("event_count", len(event_ids)),
        },
    }


def _instant(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


@bp.post("/<int:alert_id>/acknowledge")
@require_role(CASEWORKERS)
def acknowledge(alert_id: int) -> ResponseReturnValue:
    return _step(
        alert_id,
        lambda s: alerts.acknowledge_alert(s, web.actor(), web.now(), alert_id),
        "Alert {id} acknowledged: it stays on the list until it is dismissed or escalated.",
    )


@bp.post("/<int:alert_id>/dismiss")
@require_role(CASEWORKERS)
def dismiss(alert_id: int) -> ResponseReturnValue:
    form = DismissForm()
    if not form.validate_on_submit():
        return _alert_page(alert_id, form, EscalateForm(formdata=None), status=400)
    return _step(
        alert_id,
        lambda s: alerts.dismiss_alert(
            s, web.actor(), web.now(), alert_id, reason=form.reason.data
        ),
        "Alert {id} dismissed as reasonable contact.",
    )


@bp.post("/<int:alert_id>/refer")
@require_role(CASEWORKERS)
def refer(alert_id: int) -> ResponseReturnValue:
    """A safeguarding concern passed to an agency: to whom, with their reference."""
    form = ReferForm()
    valid = form.validate_on_submit()
    if valid and form.to.data == Referral.OTHER and not form.other.data:
        form.add_problem("other", "Enter which agency it was referred to")
        valid = False
    if not valid:
        blank = DismissForm(formdata=None)
        return _alert_page(alert_id, blank, EscalateForm(formdata=None), 400, refer_form=form)
    to = Referral(form.to.data)
    return _step(
        alert_id,
        lambda s: alerts.refer_alert(
            s,
            web.actor(),
            web.now(),
            alert_id,
            to,
            reference=form.reference.data,
            other=form.other.data,
        ),
        "Alert {id} closed: the referral is recorded.",
    )


@bp.post("/<int:alert_id>/no-concern")
@require_role(CASEWORKERS)
def no_concern(alert_id: int) -> ResponseReturnValue:
    """A person read the message and found no risk to act on."""
    form = NoConcernForm()
    return _step(
        alert_id,
        lambda s: alerts.no_concern_alert(s, web.actor(), web.now(), alert_id, note=form.note.data),
        "Alert {id} closed: read, no concern.",
    )


@bp.post("/<int:alert_id>/escalate")
@require_role(CASEWORKERS)
def escalate(alert_id: int) -> ResponseReturnValue:
    """Close the alert and draft a warning for its person; the draft's page comes next."""
    form = EscalateForm()
    note = (form.note.data or "").strip() or None
    try:
        with web.unit_of_work() as session:
            draft = alerts.escalate_alert(
                session, web.runtime(), web.actor(), web.now(), alert_id, reason=note
            )
            draft_id, reference = draft.id, draft.reference
    except AlertRefused as refused:
        return _refused(alert_id, refused)
    web.register_changed()  # a lone identity may have been linked to a new customer
    flash(
        f"Alert {alert_id} escalated: {reference} is drafted as a warning. It does nothing "
        "until it is proposed and a different approver approves it.",
        "success",
    )
    return redirect(url_for("restrictions.show", restriction_id=draft_id))


def _step(alert_id: int, change: Callable[[Session], object], done: str) -> ResponseReturnValue:
    try:
        with web.unit_of_work() as session:
            change(session)
    except AlertRefused as refused:
        return _refused(alert_id, refused)
    flash(done.format(id=alert_id), "success")
    return redirect(url_for("alerts.show", alert_id=alert_id))


def _refused(alert_id: int, refused: AlertRefused) -> ResponseReturnValue:
    with web.unit_of_work() as session:
        web_queries.alert(session, alert_id) or abort(404)
    flash(str(refused), "error")
    return redirect(url_for("alerts.show", alert_id=alert_id))


def rule_titles() -> dict[str, str]:
    """Rule key -> its title in words, for the rules in force (and the other alert kinds)."""
    titles = {
        SAFEGUARDING: "Safeguarding concern",
        RECONTACT: "Contact again while a case is dormant",
        "review_due": "Review due",
        "appeal_undecided": "Appeal undecided",
    }
    rules = web.runtime().settings.volume.rule_set.rules
    return titles | {rule.key: rule.title for rule in rules}


def _viewed(row: web_queries.AlertRow) -> AuditEntry:
    return web.staff_audit(
        AuditAction.ALERT_VIEWED,
        "alert",
        str(row.alert.id),
        customer_id=row.alert.customer_id,
        identity_id=row.alert.identity_id,
    )
