"""Liveness and status for the IT team and for container health checks (no personal data)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, render_template_string
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from gateway import repository
from gateway.bootstrap import Runtime

bp = Blueprint("health", __name__)
STALE_AFTER_REFRESHES = 10

STATUS_PAGE = """<!doctype html>
<html lang="en-GB">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>ccr-gateway status</title></head>
<body>
<main>
<h1>ccr-gateway</h1>
<p>The service is running.</p>
<dl>
  <dt>Register version</dt><dd>{{ version }}</dd>
  <dt>Restrictions in force</dt><dd>{{ restrictions }}</dd>
  <dt>Background jobs</dt><dd>{{ jobs }}</dd>
</dl>
<p>The staff pages (sign-in, register, alerts, audit) are not in this release yet.</p>
</main>
</body>
</html>"""


def _rt() -> Runtime:
    return current_app.config["CCR_RUNTIME"]


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """200 when the database answers and the register is fresh; 503 otherwise."""
    rt = _rt()
    try:
        with rt.session_factory() as session:
            session.execute(text("SELECT 1"))
        rt.register.snapshot()
    except Exception:
        return jsonify(status="unavailable", database="unreachable"), 503
    age = round(rt.register.age_seconds, 1)
    # Decisions go on with the last register known; say so once it is clearly out of date.
    if age > STALE_AFTER_REFRESHES * rt.settings.register_refresh_seconds:
        return jsonify(status="unavailable", register_age_seconds=age), 503
    return jsonify(status="ok", register_age_seconds=age)


@bp.get("/")
def status() -> ResponseReturnValue:
    rt = _rt()
    with rt.session_factory() as session:
        version = repository.register_version(session)
    return render_template_string(
        STATUS_PAGE,
        version=version,
        restrictions=rt.register.snapshot().restriction_count,
        jobs="rq (Redis)" if rt.settings.redis_url else "in-process",
    )
