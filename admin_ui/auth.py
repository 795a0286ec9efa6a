"""Signing staff in and out, and knowing on every request who is signed in.

The session is Flask's signed cookie (HttpOnly, SameSite=Lax, Secure with
web_secure_cookies). It holds only the account id, the account's session generation at
sign-in and two times. The account is read again on every request (one primary-key read), so
switching an account off applies at once, and a session whose generation is no longer the
account's is treated as signed out: that is how signing out, a new password, a role change
or deactivation ends a cookie that may have been copied. A session ends after
web_session_idle_minutes without a request and after web_session_hours in any case.

An account given a temporary password by an admin may use only the change-password page
(and sign out) until it has chosen its own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Blueprint, Flask, flash, g, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from wtforms import EmailField, PasswordField
from wtforms.validators import InputRequired

from admin_ui import web
from admin_ui.access import ANY_STAFF, public, require_role
from admin_ui.forms import WebForm
from gateway.services import staff_sign_in
from routing.enums import Role

bp = Blueprint("auth", __name__)

# Shown for every failed sign-in, whatever the reason, so the page reveals no accounts.
SIGN_IN_REFUSED = (
    "The email address or password is not right, or the account is locked after repeated "
    "failed attempts. Check them and try again in a few minutes."
)
_SESSION_KEYS = ("staff_id", "generation", "signed_in_at", "seen_at")
CHANGE_PASSWORD_ENDPOINT = "account.change_password"
# What an account that must choose a new password may still reach. (Static files and the API
# never have a signed-in member of staff: _load_signed_in skips them.)
_BEFORE_NEW_PASSWORD = frozenset({CHANGE_PASSWORD_ENDPOINT, "auth.sign_out"})


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The member of staff behind this request (a copy: no database session attached)."""

    id: int
    email: str
    display_name: str | None
    role: Role
    must_change_password: bool = False

    @property
    def name(self) -> str:
        return self.display_name or self.email


class SignInForm(WebForm):
    email = EmailField("Email address", validators=[InputRequired("Enter your email address")])
    password = PasswordField("Password", validators=[InputRequired("Enter your password")])


def init_app(app: Flask) -> None:
    settings = app.config["CCR_RUNTIME"].settings
    app.config.update(
        SESSION_COOKIE_NAME="ccr_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.web_secure_cookies,
    )
    # In this order: who is signed in, then whether they must choose a new password first.
    app.before_request(_load_signed_in)
    app.before_request(_insist_on_new_password)
    app.register_blueprint(bp)


def _load_signed_in() -> None:
    g.staff = None
    staff_id = session.get("staff_id")
    # Static files need nobody; the API authenticates each call by its bearer token.
    if staff_id is None or request.endpoint == "static" or request.blueprint == "api":
        return
    if _expired():
        _forget()
        return
    with web.runtime().uow() as db:
        # A session from before generations were recorded has none, and is signed out.
        user = staff_sign_in.signed_in_user(db, staff_id, session.get("generation"))
        if user is None:
            _forget()
            return
        g.staff = SignedIn(
            user.id, user.email, user.display_name, user.role, user.must_change_password
        )
    session["seen_at"] = time.time()


def _insist_on_new_password() -> ResponseReturnValue | None:
    staff = g.get("staff")
    if staff is None or not staff.must_change_password:
        return None
    if request.endpoint in _BEFORE_NEW_PASSWORD:
        return None
    return redirect(url_for(CHANGE_PASSWORD_ENDPOINT))


def renew_session(generation: int) -> None:
    """Keep this session after the account's sessions were ended by its own password change."""
    session["generation"] = generation


def _expired() -> bool:
    settings = web.runtime().settings
    moment = time.time()
    idle = moment - session.get("seen_at", 0)
    age = moment - session.get("signed_in_at", 0)
    return idle > settings.web_session_idle_minutes * 60 or age > settings.web_session_hours * 3600


def _forget() -> None:
    for key in _SESSION_KEYS:
        session.pop(key, None)


@bp.route("/sign-in", methods=["GET", "POST"])
@public
def sign_in() -> ResponseReturnValue:
    """The sign-in page; on success, back to the page asked for (or the dashboard)."""
    if g.staff is not None:
        return redirect(_next_page())
    form = SignInForm()
    refused = False
    if form.validate_on_submit():
        signed_in = _attempt(form.email.data or "", form.password.data or "")
        if signed_in is not None:
            _start_session(*signed_in)
            return redirect(_next_page())
        refused = True
    status = 400 if request.method == "POST" else 200
    return render_template(
        "auth/sign_in.html", form=form, refused=refused, sign_in_refused=SIGN_IN_REFUSED
    ), status


def _attempt(email: str, password: str) -> tuple[int, int] | None:
    """(account id, session generation) on success."""
    rt = web.runtime()
    with web.unit_of_work() as db:
        result = staff_sign_in.attempt_sign_in(
            db,
            email,
            password,
            now=web.now(),
            source=web.request_source(),
            lockout_after=rt.settings.web_lockout_after,
        )
        return (result.user.id, result.user.session_generation) if result.user else None


def _start_session(user_id: int, generation: int) -> None:
    # A fresh session: nothing from before signing in (an attacker's planted cookie
    # included) survives into the signed-in one.
    session.clear()
    moment = time.time()
    session.update(staff_id=user_id, generation=generation, signed_in_at=moment, seen_at=moment)


def _next_page() -> str:
    wanted = request.args.get("next", "")
    # Only a path on this site: never a redirect to somewhere else. Browsers read "/\host"
    # as "//host" and drop tabs and newlines, so a path with a backslash or a control
    # character is refused rather than cleaned.
    unsafe = "\\" in wanted or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in wanted)
    on_this_site = wanted.startswith("/") and not wanted.startswith("//")
    if on_this_site and not unsafe and not urlsplit(wanted).netloc:
        return wanted
    return url_for("dashboard.index")


@bp.post("/sign-out")
@require_role(ANY_STAFF)
def sign_out() -> ResponseReturnValue:
    with web.unit_of_work() as db:
        staff_sign_in.sign_out(db, g.staff.id, g.staff.email, web.now(), web.request_source())
    session.clear()
    flash("You have signed out.", "success")
    return redirect(url_for("auth.sign_in"))
