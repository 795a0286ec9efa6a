"""Retention for admins: how long ended restrictions are kept, and which are held past that
for a legal reason. Read-only here: the purge runs in the periodic upkeep
(gateway/maintenance.py), and a legal hold is set on a restriction by the register service."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue

from admin_ui import web
from admin_ui.access import ADMINS, require_role
from gateway import web_queries

bp = Blueprint("retention", __name__, url_prefix="/retention")


@bp.get("")
@require_role(ADMINS)
def index() -> ResponseReturnValue:
    settings = web.runtime().settings
    with web.unit_of_work() as session:
        holds = web_queries.legal_holds(session)
    return render_template(
        "retention/index.html",
        holds=holds,
        retention_months=settings.retention_months,
        dormant_after_days=settings.dormant_after_days,
    )
