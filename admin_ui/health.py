"""Liveness and status for the IT team and for container health checks (no personal data)."""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, render_template
from flask.typing import ResponseReturnValue

from admin_ui.access import public
from gateway.runtime import Runtime
from gateway.store import repository
from gateway.store.db import ping_database

bp = Blueprint("health", __name__)
STALE_AFTER_REFRESHES = 10
# Never sooner than this: a process starved of CPU for a moment (a busy host, a long
# garbage collection) has not lost its database, and must not turn callers away.
STALE_FLOOR_SECONDS = 5.0


def stale_after_seconds(rt: Runtime) -> float:
    """How long without a successful register check before the register counts as stale."""
    return max(STALE_AFTER_REFRESHES * rt.settings.register_refresh_seconds, STALE_FLOOR_SECONDS)


def register_is_stale(rt: Runtime) -> bool:
    """Whether the register snapshot is clearly out of date: /healthz then answers 503, and
    so does the lookup (one test, so the two never disagree)."""
    return rt.register.age_seconds > stale_after_seconds(rt)


def _rt() -> Runtime:
    return current_app.config["CCR_RUNTIME"]


@bp.get("/healthz")
@public
def healthz() -> ResponseReturnValue:
    """200 when the database answers and the register is fresh; 503 otherwise."""
    rt = _rt()
    try:
        ping_database(rt.session_factory)
        rt.register.snapshot()
    except Exception:
        return jsonify(status="unavailable", database="unreachable"), 503
    age = round(rt.register.age_seconds, 1)
    # Decisions go on with the last register known; say so once it is clearly out of date.
    if register_is_stale(rt):
        return jsonify(status="unavailable", register_age_seconds=age), 503
    return jsonify(status="ok", register_age_seconds=age)


@bp.get("/status")
@public
def status() -> ResponseReturnValue:
    """That the service runs, for the IT team: no personal data. How many restrictions are in
    force is for staff only: to anyone else it says how often the council restricts contact,
    and a change in it can tell a customer that their own restriction began or ended."""
    rt = _rt()
    with rt.session_factory() as session:
        version = repository.register_version(session)
    signed_in = g.get("staff") is not None
    return render_template(
        "status.html",
        version=version,
        restrictions=rt.register.snapshot().restriction_count if signed_in else None,
        jobs="rq (Redis)" if rt.settings.redis_url else "in-process",
    )
