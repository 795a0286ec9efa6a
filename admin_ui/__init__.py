"""The staff web application and JSON API (Flask app factory)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask

from gateway.runtime import Runtime, runtime


def create_app(test_config: dict[str, Any] | None = None, runtime: Runtime | None = None) -> Flask:
    """Build the Flask app around a runtime (the process's own when none is given)."""
    app = Flask(__name__)
    rt = runtime or _process_runtime()
    # rt.secret is CCR_SECRET_KEY, or the installation's own key file in embedded mode.
    app.config.from_mapping(SECRET_KEY=rt.secret, CCR_RUNTIME=rt)
    if test_config:
        app.config.from_mapping(test_config)

    # api.calls attaches its views to the API blueprint, so it is imported before init_app.
    from admin_ui import access, auth, health, security, templating
    from admin_ui.api import calls, v1  # noqa: F401

    security.init_app(app)
    access.init_app(app)
    auth.init_app(app)
    templating.init_app(app)
    app.register_blueprint(health.bp)
    for blueprint in page_blueprints():
        app.register_blueprint(blueprint)
    v1.init_app(app, rt)
    return app


def page_blueprints() -> list[Blueprint]:
    """The staff pages, one blueprint per concern. A new page area is added here; its views
    use access.require_role and its templates extend base.html."""
    from admin_ui import (
        alert_pages,
        api_tokens_pages,
        audit_log,
        call_flags,
        customers,
        dashboard,
        import_pages,
        letters,
        mail_log,
        passwords,
        restrictions,
        retention,
        rights,
        service_pages,
        spoc_queue,
        staff_accounts,
    )

    return [
        dashboard.bp,
        customers.bp,
        restrictions.bp,
        letters.bp,
        alert_pages.bp,
        spoc_queue.bp,
        call_flags.bp,
        mail_log.bp,
        audit_log.bp,
        staff_accounts.bp,
        api_tokens_pages.bp,
        retention.bp,
        rights.bp,
        service_pages.bp,
        import_pages.bp,
        passwords.bp,
    ]


def _process_runtime() -> Runtime:
    return runtime()
