"""API tokens for admins: the list (name, scopes, prefix, when made and last used; never the
hash), making one (the token is shown once, on the page that follows) and revoking one (it
is refused everywhere within the API's few seconds of caching). gateway/accounts.py does
the work and the auditing, as for `ccr token add|revoke`."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from wtforms import SelectMultipleField, StringField
from wtforms.validators import InputRequired, Length

from admin_ui import web
from admin_ui.access import ADMINS, require_role
from admin_ui.api.tokens import DEFAULT_CACHE_SECONDS
from admin_ui.forms import WebForm, choices
from gateway.services import accounts
from gateway.services.accounts import AccountError
from gateway.store import web_queries
from routing.audit import AuditAction

bp = Blueprint("tokens", __name__, url_prefix="/api-tokens")

SCOPE_WORDS = {
    "lookup": "the live caller lookup (screen pop)",
    "calls": "report calls and upload call logs",
}
SCOPES = [(s, f"{s}: {SCOPE_WORDS.get(s, s)}") for s in sorted(accounts.TOKEN_SCOPES)]


class TokenForm(WebForm):
    name = StringField(
        "Name",
        validators=[InputRequired("Enter a name for the token"), Length(max=100)],
        description="The integration that will use it, for example contact-centre-screen-pop",
    )
    scopes = SelectMultipleField(
        "What it may do",
        choices=choices(SCOPES),
        validators=[InputRequired("Choose at least one thing the token may do")],
    )


@bp.get("")
@require_role(ADMINS)
def index() -> ResponseReturnValue:
    with web.unit_of_work() as session:
        tokens = web_queries.api_tokens(session)
        # Which integrations hold which powers: the look is audited (the list has no filter).
        session.add(web.list_viewed(AuditAction.TOKENS_LISTED, "tokens", shown=len(tokens)))
    return render_template("tokens/index.html", tokens=tokens)


@bp.route("/new", methods=["GET", "POST"])
@require_role(ADMINS)
def new() -> ResponseReturnValue:
    form = TokenForm()
    if form.validate_on_submit():
        try:
            with web.unit_of_work() as session:
                secret = accounts.add_token(
                    session,
                    name=(form.name.data or "").strip(),
                    scopes=list(form.scopes.data or []),
                    actor=g.staff.email,
                    now=web.now(),
                )
        except AccountError as refused:
            form.add_problem("name", str(refused).capitalize())
        else:
            # This response is the only place the token ever appears (no-store, like every page).
            return render_template("tokens/created.html", name=form.name.data, secret=secret)
    status = 400 if form.error_list() else 200
    return render_template("tokens/new.html", form=form), status


@bp.post("/<int:token_id>/revoke")
@require_role(ADMINS)
def revoke(token_id: int) -> ResponseReturnValue:
    try:
        with web.unit_of_work() as session:
            name = web_queries.api_token_name(session, token_id) or abort(404)
            accounts.revoke_token(session, name=name, actor=g.staff.email, now=web.now())
    except AccountError as refused:
        flash(str(refused).capitalize() + ".", "error")
    else:
        flash(
            f"The token {name} is revoked: refused everywhere within "
            f"{DEFAULT_CACHE_SECONDS:g} seconds.",
            "success",
        )
    return redirect(url_for("tokens.index"))
