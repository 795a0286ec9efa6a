"""The register and its restrictions: list, view, propose, approve, vary, lift, review, export.

Views only translate between forms and gateway/register_service.py: the rules (who may
approve, what sound terms are, what each move does) live in routing/ and the register
service, and a refusal from them is shown to the member of staff as it is worded there.
"""

from __future__ import annotations

import io
from collections.abc import Callable

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from admin_ui import letters, web
from admin_ui.access import APPROVERS, CASEWORKERS, require_role
from admin_ui.customers import customer_audit
from admin_ui.forms import (
    LiftForm,
    ProposeForm,
    ReviewForm,
    VaryForm,
    WebForm,
    WithdrawForm,
    choices,
    terms_of,
)
from gateway.services import register_service
from gateway.services.register_csv import export_register
from gateway.services.register_service import RegisterError
from gateway.store import web_queries
from routing.approvals import STAGE_NAMES, ApprovalRules
from routing.audit import AuditAction
from routing.enums import RestrictionStatus, ReviewOutcome
from routing.lifecycle import TransitionRefused
from routing.models import AuditEntry, Restriction

bp = Blueprint("restrictions", __name__)

REFUSALS = (RegisterError, TransitionRefused)


def _rules() -> ApprovalRules:
    return web.runtime().settings.approval_rules()


# --- the register -----------------------------------------------------------------------------


@bp.get("/register")
@require_role(CASEWORKERS)
def register() -> ResponseReturnValue:
    """The register; `?status=pending_approval` (say) shows only restrictions in that status."""
    status = _status_asked(request.args.get("status"))
    with web.unit_of_work() as session:
        restrictions = (
            web_queries.register_list(session, [status])
            if status
            else web_queries.register_list(session)
        )
        session.add(_audit(AuditAction.REGISTER_LISTED, None, shown=len(restrictions)))
    return render_template("restrictions/register.html", restrictions=restrictions, status=status)


def _status_asked(value: str | None) -> RestrictionStatus | None:
    try:
        return RestrictionStatus(value) if value else None
    except ValueError:
        abort(400)


@bp.post("/register/export")
@require_role(CASEWORKERS)
def export() -> ResponseReturnValue:
    """The register as CSV, in the columns `ccr register import` reads (audited)."""
    out = io.StringIO()
    export_register(web.runtime_for_request(), out, actor=g.staff.email, now=web.now())
    response = Response(out.getvalue(), mimetype="text/csv")
    filename = f"ccr-register-{web.today().isoformat()}.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- one restriction --------------------------------------------------------------------------


@bp.get("/restrictions/<int:restriction_id>")
@require_role(CASEWORKERS)  # casework: agents read the terms on the customer's caller view
def show(restriction_id: int) -> ResponseReturnValue:
    return _restriction_page(restriction_id)


def _restriction_page(
    restriction_id: int, *, errors: list[str] | None = None, status: int = 200
) -> ResponseReturnValue:
    with web.unit_of_work() as session:
        restriction = web_queries.restriction(session, restriction_id) or abort(404)
        revisions = web_queries.revisions(session, restriction.reference)
        page = {
            "restriction": restriction,
            "revisions": revisions,
            "current": revisions[-1],
            "history": web_queries.restriction_history(session, restriction.reference),
            "staff_names": _staff_of(session, revisions),
            "errors": errors or [],
            **letters.restriction_section(session, restriction),
            "approval": _approval_of(restriction),
        }
        session.add(
            _audit(AuditAction.RESTRICTION_VIEWED, restriction, customer_id=restriction.customer_id)
        )
    return render_template("restrictions/show.html", **page), status


def _approval_of(restriction: Restriction) -> dict[str, object]:
    """What approving this restriction's stage asks of the approver, for the page."""
    rules = _rules()
    return {
        "stage_name": STAGE_NAMES[restriction.stage],
        "minimum_role": rules.minimum_role(restriction.stage),
        "needs_declaration": rules.needs_declaration(restriction.stage),
    }


def _staff_of(session: Session, revisions: list[Restriction]) -> dict[int, str]:
    ids = {r.proposed_by_id for r in revisions} | {r.approved_by_id for r in revisions}
    ids |= {review.reviewer_id for r in revisions for review in r.reviews}
    return web_queries.staff_names(session, ids)


@bp.route("/customers/<int:customer_id>/restrictions/new", methods=["GET", "POST"])
@require_role(CASEWORKERS)
def propose(customer_id: int) -> ResponseReturnValue:
    """Propose a restriction: drafted and put forward for a different approver at once."""
    settings = web.runtime().settings
    with web.unit_of_work() as session:
        customer = web_queries.customer(session, customer_id) or abort(404)
        service_names = [s.name for s in web_queries.services(session)]
        # The form names the customer: showing it is a view of their record.
        session.add(customer_audit(AuditAction.CUSTOMER_VIEWED, customer_id, view="propose"))
    form = ProposeForm(
        data={"starts_on": web.today(), "review_every_months": settings.default_review_months}
    )
    form.scope_services.choices = choices([(name, name) for name in service_names])
    _describe_business_case(form)
    if form.validate_on_submit():
        restriction_id = _propose(form, customer_id)
        if restriction_id is not None:
            return redirect(url_for("restrictions.show", restriction_id=restriction_id))
    return _form_page("restrictions/propose.html", form, customer=customer)


def _describe_business_case(form: ProposeForm | VaryForm) -> None:
    # The hint names the stages that need one, as this council's settings have them.
    stages = sorted(_rules().business_case_stages, key=list(STAGE_NAMES).index)
    if stages:
        names = " and ".join(STAGE_NAMES[stage] for stage in stages)
        form.business_case.description = f"Why this stage is warranted: required for {names}"
    else:
        form.business_case.description = "Why this stage is warranted (optional)"


def _propose(form: ProposeForm, customer_id: int) -> int | None:
    terms = form.terms()
    rules = _rules()
    # Every problem at once, each against its field: the terms, the reason every proposal
    # needs, and the business case the stage may need.
    form.show_problems(terms.problems())
    if not terms.reason:
        form.add_problem("reason", "Enter why the restriction is proposed")
    missing_case = rules.business_case_refusal(terms.stage, terms.business_case, "the proposal")
    if missing_case:
        form.add_problem("business_case", missing_case.capitalize())
    if form.error_list():
        return None
    actor, now = web.actor(), web.now()
    try:
        with web.unit_of_work() as session:
            customer = web_queries.customer(session, customer_id) or abort(404)
            restriction = register_service.draft_restriction(session, actor, now, customer, terms)
            register_service.submit(session, actor, now, restriction.id, rules=rules)
            reference, restriction_id = restriction.reference, restriction.id
    except REFUSALS as refused:
        form.add_problem("form", str(refused))
        return None
    flash(f"{reference} proposed. A different approver must approve it.", "success")
    return restriction_id


@bp.post("/restrictions/<int:restriction_id>/submit")
@require_role(CASEWORKERS)
def submit(restriction_id: int) -> ResponseReturnValue:
    """Put a draft (one an alert escalated, say) forward for approval."""
    return _act(
        restriction_id,
        lambda s: register_service.submit(
            s, web.actor(), web.now(), restriction_id, rules=_rules()
        ),
        "{reference} proposed. A different approver must approve it.",
    )


@bp.post("/restrictions/<int:restriction_id>/approve")
@require_role(APPROVERS)
def approve(restriction_id: int) -> ResponseReturnValue:
    appeal_days = web.runtime().settings.appeal_days
    declared = request.form.get("no_prior_involvement") == "yes"
    return _act(
        restriction_id,
        lambda s: register_service.approve(
            s,
            web.actor(),
            web.now(),
            restriction_id,
            today=web.today(),
            appeal_days=appeal_days,
            rules=_rules(),
            no_prior_involvement=declared,
        ),
        "{reference} approved: it is in force now.",
        changes_register=True,
    )


def _act(
    restriction_id: int,
    change: Callable[[Session], Restriction],
    done: str,
    *,
    changes_register: bool = False,
) -> ResponseReturnValue:
    """Make one register change; on refusal show the restriction with the reason (409)."""
    try:
        with web.unit_of_work() as session:
            web_queries.restriction(session, restriction_id) or abort(404)
            reference = change(session).reference
    except REFUSALS as refused:
        return _restriction_page(restriction_id, errors=[str(refused)], status=409)
    if changes_register:
        web.register_changed()
    flash(done.format(reference=reference), "success")
    return redirect(url_for("restrictions.show", restriction_id=restriction_id))


@bp.route("/restrictions/<int:restriction_id>/vary", methods=["GET", "POST"])
@require_role(APPROVERS)
def vary(restriction_id: int) -> ResponseReturnValue:
    with web.unit_of_work() as session:
        restriction = web_queries.restriction(session, restriction_id) or abort(404)
    form = VaryForm(data=terms_of(restriction))
    _describe_business_case(form)
    if form.validate_on_submit():
        successor_id = _vary(form, restriction)
        if successor_id is not None:
            return redirect(url_for("restrictions.show", restriction_id=successor_id))
    return _audited_form_page("restrictions/vary.html", form, restriction, "vary")


def _vary(form: VaryForm, restriction: Restriction) -> int | None:
    changes = form.changes(restriction)
    if changes is None:
        return None
    if not changes:
        form.add_problem("stage", "Nothing has changed: change at least one term to vary it")
        return None
    try:
        with web.unit_of_work() as session:
            successor = register_service.vary(
                session,
                web.actor(),
                web.now(),
                restriction.id,
                changes,
                today=web.today(),
                reason=form.variation_reason.data or "",
                rules=_rules(),
            )
            reference, successor_id = successor.reference, successor.id
    except REFUSALS as refused:
        form.add_problem("form", str(refused))
        return None
    web.register_changed()
    flash(f"{reference} varied: the new terms are in force now.", "success")
    return successor_id


@bp.route("/restrictions/<int:restriction_id>/lift", methods=["GET", "POST"])
@require_role(APPROVERS)
def lift(restriction_id: int) -> ResponseReturnValue:
    return _end_with_reason(
        restriction_id, LiftForm(), register_service.lift, "lift",
        "{reference} lifted: it no longer applies.", changes_register=True,
    )  # fmt: skip


@bp.route("/restrictions/<int:restriction_id>/withdraw", methods=["GET", "POST"])
@require_role(CASEWORKERS)
def withdraw(restriction_id: int) -> ResponseReturnValue:
    """Withdraw a proposal that will not go ahead: it ends without coming into force."""
    return _end_with_reason(
        restriction_id, WithdrawForm(), register_service.withdraw, "withdraw",
        "{reference} withdrawn: it will not come into force.", changes_register=False,
    )  # fmt: skip


def _end_with_reason(
    restriction_id: int,
    form: LiftForm | WithdrawForm,
    end: Callable[..., Restriction],
    view: str,
    done: str,
    *,
    changes_register: bool,
) -> ResponseReturnValue:
    """The form that ends a restriction (lift) or a proposal (withdraw), with a reason."""
    with web.unit_of_work() as session:
        restriction = web_queries.restriction(session, restriction_id) or abort(404)
    if form.validate_on_submit():
        try:
            with web.unit_of_work() as session:
                end(session, web.actor(), web.now(), restriction_id, reason=form.reason.data or "")
        except REFUSALS as refused:
            form.add_problem("form", str(refused))
        else:
            if changes_register:
                web.register_changed()
            flash(done.format(reference=restriction.reference), "success")
            return redirect(url_for("restrictions.show", restriction_id=restriction_id))
    return _audited_form_page(f"restrictions/{view}.html", form, restriction, view)


@bp.route("/restrictions/<int:restriction_id>/review", methods=["GET", "POST"])
@require_role(APPROVERS)
def review(restriction_id: int) -> ResponseReturnValue:
    with web.unit_of_work() as session:
        restriction = web_queries.restriction(session, restriction_id) or abort(404)
    form = ReviewForm()
    if form.validate_on_submit():
        outcome = ReviewOutcome(form.outcome.data)
        try:
            with web.unit_of_work() as session:
                register_service.review(
                    session,
                    web.actor(),
                    web.now(),
                    restriction_id,
                    today=web.today(),
                    outcome=outcome,
                    notes=(form.notes.data or "").strip() or None,
                )
        except REFUSALS as refused:
            form.add_problem("form", str(refused))
        else:
            flash(f"Review of {restriction.reference} recorded.", "success")
            return redirect(_after_review(restriction_id, outcome))
    return _audited_form_page("restrictions/review.html", form, restriction, "review")


def _after_review(restriction_id: int, outcome: ReviewOutcome) -> str:
    # A decision to vary or lift is carried out on the page that does it.
    endpoint = {
        ReviewOutcome.VARY: "restrictions.vary",
        ReviewOutcome.LIFT: "restrictions.lift",
    }.get(outcome, "restrictions.show")
    return url_for(endpoint, restriction_id=restriction_id)


# --- helpers ----------------------------------------------------------------------------------


def _form_page(template: str, form: WebForm, **context: object) -> ResponseReturnValue:
    status = 400 if form.error_list() else 200
    return render_template(template, form=form, **context), status


def _audited_form_page(
    template: str, form: WebForm, restriction: Restriction, view: str
) -> ResponseReturnValue:
    """A form that shows a restriction's terms (the vary form holds its reason and confidential
    notes): each time it is shown is a view of the record, audited like the record page."""
    with web.unit_of_work() as session:
        customer_id = restriction.customer_id
        session.add(
            _audit(AuditAction.RESTRICTION_VIEWED, restriction, customer_id=customer_id, view=view)
        )
    return _form_page(template, form, restriction=restriction)


def _audit(action: AuditAction, restriction: Restriction | None, **detail: object) -> AuditEntry:
    if restriction is None:
        return web.staff_audit(action, "register", None, **detail)
    ref = f"{restriction.reference}/{restriction.revision}"
    return web.staff_audit(action, "restriction", ref, **detail)
