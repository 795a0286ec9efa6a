"""Protections every response gets: CSRF checks on every form, security headers, and error
pages that give nothing away (JSON under the API, HTML for staff pages)."""

from __future__ import annotations

import logging
import traceback
from types import TracebackType

from flask import Flask, Response, abort, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from admin_ui.api.v1 import API_PREFIX, http_error_response, with_error_headers
from admin_ui.api.v1 import bp as api_bp

csrf = CSRFProtect()

# Only this site's own files: no inline script or style, no CDN, no framing by anyone.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
# A year, once staff reach the site over HTTPS only (web_secure_cookies).
log = logging.getLogger(__name__)

STRICT_TRANSPORT_SECURITY = "max-age=31536000"

ERROR_PAGES = {
    400: ("Something was wrong with that request", "Go back and try again."),
    403: (
        "You cannot use this page",
        "Your role does not include this page. Ask an administrator if you need it.",
    ),
    404: ("Page not found", "Check the address, or start again from the dashboard."),
    405: ("Page not found", "Check the address, or start again from the dashboard."),
    500: ("Sorry, something went wrong", "Nothing was changed. Try again in a few minutes."),
}


def init_app(app: Flask) -> None:
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # the session's own limits apply
    csrf.init_app(app)
    # Integrations authenticate each call with a bearer token, not a cookie: no CSRF there.
    csrf.exempt(api_bp)
    settings = app.config["CCR_RUNTIME"].settings
    _trust_proxies(app, settings.web_trusted_proxies)
    app.before_request(_refuse_what_no_one_types)
    app.after_request(_with_security_headers(settings.web_secure_cookies))
    app.register_error_handler(CSRFError, _csrf_refused)
    for code in ERROR_PAGES:
        app.register_error_handler(code, _error_page)
    # Flask logs a page's unhandled exception with its message, and a driver's message can
    # quote the data it was given (a unique violation's DETAIL names the address).
    app.log_exception = _log_failure_without_data  # type: ignore[method-assign]


def _refuse_what_no_one_types() -> None:
    """400 for a request no form or integration sends: a NUL in a query or form field, or
    JSON nested too deep to read. PostgreSQL cannot store a NUL (the request would fail as a
    500), SQLite's LIKE stops reading at one (a search would match every customer), and
    reading deep JSON exhausts the stack."""
    if _holds_nul(request.args) or (_is_staff_form() and _holds_nul(request.form)):
        abort(400, "a field holds a NUL character")
    if request.is_json:
        try:
            request.get_json(silent=True)  # kept for the view: Flask caches what it read
        except RecursionError:
            abort(400, "the JSON is nested too deeply")


def _is_staff_form() -> bool:
    # The API takes JSON and raw uploads (curl labels a file form-encoded): reading its body
    # as a form would consume the upload before its view.
    return request.method == "POST" and not _is_api_request()


def _holds_nul(fields: MultiDict[str, str]) -> bool:
    return any("\x00" in key or "\x00" in value for key, value in fields.items(multi=True))


def _log_failure_without_data(
    exc_info: tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None],
) -> None:
    """Where a page failed and the kind of failure, with the code path to it, never the
    exception's message (the staff see "Sorry, something went wrong")."""
    kind, _message, trace = exc_info
    code_path = "".join(traceback.format_tb(trace)) if trace else ""
    name = kind.__name__ if kind else "unknown"
    log.error("page %s failed: %s\n%s", request.endpoint, name, code_path.rstrip())


def _trust_proxies(app: Flask, hops: int) -> None:
    """Behind `hops` reverse proxies, take the client's address and scheme from the headers
    they add, so audit entries and sign-in records name the staff member's address, not the
    proxy's, and a TLS-terminating proxy's requests count as HTTPS. Without proxies the
    headers are left alone: anyone can send X-Forwarded-For."""
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]


def _with_security_headers(secure: bool):
    def add(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if secure:
            response.headers.setdefault("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY)
        # Staff pages hold personal data: no browser or proxy may keep a copy.
        if request.endpoint != "static":
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    return add


def _is_api_request() -> bool:
    return request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/")


def _error_page(exc: HTTPException) -> ResponseReturnValue:
    code = exc.code or 500
    if _is_api_request():
        return http_error_response(exc)
    title, advice = ERROR_PAGES.get(code, ERROR_PAGES[500])
    page = Response(render_template("errors/error.html", title=title, advice=advice), code)
    return with_error_headers(page, exc)


def _csrf_refused(exc: CSRFError) -> ResponseReturnValue:
    title = "This form has expired"
    advice = "Nothing was changed. Go back, reload the page and try again."
    return render_template("errors/error.html", title=title, advice=advice), 400
