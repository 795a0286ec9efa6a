"""Retention for admins: how long ended restrictions are kept, and which are held past that
for a legal reason. The purge runs in the periodic upkeep (gateway/maintenance.py); here an
admin places a legal hold on a restriction, or releases one, always with a reason.

A hold is placed by reference and covers every revision not yet purged (the earlier terms
are evidence too). The register service writes an audit entry per revision changed; the
reason is kept on the restriction, not in the append-only audit log.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from wtforms import StringField, TextAreaField
from wtforms.validators import InputRequired, Length

from admin_ui import web
from admin_ui.access import ADMINS, require_role
from admin_ui.forms import WebForm
from gateway.services import register_service
from gateway.services.register_service import RegisterError
from gateway.store import web_queries
from routing.audit import AuditAction
from routing.lifecycle import TransitionRefused

bp = Blueprint("retention", __name__, url_prefix="/retention")

REFUSALS = (RegisterError, TransitionRefused)


class LegalHoldForm(WebForm):
    reference = StringField(
        "Restriction reference",
        validators=[InputRequired("Enter the restriction's reference"), Length(max=32)],
        description="For example CCR-2026-0001. Every revision of it is covered.",
    )
    reason = TextAreaField(
        "Reason",
        validators=[InputRequired("Enter the reason"), Length(max=2000)],
        description="For example the claim or appeal it is kept for. Kept with the restriction.",
    )

    def chosen_reference(self) -> str:
        # References are written CCR-2026-0001; accept them typed in any case.
        return (self.reference.data or "").strip().upper()


@bp.get("")
@require_role(ADMINS)
def index() -> ResponseReturnValue:
    settings = web.runtime().settings
    with web.unit_of_work() as session:
        holds = web_queries.legal_holds(session)
        session.add(web.list_viewed(AuditAction.RETENTION_LISTED, "retention", shown=len(holds)))
    return render_template(
        "retention/index.html",
        holds=holds,
        retention_months=settings.retention_months,
        dormant_after_days=settings.dormant_after_days,
    )


@bp.route("/holds/new", methods=["GET", "POST"])
@require_role(ADMINS)
def hold() -> ResponseReturnValue:
    """Place a legal hold: the restriction is not purged until it is released."""
    return _hold_page(hold=True)


@bp.route("/holds/release", methods=["GET", "POST"])
@require_role(ADMINS)
def release() -> ResponseReturnValue:
    """Release a legal hold: the restriction is purged once its retention period is over."""
    return _hold_page(hold=False)


def _hold_page(*, hold: bool) -> ResponseReturnValue:
    # The release link on the retention page names the reference in the address bar.
    form = LegalHoldForm(data={"reference": request.args.get("reference", "")[:32]})
    if form.validate_on_submit():
        reference = _change(form, hold=hold)
        if reference is not None:
            done = "is under a legal hold" if hold else "is no longer under a legal hold"
            flash(f"{reference} {done}.", "success")
            return redirect(url_for("retention.index"))
    status = 400 if form.error_list() else 200
    return render_template("retention/hold.html", form=form, hold=hold), status


def _change(form: LegalHoldForm, *, hold: bool) -> str | None:
    """Make the change; on refusal show the reason against the reference. Returns the
    reference changed, or None."""
    reference = form.chosen_reference()
    try:
        with web.unit_of_work() as session:
            register_service.set_legal_hold_on_reference(
                session,
                web.actor(),
                web.now(),
                reference,
                hold=hold,
                reason=(form.reason.data or "").strip(),
            )
    except REFUSALS as refused:
        message = str(refused)
        # Not str.capitalize(): it would lower-case the reference named in the message.
        form.add_problem("reference", message[:1].upper() + message[1:])
        return None
    return reference
