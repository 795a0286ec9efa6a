"""The site navigation: one list, in the order shown, filtered per request.

An item is shown only when its endpoint exists in the app and the signed-in role may use it
(read from the view's `require_role`), so pages still to come can be listed here already:
they appear once their blueprint registers the endpoint named.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import request, url_for

from admin_ui.access import may


@dataclass(frozen=True, slots=True)
class NavItem:
    label: str
    endpoint: str
    # Blueprint whose pages count as "this section" for aria-current (default: the endpoint's).
    section: str | None = None

    @property
    def blueprint(self) -> str:
        return self.section or self.endpoint.partition(".")[0]


NAV_ITEMS: tuple[NavItem, ...] = (
    NavItem("Dashboard", "dashboard.index"),
    NavItem("Customers", "customers.search"),
    NavItem("Register", "restrictions.register"),
    NavItem("Alerts", "alerts.index"),
    NavItem("SPOC queue", "spoc.index"),
    NavItem("Call flags", "calls.flags"),
    NavItem("Services", "services.index"),
    NavItem("Mail log", "mail.index"),
    NavItem("Audit log", "audit.index"),
    NavItem("Staff accounts", "users.index"),
    NavItem("API tokens", "tokens.index"),
    NavItem("Retention", "retention.index"),
    NavItem("Subject access", "rights.search"),
)


@dataclass(frozen=True, slots=True)
class NavLink:
    label: str
    url: str
    current: bool


def nav_links() -> list[NavLink]:
    """The items the signed-in member of staff may use, marking the current section."""
    here = request.blueprints[0] if request.blueprints else None
    return [
        NavLink(item.label, url_for(item.endpoint), item.blueprint == here)
        for item in NAV_ITEMS
        if may(item.endpoint)
    ]
