"""Who may use which page, checked on the server for every request.

Every staff page and action is decorated with `require_role(...)` (or `public`). The decorator
records the roles on the view function, so the app itself can say who may use each route:
the navigation shows only what the signed-in role may use, templates ask `may(endpoint)`
before offering a button, and the tests enumerate `app.url_map` to check every route.

A route with no access rule is refused (default deny), so a page added without the
decorator fails closed and shows up in the route tests.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from flask import Flask, abort, current_app, g, redirect, request, url_for
from flask.typing import ResponseReturnValue

from routing.enums import Role

# The named groups of roles, so each view says which kind of work it belongs to. They are
# defined once, in routing.roles, which the lifecycle and the services read as well; the
# views take them from here beside require_role.
from routing.roles import ADMINS as ADMINS
from routing.roles import ANY_STAFF as ANY_STAFF
from routing.roles import APPROVERS as APPROVERS
from routing.roles import CALL_FLAG_READERS as CALL_FLAG_READERS
from routing.roles import CALLER_LOOKUP as CALLER_LOOKUP
from routing.roles import CASEWORKERS as CASEWORKERS
from routing.roles import MAIL_READERS as MAIL_READERS
from routing.roles import SERVICE_KEEPERS as SERVICE_KEEPERS
from routing.roles import SERVICE_READERS as SERVICE_READERS
from routing.roles import SPOC_HANDLERS as SPOC_HANDLERS

log = logging.getLogger(__name__)

View = TypeVar("View", bound=Callable[..., ResponseReturnValue])

# Endpoints open without signing in that this module does not decorate: static files and
# the API's own OpenAPI document. (API endpoints carry `required_scope` from api.require_scope.)
PUBLIC_ENDPOINTS = frozenset({"static", "api.openapi"})
SIGN_IN_ENDPOINT = "auth.sign_in"


def require_role(*roles: Role | Iterable[Role]) -> Callable[[View], View]:
    """Let only signed-in staff with one of `roles` use the view (groups above may be given).

    Not signed in: a redirect to the sign-in page (which comes back here afterwards).
    Signed in with another role: 403. Put it directly under the route decorator.
    """
    allowed = _flatten(roles)

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> ResponseReturnValue:
            staff = g.get("staff")
            if staff is None:
                return redirect(url_for(SIGN_IN_ENDPOINT, next=_came_from()))
            if staff.role not in allowed:
                abort(403)
            return view(*args, **kwargs)

        guarded.allowed_roles = allowed  # type: ignore[attr-defined]
        return guarded  # type: ignore[return-value]

    return decorate


def public(view: View) -> View:
    """Mark a view as open to anyone (sign-in page, health check, status page)."""
    view.public = True  # type: ignore[attr-defined]
    return view


def _flatten(roles: tuple[Role | Iterable[Role], ...]) -> frozenset[Role]:
    flat: set[Role] = set()
    for item in roles:
        flat.update([item] if isinstance(item, Role) else item)
    if not flat:
        raise ValueError("require_role needs at least one role")
    return frozenset(flat)


def _came_from() -> str | None:
    # Only a GET is worth coming back to; a form post is lost with the session anyway.
    return request.full_path.rstrip("?") if request.method == "GET" else None


# --- reading the rules back ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RouteAccess:
    """How one endpoint is protected: a staff page, the bearer-token API, public, or nothing."""

    endpoint: str
    kind: Literal["staff", "api", "public", "unguarded"]
    roles: frozenset[Role] = frozenset()
    scope: str | None = None


def route_access(app: Flask, endpoint: str) -> RouteAccess:
    """The access rule of an endpoint, read from its view function."""
    view = app.view_functions[endpoint]
    roles = getattr(view, "allowed_roles", None)
    if roles is not None:
        return RouteAccess(endpoint, "staff", roles)
    scope = getattr(view, "required_scope", None)
    if scope is not None:
        return RouteAccess(endpoint, "api", scope=scope)
    if getattr(view, "public", False) or endpoint in PUBLIC_ENDPOINTS:
        return RouteAccess(endpoint, "public")
    return RouteAccess(endpoint, "unguarded")


def may(endpoint: str) -> bool:
    """Whether the signed-in staff member may use `endpoint` (False if it does not exist)."""
    staff = g.get("staff")
    if staff is None or endpoint not in current_app.view_functions:
        return False
    rule = route_access(current_app, endpoint)
    return rule.kind == "public" or (rule.kind == "staff" and staff.role in rule.roles)


def init_app(app: Flask) -> None:
    """Refuse any route without an access rule, and let templates ask `may(...)`."""
    app.before_request(_refuse_unguarded)
    app.jinja_env.globals["may"] = may


def _refuse_unguarded() -> ResponseReturnValue | None:
    endpoint = request.endpoint
    if endpoint is None:
        return None  # no route: the 404 follows
    if route_access(current_app, endpoint).kind == "unguarded":
        log.error("refused %s: the route has no access rule (use require_role)", endpoint)
        abort(403)
    return None
