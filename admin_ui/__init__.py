"""The staff web application and JSON API (Flask app factory)."""

from __future__ import annotations

from typing import Any

from flask import Flask

from gateway.bootstrap import Runtime, runtime


def create_app(test_config: dict[str, Any] | None = None, runtime: Runtime | None = None) -> Flask:
    """Build the Flask app around a runtime (the process's own when none is given)."""
    app = Flask(__name__)
    rt = runtime or _process_runtime()
    app.config.from_mapping(SECRET_KEY=rt.settings.secret_key, CCR_RUNTIME=rt)
    if test_config:
        app.config.from_mapping(test_config)

    from admin_ui import health

    app.register_blueprint(health.bp)
    return app


def _process_runtime() -> Runtime:
    return runtime()
