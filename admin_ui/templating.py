"""What templates can use beyond Flask's own: the signed-in member of staff, the navigation,
and filters that show times in the council's time zone and values in plain words."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from flask import Flask, g

from admin_ui import forms, web
from admin_ui.access import CASEWORKERS
from admin_ui.navigation import nav_links


def init_app(app: Flask) -> None:
    app.context_processor(_page_context)
    # The words for stored values, the same as the forms offer them.
    app.jinja_env.globals["labels"] = {
        "category": dict(forms.CATEGORIES),
        "stage": dict(forms.STAGES),
        "email_measure": dict(forms.EMAIL_MEASURES),
        "phone_measure": dict(forms.PHONE_MEASURES),
        "review_outcome": dict(forms.REVIEW_OUTCOMES),
    }
    app.jinja_env.filters.update(
        local_time=local_time,
        long_date=long_date,
        words=words,
    )
    # Keep the markup readable: no blank lines where template tags stood.
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True


def _page_context() -> dict[str, Any]:
    staff = g.get("staff")
    return {
        "staff": staff,
        "nav_links": nav_links if staff else (lambda: []),
        # Confidential notes are for caseworkers; agents never see them, on any page.
        "sees_confidential": staff is not None and staff.role in CASEWORKERS,
        "service_name": web.runtime().settings.service_name,
    }


def local_time(moment: dt.datetime | None) -> str:
    """A UTC instant as the council's local date and time, e.g. '3 Mar 2026, 14:05'."""
    if moment is None:
        return ""
    local = moment.astimezone(web.runtime().timezone)
    return f"{local.day} {local:%b %Y, %H:%M}"


def long_date(day: dt.date | None) -> str:
    """A date as '3 March 2026'."""
    return "" if day is None else f"{day.day} {day:%B %Y}"


def words(value: StrEnum | str | None) -> str:
    """A stored name in words: 'pending_approval' -> 'pending approval'."""
    if value is None:
        return ""
    text = value.value if isinstance(value, StrEnum) else value
    return text.replace("_", " ")
