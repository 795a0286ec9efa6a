"""Changing your own password, for every role; also where an account with a temporary
password from an admin is sent until it has chosen its own (admin_ui/auth.py sees to that).

The rules are gateway/staff_passwords.py's. The change ends the account's other sessions;
the one that made it carries on with the new session generation."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from wtforms import PasswordField
from wtforms.validators import InputRequired

from admin_ui import auth, web
from admin_ui.access import ANY_STAFF, require_role
from admin_ui.forms import WebForm
from gateway.services import staff_passwords
from gateway.services.accounts import MIN_PASSWORD_LENGTH, password_problem
from gateway.services.staff_passwords import PasswordChange

bp = Blueprint("account", __name__, url_prefix="/account")


class ChangePasswordForm(WebForm):
    current_password = PasswordField(
        "Current password", validators=[InputRequired("Enter your current password")]
    )
    new_password = PasswordField(
        "New password",
        validators=[InputRequired("Enter a new password")],
        description=f"At least {MIN_PASSWORD_LENGTH} characters. A few unrelated words make a "
        "good one.",
    )
    confirm_password = PasswordField(
        "New password again", validators=[InputRequired("Enter the new password again")]
    )

    def new_password_problems(self) -> bool:
        """Show what is wrong with the new password as typed; True if anything is."""
        new = self.new_password.data or ""
        problem = password_problem(new)
        if problem is None and new == self.current_password.data:
            problem = staff_passwords.SAME_AS_CURRENT
        if problem:
            self.add_problem("new_password", problem.capitalize())
        elif new != self.confirm_password.data:
            self.add_problem("confirm_password", "Enter the same new password twice")
        return bool(self.new_password.errors or self.confirm_password.errors)


@bp.route("/password", methods=["GET", "POST"])
@require_role(ANY_STAFF)
def change_password() -> ResponseReturnValue:
    """The change-password page; on success, on to the dashboard with this session kept."""
    form = ChangePasswordForm()
    forced = g.staff.must_change_password
    if forced:
        form.current_password.description = "The temporary password you were given"
    if form.validate_on_submit() and not form.new_password_problems():
        outcome = _change(form)
        if outcome.generation is not None:
            auth.renew_session(outcome.generation)
            flash("Your password is changed. Any other session of yours is signed out.", "success")
            return redirect(url_for("dashboard.index"))
        form.add_problem("current_password", outcome.refused or staff_passwords.WRONG_CURRENT)
    status = 400 if form.error_list() else 200
    return render_template("account/change_password.html", form=form, forced=forced), status


def _change(form: ChangePasswordForm) -> PasswordChange:
    with web.unit_of_work() as session:
        return staff_passwords.change_own_password(
            session,
            user_id=g.staff.id,
            current=form.current_password.data or "",
            new=form.new_password.data or "",
            now=web.now(),
            lockout_after=web.runtime().settings.web_lockout_after,
        )
