"""The "confirm imported restrictions" task: the approver named on a register import sees
the restrictions it put in force and confirms or withdraws them, several at once (ticked in
one form). The work, its checks and the audit entries are
gateway/services/import_confirmation.py's; a withdrawal reloads the register at once."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from admin_ui import web
from admin_ui.access import APPROVERS, require_role
from gateway.services import import_confirmation
from gateway.services.register_service import RegisterError
from routing.audit import AuditAction
from routing.lifecycle import TransitionRefused

bp = Blueprint("imports", __name__, url_prefix="/imports")

CONFIRM = "confirm"
WITHDRAW = "withdraw"


@bp.get("")
@require_role(APPROVERS)
def index() -> ResponseReturnValue:
    return _page()


@bp.post("")
@require_role(APPROVERS)
def settle() -> ResponseReturnValue:
    chosen = [int(v) for v in request.form.getlist("restriction") if v.isdigit()]
    decision = request.form.get("decision")
    reason = (request.form.get("reason") or "").strip()
    problems = _problems(chosen, decision, reason)
    if problems:
        return _page(problems, chosen=chosen, reason=reason)
    try:
        with web.unit_of_work() as session:
            if decision == WITHDRAW:
                settled = import_confirmation.withdraw(
                    session, web.actor(), web.now(), chosen, reason=reason
                )
            else:
                settled = import_confirmation.confirm(session, web.actor(), web.now(), chosen)
    except (RegisterError, TransitionRefused) as refused:
        return _page([(None, str(refused).capitalize())], chosen=chosen, reason=reason)
    if decision == WITHDRAW:
        web.register_changed()
    done = "withdrawn: no longer in force" if decision == WITHDRAW else "confirmed"
    flash(f"{', '.join(settled.references)} {done}.", "success")
    return redirect(url_for("imports.index"))


def _problems(chosen: list[int], decision: str | None, reason: str) -> list[tuple[str | None, str]]:
    """(element to link to, message) for each thing missing from the form."""
    problems: list[tuple[str | None, str]] = []
    if not chosen:
        problems.append(("restrictions", "Tick at least one restriction"))
    if decision not in (CONFIRM, WITHDRAW):
        problems.append((None, "Choose whether to confirm or withdraw them"))
    if decision == WITHDRAW and not reason:
        problems.append(("reason", "Enter why you are withdrawing them"))
    return problems


def _page(
    problems: list[tuple[str | None, str]] | None = None,
    *,
    chosen: list[int] | None = None,
    reason: str = "",
) -> ResponseReturnValue:
    with web.unit_of_work() as session:
        restrictions = import_confirmation.awaiting(session, web.actor())
        page = render_template(
            "imports/index.html",
            restrictions=restrictions,
            problems=problems or [],
            chosen=set(chosen or []),
            reason=reason,
            today=web.today(),
        )
        # The list names customers: the look is audited by how many it showed.
        session.add(
            web.list_viewed(
                AuditAction.REGISTER_IMPORTS_LISTED, "register", shown=len(restrictions)
            )
        )
    return page, 400 if problems else 200
