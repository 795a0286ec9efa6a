"""Staff accounts for admins: the list, adding an account (with a password typed or made up
here, hashed with argon2 by gateway/accounts.py), changing a role, switching an account off
and on, and resetting a password to a temporary one (gateway/staff_passwords.py). The rules
(no admin removes their own admin role or switches themselves off) are gateway/accounts.py's;
a refusal is shown as it is worded there. Each change is audited."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session
from wtforms import EmailField, PasswordField, RadioField, StringField
from wtforms.validators import InputRequired, Optional

from admin_ui import web
from admin_ui.access import ADMINS, require_role
from admin_ui.forms import WebForm, choices
from gateway.services import accounts, staff_passwords
from gateway.services.accounts import AccountError
from gateway.store import web_queries
from routing.audit import AuditAction
from routing.enums import Role
from routing.models import StaffUser

bp = Blueprint("users", __name__, url_prefix="/users")

ROLES = [
    (Role.AGENT.value, "Agent: caller lookup and call flags"),
    (Role.MANAGER.value, "Manager: customers, alerts, proposing restrictions"),
    (Role.APPROVER.value, "Approver: also approves, varies, lifts and reviews restrictions"),
    (
        Role.SENIOR_APPROVER.value,
        "Senior approver: an approver who may also approve the stages that need a senior one",
    ),
    (Role.ADMIN.value, "Admin: staff accounts, API tokens, the audit log"),
    (Role.IG.value, "Information governance: subject access, correcting and erasing records"),
]
PASSWORD_CHOICES = [
    ("generate", "Make one up for me (shown once, on the next page)"),
    ("enter", "I will type one (at least 12 characters)"),
]


class AddStaffForm(WebForm):
    email = EmailField("Email address", validators=[InputRequired("Enter the email address")])
    display_name = StringField("Name", validators=[Optional()], description="As others see it")
    role = RadioField("Role", choices=choices(ROLES), validators=[InputRequired("Choose a role")])
    password_choice = RadioField("Password", choices=choices(PASSWORD_CHOICES), default="generate")
    password = PasswordField(
        "The password", validators=[Optional()], description="Only if you chose to type one"
    )

    def chosen_password(self) -> str | None:
        """The password to set (made up here when asked); None with a problem shown."""
        if self.password_choice.data != "enter":
            return accounts.generate_password()
        if not self.password.data:
            self.add_problem("password", "Enter the password, or choose to have one made up")
            return None
        return self.password.data


class RoleForm(WebForm):
    role = RadioField("New role", choices=choices(ROLES), validators=[InputRequired()])


@bp.get("")
@require_role(ADMINS)
def index() -> ResponseReturnValue:
    with web.unit_of_work() as session:
        users = web_queries.staff_accounts(session)
        # Colleagues' names and addresses: the look is audited (the list has no filter).
        session.add(web.list_viewed(AuditAction.USERS_LISTED, "users", shown=len(users)))
    return render_template("users/index.html", users=users, roles=ROLES)


@bp.route("/new", methods=["GET", "POST"])
@require_role(ADMINS)
def new() -> ResponseReturnValue:
    form = AddStaffForm()
    if form.validate_on_submit():
        password = form.chosen_password()
        if password is not None:
            created = _add(form, password)
            if created is not None:
                # Shown on this response only: the password is stored nowhere but as its hash.
                shown = password if form.password_choice.data != "enter" else None
                return render_template("users/created.html", email=created, password=shown)
    status = 400 if form.error_list() else 200
    return render_template("users/new.html", form=form), status


def _add(form: AddStaffForm, password: str) -> str | None:
    try:
        with web.unit_of_work() as session:
            user = accounts.add_user(
                session,
                email=form.email.data or "",
                role=Role(form.role.data),
                password=password,
                actor=g.staff.email,
                now=web.now(),
                display_name=(form.display_name.data or "").strip() or None,
                # The admin knows this password: its owner chooses their own at first use.
                must_change_password=True,
            )
            return user.email
    except AccountError as refused:
        form.add_problem("password" if "password" in str(refused) else "email", str(refused))
        return None


@bp.post("/<int:user_id>/role")
@require_role(ADMINS)
def change_role(user_id: int) -> ResponseReturnValue:
    form = RoleForm()
    if not form.validate_on_submit():
        flash("Choose the new role.", "error")
        return redirect(url_for("users.index"))
    return _change(
        user_id,
        lambda session: accounts.change_role(
            session, user_id=user_id, role=Role(form.role.data), **_acting()
        ),
        "{email} is now {role}.",
    )


@bp.post("/<int:user_id>/deactivate")
@require_role(ADMINS)
def deactivate(user_id: int) -> ResponseReturnValue:
    return _change(
        user_id,
        lambda session: accounts.set_active(session, user_id=user_id, active=False, **_acting()),
        "{email} is deactivated: signed out now, and cannot sign in.",
    )


@bp.post("/<int:user_id>/reactivate")
@require_role(ADMINS)
def reactivate(user_id: int) -> ResponseReturnValue:
    return _change(
        user_id,
        lambda session: accounts.set_active(session, user_id=user_id, active=True, **_acting()),
        "{email} can sign in again.",
    )


@bp.route("/<int:user_id>/password", methods=["GET", "POST"])
@require_role(ADMINS)
def reset_password(user_id: int) -> ResponseReturnValue:
    """Ask first (GET), then give the account a temporary password, shown on this response
    only; its owner must choose a new one at their next sign-in."""
    if user_id == g.staff.id:
        return redirect(url_for("account.change_password"))
    if request.method == "GET":
        return _confirm_reset(user_id)
    try:
        with web.unit_of_work() as session:
            reset = staff_passwords.reset_password(session, user_id=user_id, **_acting())
    except AccountError as refused:
        flash(str(refused).capitalize() + ".", "error")
        return redirect(url_for("users.index"))
    return render_template("users/password_reset.html", reset=reset)


def _confirm_reset(user_id: int) -> ResponseReturnValue:
    with web.unit_of_work() as session:
        user = web_queries.staff_account(session, user_id)
        if user is None:
            abort(404)
        email = user.email
    return render_template("users/reset_password.html", user_id=user_id, email=email)


def _acting() -> dict[str, object]:
    return {"actor": g.staff.email, "actor_id": g.staff.id, "now": web.now()}


def _change(user_id: int, change: Callable[[Session], StaffUser], done: str) -> ResponseReturnValue:
    try:
        with web.unit_of_work() as session:
            user = change(session)
            message = done.format(email=user.email, role=user.role.value)
    except AccountError as refused:
        flash(str(refused).capitalize() + ".", "error")
    else:
        flash(message, "success")
    return redirect(url_for("users.index") + f"#user-{user_id}")
