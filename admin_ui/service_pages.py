"""The council's services: every member of staff sees the list (what "Council Tax only"
covers); admins add a service and change its mailboxes and lines. The work, its checks
and the audit entry are gateway/services/council_services.py's, as for `ccr services add`;
a change reloads this process's register at once (other processes follow within seconds)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from wtforms import StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from admin_ui import web
from admin_ui.access import SERVICE_KEEPERS, SERVICE_READERS, require_role
from admin_ui.forms import WebForm
from gateway.services import council_services
from gateway.services.council_services import NAME_LENGTH, ServiceLine, ServiceTerms
from gateway.services.register_service import RegisterError

bp = Blueprint("services", __name__, url_prefix="/services")


class ServiceForm(WebForm):
    name = StringField(
        "Name",
        validators=[InputRequired("Enter the name of the service"), Length(max=NAME_LENGTH)],
        description="As staff call it, for example Council Tax",
    )
    description = TextAreaField(
        "What the service does (optional)", validators=[Optional(), Length(max=500)]
    )
    mailboxes = TextAreaField(
        "Mailboxes",
        validators=[Optional()],
        description="The service's email addresses, one on each line",
    )
    lines = TextAreaField(
        "Phone lines",
        validators=[Optional()],
        description="The service's telephone numbers, one on each line",
    )

    def terms(self) -> ServiceTerms:
        return ServiceTerms(
            name=self.name.data or "",
            mailboxes=(self.mailboxes.data or "").splitlines(),
            lines=(self.lines.data or "").splitlines(),
            description=self.description.data,
        )

    def fill(self, service: ServiceLine) -> None:
        self.name.data = service.name
        self.description.data = service.description or ""
        self.mailboxes.data = "\n".join(service.mailboxes)
        self.lines.data = "\n".join(service.lines)


@bp.get("")
@require_role(SERVICE_READERS)
def index() -> ResponseReturnValue:
    with web.unit_of_work() as session:
        services = council_services.list_services(session)
    return render_template("services/index.html", services=services)


@bp.route("/new", methods=["GET", "POST"])
@require_role(SERVICE_KEEPERS)
def new() -> ResponseReturnValue:
    form = ServiceForm()
    if form.validate_on_submit() and _saved(form, service_id=None):
        return redirect(url_for("services.index"))
    status = 400 if form.error_list() else 200
    return render_template("services/form.html", form=form, service=None), status


@bp.route("/<int:service_id>/edit", methods=["GET", "POST"])
@require_role(SERVICE_KEEPERS)
def edit(service_id: int) -> ResponseReturnValue:
    with web.unit_of_work() as session:
        service = council_services.service_line(session, service_id) or abort(404)
    form = ServiceForm()
    if not form.is_submitted():
        form.fill(service)
    elif form.validate() and _saved(form, service_id=service_id):
        return redirect(url_for("services.index"))
    status = 400 if form.error_list() else 200
    return render_template("services/form.html", form=form, service=service), status


def _saved(form: ServiceForm, *, service_id: int | None) -> bool:
    """Add or change the service; a refusal is shown against the form instead."""
    region = web.runtime().settings.phone_region
    options = {"actor": web.actor().name, "now": web.now(), "region": region}
    try:
        with web.unit_of_work() as session:
            if service_id is None:
                saved = council_services.add_service(session, form.terms(), **options)
            else:
                saved = council_services.change_service(
                    session, service_id, form.terms(), **options
                )
            name = saved.name
    except RegisterError as refused:
        form.add_problem(_field_of(str(refused)), str(refused).capitalize())
        return False
    web.register_changed()
    flash(
        f"{name} is saved. Restrictions scoped to it cover its mailboxes and lines now.",
        "success",
    )
    return True


def _field_of(message: str) -> str:
    # Point the error summary at the field the refusal is about.
    if "email address" in message:
        return "mailboxes"
    if "phone number" in message:
        return "lines"
    if "mailbox or phone line" in message:
        return "mailboxes"
    return "name"
