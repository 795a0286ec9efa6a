"""The JSON API under /api/v1/: bearer tokens with scopes, the live caller lookup, and the
OpenAPI document that describes them (docs/api.md has the integrator's guide).

Every endpoint but the OpenAPI document needs `Authorization: Bearer <token>` with the
endpoint's scope (`ccr token add NAME --scope SCOPE`): no, unknown or revoked token: 401
with `WWW-Authenticate`; a token without the scope: 403. Every error is JSON,
`{"error": code, "message": text}`.

Contact-centre platforms call the lookup with a timeout of a few seconds and fall back to
a default when it fails. So the lookup answers from the in-memory register snapshot (the
database is touched only to write the audit entry of an answer that reveals a
restriction), and whatever goes wrong is a 5xx that means "unknown: follow normal
handling", never a guess.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from admin_ui.api.openapi import openapi_document
from admin_ui.api.tokens import DEFAULT_CACHE_SECONDS, TokenHolder, TokenVerifier, bearer_secret
from admin_ui.health import register_is_stale
from gateway.runtime import Runtime
from gateway.services.accounts import SCOPE_CALLS, SCOPE_LOOKUP
from gateway.services.lookup_service import GroupCommitAudit, lookup_now
from routing.enums import IdentityKind
from routing.lookup import answer_fields

__all__ = [
    "API_PREFIX",
    "SCOPE_CALLS",
    "SCOPE_LOOKUP",
    "bp",
    "current_token",
    "error_response",
    "http_error_response",
    "require_scope",
    "with_error_headers",
]

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
REALM = "ccr-gateway"
# No real address or number is this long; refusing early bounds the work per request.
MAX_QUERY_LENGTH = 512
FALLBACK = "treat the caller as unknown: follow normal handling"

bp = Blueprint("api", __name__, url_prefix=API_PREFIX)

View = TypeVar("View", bound=Callable[..., ResponseReturnValue])


def init_app(app: Flask, rt: Runtime) -> None:
    """Register the API on the app, with its token verifier and lookup audit writer.

    Views are attached to `bp` at import time; a module that adds endpoints (the calls API)
    must be imported before the first app is created.
    """
    app.extensions["ccr_tokens"] = TokenVerifier(
        rt.session_factory,
        cache_seconds=app.config.get("CCR_TOKEN_CACHE_SECONDS", DEFAULT_CACHE_SECONDS),
    )
    # Restricted answers arriving together share one audit transaction.
    app.extensions["ccr_lookup_audit"] = GroupCommitAudit(rt.engine)
    app.register_blueprint(bp)


# --- authentication -----------------------------------------------------------------------


def require_scope(scope: str) -> Callable[[View], View]:
    """Decorate a view so it runs only for a live bearer token that carries `scope`.

    The token is then available to the view as `current_token()` (for the audit log's actor).
    """

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> ResponseReturnValue:
            secret = bearer_secret(request.headers.get("Authorization"))
            if secret is None:
                return _unauthorized("send the API token as 'Authorization: Bearer <token>'")
            holder = current_app.extensions["ccr_tokens"].verify(secret)
            if holder is None:
                return _unauthorized("the token is unknown or revoked", invalid=True)
            if not holder.allows(scope):
                return _forbidden(scope)
            g.ccr_token = holder
            return view(*args, **kwargs)

        guarded.required_scope = scope  # type: ignore[attr-defined]
        return guarded  # type: ignore[return-value]

    return decorate


def current_token() -> TokenHolder:
    """The integration the current request is made for (inside a `require_scope` view)."""
    return g.ccr_token


def _unauthorized(message: str, *, invalid: bool = False) -> Response:
    # RFC 6750: no error code when no credentials were sent; invalid_token when they were.
    challenge = f'Bearer realm="{REALM}"'
    if invalid:
        challenge += f', error="invalid_token", error_description="{message}"'
    response = error_response(401, "invalid_token" if invalid else "unauthorized", message)
    response.headers["WWW-Authenticate"] = challenge
    return response


def _forbidden(scope: str) -> Response:
    response = error_response(
        403, "insufficient_scope", f"this token does not have the {scope!r} scope"
    )
    response.headers["WWW-Authenticate"] = (
        f'Bearer realm="{REALM}", error="insufficient_scope", scope="{scope}"'
    )
    return response


def error_response(status: int, code: str, message: str) -> Response:
    """The API's one error shape, `{"error": code, "message": text}`, never cached."""
    response = jsonify(error=code, message=message)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


# --- endpoints ----------------------------------------------------------------------------


@bp.get("/lookup")
@require_scope(SCOPE_LOOKUP)
def lookup() -> ResponseReturnValue:
    """What applies now to one phone number or email address (the screen-pop lookup)."""
    query = _lookup_query(request.args)
    if isinstance(query, Response):
        return query
    kind, raw = query
    rt: Runtime = current_app.config["CCR_RUNTIME"]
    rt.register.snapshot()  # loads the register on a process's first lookup
    if register_is_stale(rt):
        return _unavailable("the register could not be refreshed recently")
    clock = current_app.config.get("CCR_CLOCK")
    answer = lookup_now(
        rt,
        raw,
        kind=kind,
        actor=current_token().actor,
        source="api",
        now=clock() if clock else None,
        audit=current_app.extensions["ccr_lookup_audit"],
    )
    response = jsonify(answer_fields(answer, rt.timezone))
    # Personal data, and only true at this moment: no cache may keep it.
    response.headers["Cache-Control"] = "no-store"
    return response


def _lookup_query(args: MultiDict[str, str]) -> tuple[IdentityKind, str] | Response:
    """The one phone number or email address asked about, or a 400 saying what is wrong."""
    given = [
        (kind, value)
        for kind, name in ((IdentityKind.PHONE, "phone"), (IdentityKind.EMAIL, "email"))
        for value in args.getlist(name)
    ]
    if len(given) != 1:
        return error_response(
            400,
            "bad_request",
            "give exactly one query parameter: phone=NUMBER or email=ADDRESS",
        )
    kind, raw = given[0]
    if len(raw) > MAX_QUERY_LENGTH:
        return error_response(
            400, "bad_request", f"{kind} is longer than {MAX_QUERY_LENGTH} characters"
        )
    # An empty phone= is what a platform sends for a caller with no number: withheld.
    return kind, raw


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    """The OpenAPI 3.1 description of this API (public: it holds no data)."""
    return jsonify(openapi_document())


# --- errors -------------------------------------------------------------------------------


def _unavailable(reason: str) -> Response:
    response = error_response(503, "unavailable", f"{reason}; {FALLBACK}")
    response.headers["Retry-After"] = "5"
    return response


def http_error_response(exc: HTTPException) -> Response:
    """An HTTP error in the API's JSON shape, with the headers the error carries."""
    response = error_response(exc.code or 500, _code_name(exc), exc.description or exc.name)
    return with_error_headers(response, exc)


def with_error_headers(response: Response, exc: HTTPException) -> Response:
    """Keep the headers an error carries: a 405 must name the methods allowed (RFC 9110
    15.5.6), which werkzeug puts in Allow."""
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> ResponseReturnValue:
    return http_error_response(exc)


@bp.app_errorhandler(HTTPException)
def _http_error_anywhere(exc: HTTPException) -> ResponseReturnValue:
    # Unknown paths and wrong methods under /api/ get JSON too; staff pages keep HTML.
    if request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/"):
        return _http_error(exc)
    return exc


@bp.errorhandler(Exception)
def _unexpected(exc: Exception) -> ResponseReturnValue:
    # Only the kind of failure is logged: a driver's message can quote the data it was given.
    log.error("API %s failed: %s", request.endpoint, type(exc).__name__)
    if isinstance(exc, SQLAlchemyError | TimeoutError):
        return _unavailable("the database is not answering")
    return error_response(500, "internal_error", f"the request failed; {FALLBACK}")


def _code_name(exc: HTTPException) -> str:
    return (exc.name or "error").lower().replace(" ", "_")
