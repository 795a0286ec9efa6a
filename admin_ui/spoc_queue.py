"""The SPOC's queue: routed mail a person must read, one item at a time, and the outcome
they record. The steps are gateway/services/spoc_queue.py's: they check who may and write
the audit entries. The message is shown as text only: the customer's HTML is never
rendered, and attachments are offered as downloads, never opened in the browser."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from wtforms import DateField, RadioField, StringField, TextAreaField
from wtforms.validators import InputRequired, Optional

from admin_ui import web
from admin_ui.access import SPOC_HANDLERS, require_role
from admin_ui.forms import WebForm, choices
from admin_ui.paging import offset_links, positive_int
from gateway.services import spoc_queue as queue
from gateway.store import web_queries
from gateway.store.spoc_queue import PAGE_SIZE, Show
from routing.spoc import (
    ITEM_OUTCOME_WORDS,
    OUTCOME_WORDS,
    ItemOutcome,
    OutcomeChoice,
    OutcomeRefused,
    is_overdue,
)

bp = Blueprint("spoc", __name__, url_prefix="/spoc-queue")

SHOW_CHOICES = [
    (Show.WAITING, "Waiting for an outcome or a reply"),
    (Show.OVERDUE, "Overdue"),
    (Show.UNREAD, "Not read yet"),
    (Show.ALL, "Every item"),
]
WHOSE_CHOICES = [("mine", "Items for my SPOC mailbox"), ("all", "Every SPOC's items")]


def _stripped(text: str | None) -> str | None:
    return text.strip() if text else text


class OutcomeForm(WebForm):
    outcome = RadioField(
        "What was done with it?",
        choices=choices([(o.value, ITEM_OUTCOME_WORDS[o]) for o in ItemOutcome]),
        validators=[InputRequired("Choose what was done with it")],
    )
    service = StringField(
        "Which service (for a new matter)",
        filters=[_stripped],
        validators=[Optional()],
        description="For example Council Tax, or Housing repairs",
    )
    reply_due_on = DateField(
        "Reply due by (for a reply due)",
        validators=[Optional()],
        invalid_value_message="Enter the date the reply is due by, for example 2027-01-31",
    )
    note = TextAreaField("Note (optional)", filters=[_stripped], validators=[Optional()])


@bp.get("")
@require_role(SPOC_HANDLERS)
def index() -> ResponseReturnValue:
    show = request.args.get("show") or Show.WAITING
    show = show if show in dict(SHOW_CHOICES) else Show.WAITING
    mine = request.args.get("whose") != "all"
    offset = positive_int(request.args.get("from")) or 0
    today = web.today()
    with web.unit_of_work() as session:
        rows, more = queue.list_items(
            session, web.actor(), web.now(), today, show=show, mine=mine, offset=offset
        )
    return render_template(
        "spoc/index.html",
        rows=rows,
        overdue={r.id for r in rows if is_overdue(r.outcome, r.due_on, r.reply_due_on, today)},
        pages=offset_links("spoc.index", offset, PAGE_SIZE, more),
        show=show,
        show_choices=SHOW_CHOICES,
        whose="mine" if mine else "all",
        whose_choices=WHOSE_CHOICES,
        outcome_words=OUTCOME_WORDS,
        item_outcome_words=ITEM_OUTCOME_WORDS,
    )


@bp.get("/<int:item_id>")
@require_role(SPOC_HANDLERS)
def show(item_id: int) -> ResponseReturnValue:
    return _item_page(item_id, OutcomeForm(formdata=None))


def _item_page(item_id: int, form: OutcomeForm, status: int = 200) -> ResponseReturnValue:
    today = web.today()
    with web.unit_of_work() as session:
        try:
            opened = queue.open_item(session, web.actor(), web.now(), item_id)
        except queue.ItemNotFound:
            abort(404)
        item = opened.item
        page = render_template(
            "spoc/show.html",
            opened=opened,
            item=item,
            overdue=is_overdue(item.outcome, item.due_on, item.reply_due_on, today),
            form=form,
            outcome_words=OUTCOME_WORDS,
            item_outcome_words=ITEM_OUTCOME_WORDS,
            # The council's services, offered as suggestions: a new matter may also go to a
            # team that is not set up as a service, so the field stays free text.
            service_names=[s.name for s in web_queries.services(session)],
        )
    return page, status


@bp.post("/<int:item_id>/outcome")
@require_role(SPOC_HANDLERS)
def outcome(item_id: int) -> ResponseReturnValue:
    form = OutcomeForm()
    if not form.validate_on_submit():
        return _item_page(item_id, form, 400)
    choice = OutcomeChoice(
        ItemOutcome(form.outcome.data),
        service=form.service.data,
        reply_due_on=form.reply_due_on.data,
        note=form.note.data,
    )
    rt = web.runtime_for_request()
    try:
        with web.unit_of_work() as session:
            item = queue.record_outcome(rt, session, web.actor(), web.now(), item_id, choice)
            alert_id = item.alert_id
    except queue.ItemNotFound:
        abort(404)
    except OutcomeRefused as refused:
        field = "reply_due_on" if choice.outcome is ItemOutcome.REPLY_DUE else "service"
        form.add_problem(field, str(refused).capitalize())
        return _item_page(item_id, form, 400)
    queue.send_notices_raised(rt, session)
    if choice.outcome is ItemOutcome.SAFEGUARDING and alert_id is not None:
        flash("Outcome recorded. Record the referral on the safeguarding alert.", "success")
        return redirect(url_for("alerts.show", alert_id=alert_id))
    flash("Outcome recorded.", "success")
    return redirect(url_for("spoc.index"))


@bp.get("/<int:item_id>/attachments/<int:index>")
@require_role(SPOC_HANDLERS)
def attachment(item_id: int, index: int) -> ResponseReturnValue:
    """An attachment, always as a download: never shown inline, whatever its type says."""
    with web.unit_of_work() as session:
        try:
            listed, content = queue.download_attachment(
                session, web.actor(), web.now(), item_id, index
            )
        except queue.ItemNotFound:
            abort(404)
    response = Response(content, mimetype="application/octet-stream")
    response.headers.set("Content-Disposition", "attachment", filename=listed.filename)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
