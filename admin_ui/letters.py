"""Letters to the customer and their appeals, from a restriction's page: preview a letter,
download it as PDF, record it as sent; lodge an appeal, name its hearer, decide it.

Views only translate between forms and gateway/services/letters.py and appeals.py; a
refusal from them (or a mistake in a council's letter template) is shown on the page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup
from sqlalchemy.orm import Session

from admin_ui import web
from admin_ui.access import require_role
from admin_ui.letter_forms import DecideAppealForm, HearerForm, LetterSentForm, LodgeAppealForm
from gateway.services import appeals as appeal_service
from gateway.services import letters as letter_service
from gateway.services.letters import LetterError
from gateway.store import appeals as appeal_store
from gateway.store import web_queries
from routing.appeals import AppealRefused, open_appeal
from routing.audit import AuditAction
from routing.enums import AppealDecision, LetterKind, LetterMethod
from routing.letters import APPEALABLE_KINDS, KIND_TITLES
from routing.models import Restriction
from routing.roles import WHO_MAY, Permission

bp = Blueprint("letters", __name__)

REFUSALS = (LetterError, AppealRefused)


# --- appeals waiting -------------------------------------------------------------------------


@bp.get("/appeals")
@require_role(WHO_MAY[Permission.LODGE_APPEAL])
def appeals() -> ResponseReturnValue:
    """Every appeal lodged and not yet decided, the longest waiting first."""
    with web.unit_of_work() as session:
        waiting = web_queries.appeals_waiting(session)
        session.add(web.list_viewed(AuditAction.APPEALS_LISTED, "register", shown=len(waiting)))
    return render_template("letters/appeals.html", waiting=waiting, today=web.today())


# --- letters ----------------------------------------------------------------------------------


@bp.get("/restrictions/<int:restriction_id>/letters/<kind>")
@require_role(WHO_MAY[Permission.READ_LETTERS])
def preview(restriction_id: int, kind: str) -> ResponseReturnValue:
    return _preview_page(restriction_id, _kind(kind), LetterSentForm(data={"sent_on": web.today()}))


def _preview_page(
    restriction_id: int, kind: LetterKind, form: LetterSentForm, status: int = 200
) -> ResponseReturnValue:
    restriction, letter, problem = _restriction_and_letter(restriction_id, kind)
    page = {
        "restriction": restriction,
        "kind": kind,
        "title": KIND_TITLES[kind],
        "letter": Markup(letter) if letter else None,  # autoescaped by the letter's templates
        "problem": problem,
        "form": form,
    }
    return render_template("letters/preview.html", **page), 409 if problem else status


def _restriction_and_letter(
    restriction_id: int, kind: LetterKind
) -> tuple[Restriction, str | None, str | None]:
    settings = web.runtime().settings
    try:
        with web.unit_of_work() as session:
            restriction = web_queries.restriction(session, restriction_id) or abort(404)
            letter = letter_service.preview_letter(
                session, settings, web.actor().name, web.now(), restriction_id, kind,
                today=web.today(),
            )  # fmt: skip
    except LetterError as refused:
        with web.unit_of_work() as session:
            restriction = web_queries.restriction(session, restriction_id) or abort(404)
        return restriction, None, str(refused)
    return restriction, letter, None


@bp.get("/restrictions/<int:restriction_id>/letters/<kind>/pdf")
@require_role(WHO_MAY[Permission.READ_LETTERS])
def pdf(restriction_id: int, kind: str) -> ResponseReturnValue:
    letter_kind = _kind(kind)
    settings = web.runtime().settings
    try:
        with web.unit_of_work() as session:
            restriction = web_queries.restriction(session, restriction_id) or abort(404)
            document = letter_service.letter_pdf(
                session, settings, web.actor().name, web.now(), restriction_id, letter_kind,
                today=web.today(),
            )  # fmt: skip
    except LetterError:
        return redirect(url_for("letters.preview", restriction_id=restriction_id, kind=kind))
    response = Response(document, mimetype="application/pdf")
    filename = f"{restriction.reference}-{letter_kind.value.replace('_', '-')}.pdf"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.post("/restrictions/<int:restriction_id>/letters/<kind>/sent")
@require_role(WHO_MAY[Permission.RECORD_LETTER])
def record_sent(restriction_id: int, kind: str) -> ResponseReturnValue:
    letter_kind = _kind(kind)
    form = LetterSentForm()
    if not form.validate_on_submit():
        return _preview_page(restriction_id, letter_kind, form, status=400)
    settings = web.runtime().settings
    try:
        with web.unit_of_work() as session:
            restriction = letter_service.record_letter_sent(
                session, settings, web.actor(), web.now(), restriction_id, today=web.today(),
                kind=letter_kind, sent_on=form.sent_on.data, method=LetterMethod(form.method.data),
            )  # fmt: skip
            deadline = restriction.appeal_deadline
    except REFUSALS as refused:
        form.add_problem("sent_on", str(refused))
        return _preview_page(restriction_id, letter_kind, form, status=409)
    message = f"{KIND_TITLES[letter_kind]} letter recorded as sent."
    if deadline and letter_kind in APPEALABLE_KINDS and settings.appeals_offered:
        message += f" The customer may appeal until {_long_date(deadline)}."
    flash(message, "success")
    return redirect(url_for("restrictions.show", restriction_id=restriction_id))


# --- appeals ----------------------------------------------------------------------------------


@bp.route("/restrictions/<int:restriction_id>/appeal/new", methods=["GET", "POST"])
@require_role(WHO_MAY[Permission.LODGE_APPEAL])
def lodge(restriction_id: int) -> ResponseReturnValue:
    form = LodgeAppealForm(data={"received_on": web.today()})
    if form.validate_on_submit():
        done = _appeal_step(form, restriction_id, lambda s: appeal_service.lodge_appeal(
            s, web.actor(), web.now(), restriction_id, today=web.today(),
            received_on=form.received_on.data, received_how=LetterMethod(form.received_how.data),
        ), "received_on")  # fmt: skip
        if done:
            flash("Appeal recorded. Now choose who will hear it.", "success")
            return redirect(url_for("letters.hearer", restriction_id=restriction_id))
    return _appeal_page("letters/lodge.html", form, restriction_id)


@bp.route("/restrictions/<int:restriction_id>/appeal/hearer", methods=["GET", "POST"])
@require_role(WHO_MAY[Permission.LODGE_APPEAL])
def hearer(restriction_id: int) -> ResponseReturnValue:
    form = HearerForm()
    with web.unit_of_work() as session:
        form.hearer.choices = [
            (staff.id, staff.display_name or staff.email)
            for staff in appeal_store.active_approvers(session)
        ]
    if form.validate_on_submit():
        done = _appeal_step(form, restriction_id, lambda s: appeal_service.assign_hearer(
            s, web.actor(), web.now(), restriction_id, form.hearer.data,
        ), "hearer")  # fmt: skip
        if done:
            flash("Hearer named: they can now decide the appeal.", "success")
            return redirect(url_for("restrictions.show", restriction_id=restriction_id))
    return _appeal_page("letters/hearer.html", form, restriction_id)


@bp.route("/restrictions/<int:restriction_id>/appeal/decide", methods=["GET", "POST"])
@require_role(WHO_MAY[Permission.DECIDE_APPEAL])
def decide(restriction_id: int) -> ResponseReturnValue:
    form = DecideAppealForm()
    if form.validate_on_submit():
        decision = AppealDecision(form.decision.data)
        done = _appeal_step(form, restriction_id, lambda s: appeal_service.decide_appeal(
            s, web.actor(), web.now(), restriction_id, today=web.today(),
            decision=decision, reasons=form.reasons.data or "",
        ), "decision")  # fmt: skip
        if done:
            return _after_decision(restriction_id, decision)
    return _appeal_page("letters/decide.html", form, restriction_id)


def _after_decision(restriction_id: int, decision: AppealDecision) -> ResponseReturnValue:
    if decision is AppealDecision.LIFTED:
        web.register_changed()
        flash("Appeal decided: the restriction is lifted and no longer applies.", "success")
    elif decision is AppealDecision.VARIED:
        flash("Appeal decided. Now change the terms: the variation brings them in.", "success")
        return redirect(url_for("restrictions.vary", restriction_id=restriction_id))
    else:
        flash("Appeal decided: the restriction stays as it is.", "success")
    return redirect(url_for("restrictions.show", restriction_id=restriction_id))


def _appeal_step(
    form: Any, restriction_id: int, step: Callable[[Session], object], field: str
) -> bool:
    try:
        with web.unit_of_work() as session:
            web_queries.restriction(session, restriction_id) or abort(404)
            step(session)
    except REFUSALS as refused:
        form.add_problem(field, str(refused))
        return False
    return True


def _appeal_page(template: str, form: Any, restriction_id: int) -> ResponseReturnValue:
    with web.unit_of_work() as session:
        restriction = web_queries.restriction(session, restriction_id) or abort(404)
        section = restriction_section(session, restriction)
    status = 400 if form.error_list() else 200
    return render_template(template, form=form, restriction=restriction, **section), status


# --- on the restriction's page ----------------------------------------------------------------


def restriction_section(session: Session, restriction: Restriction) -> dict[str, Any]:
    """What the restriction's page shows of its letters and appeals (every revision)."""
    appeals = list(appeal_store.appeals_under(session, restriction.reference))
    hearers = {a.hearer_id for a in appeals}
    return {
        "letters_sent": list(appeal_store.letters_under(session, restriction.reference)),
        "appeals": appeals,
        "open_appeal": open_appeal(restriction),
        "letter_kinds": _letter_kinds(restriction, appeals),
        "hearer_names": web_queries.staff_names(session, hearers),
        "letter_titles": KIND_TITLES,
    }


def _letter_kinds(restriction: Restriction, appeals: list) -> list[LetterKind]:
    """The letters there is something to write about."""
    kinds = [LetterKind.NOTIFICATION]
    if restriction.revision > 1:
        kinds.append(LetterKind.VARIATION)
    if restriction.reviews:
        kinds.append(LetterKind.REVIEW_OUTCOME)
    if restriction.ended_at and restriction.end_reason and restriction.status.value == "lifted":
        kinds.append(LetterKind.LIFTING)
    if any(a.decision is not None for a in appeals):
        kinds.append(LetterKind.APPEAL_OUTCOME)
    return kinds


def _kind(value: str) -> LetterKind:
    try:
        return LetterKind(value)
    except ValueError:
        abort(404)


def _long_date(day: Any) -> str:
    return f"{day.day} {day:%B %Y}"
