"""Customers: search by name, reference, email address or phone number; add one; the customer
record with identities, restrictions, contacts and a chart (for agents, the caller view
instead). Every view of a record, and every search, is audited (by customer id and result
count: never the words searched for)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from admin_ui import web
from admin_ui.access import CALLER_LOOKUP, CASEWORKERS, require_role
from admin_ui.caller_view import caller_view
from admin_ui.charts import daily_contacts_chart
from admin_ui.forms import CustomerForm, LinkForm, lines_of
from gateway.services import register_service
from gateway.services.register_service import RegisterError
from gateway.store import repository, web_queries
from routing.audit import AuditAction
from routing.enums import IdentityKind
from routing.lifecycle import TransitionRefused
from routing.models import AuditEntry, Customer, Restriction

bp = Blueprint("customers", __name__, url_prefix="/customers")

CHART_DAYS = 90
MAX_QUERY_LENGTH = 200


@bp.get("")
@require_role(CALLER_LOOKUP)
def search() -> ResponseReturnValue:
    query = request.args.get("q", "").strip()[:MAX_QUERY_LENGTH]
    matches: list[web_queries.CustomerMatch] = []
    if query:
        settings = web.runtime().settings
        with web.unit_of_work() as session:
            matches = web_queries.search_customers(
                session, query, fold_plus=settings.fold_plus_addresses, region=settings.phone_region
            )
            session.add(customer_audit(AuditAction.CUSTOMERS_SEARCHED, None, results=len(matches)))
    return render_template("customers/search.html", query=query, matches=matches)


@bp.route("/new", methods=["GET", "POST"])
@require_role(CASEWORKERS)
def new() -> ResponseReturnValue:
    form = CustomerForm()
    if form.validate_on_submit():
        try:
            customer_id = _add_customer(form)
        except (RegisterError, TransitionRefused) as refused:
            form.add_problem("form", str(refused))
        else:
            flash("Customer added.", "success")
            return redirect(url_for("customers.show", customer_id=customer_id))
    status = 400 if form.error_list() else 200
    return render_template("customers/new.html", form=form), status


def _add_customer(form: CustomerForm) -> int:
    settings = web.runtime().settings
    actor, now = web.actor(), web.now()
    with web.unit_of_work() as session:
        customer = register_service.add_customer(
            session,
            actor,
            now,
            name=(form.name.data or "").strip() or None,
            customer_ref=(form.customer_ref.data or "").strip() or None,
        )
        for kind, field in ((IdentityKind.EMAIL, form.emails), (IdentityKind.PHONE, form.phones)):
            for raw in lines_of(field):
                register_service.link_raw_identity(
                    session,
                    actor,
                    now,
                    customer,
                    raw,
                    kind,
                    fold_plus=settings.fold_plus_addresses,
                    region=settings.phone_region,
                )
        return customer.id


@bp.get("/<int:customer_id>")
@require_role(CALLER_LOOKUP)
def show(customer_id: int) -> ResponseReturnValue:
    """The full record for caseworkers; for agents, the caller view (admin_ui/caller_view.py):
    decided here, on the server, so an agent's page is never given the casework to hide."""
    if g.staff.role in CASEWORKERS:
        return _full_record(customer_id)
    return _caller_page(customer_id)


def _full_record(customer_id: int) -> ResponseReturnValue:
    zone = web.runtime().timezone
    with web.unit_of_work() as session:
        customer = web_queries.customer(session, customer_id) or abort(404)
        page = _record(session, customer, zone)
        session.add(customer_audit(AuditAction.CUSTOMER_VIEWED, customer_id, view="record"))
        # Rendered inside the unit of work: the page reads relationships as it goes.
        concerns = web_queries.safeguarding_waiting(session, customer_id)
        return render_template(
            "customers/show.html", link_form=LinkForm(formdata=None), concerns=concerns, **page
        )


def _caller_page(customer_id: int) -> ResponseReturnValue:
    with web.unit_of_work() as session:
        customer = web_queries.customer(session, customer_id) or abort(404)
        view = caller_view(session, web.runtime(), customer, web.now())
        session.add(customer_audit(AuditAction.CUSTOMER_VIEWED, customer_id, view="caller"))
    # Plain values only, rendered after the unit of work: nothing here can lazily load more.
    return render_template("customers/caller.html", caller=view)


def _record(session: Session, customer: Customer, zone: dt.tzinfo) -> dict[str, object]:
    restrictions = repository.restrictions_of_customer(session, customer.id)
    days = web_queries.daily_contacts(
        session, customer.id, last_day=web.today(), days=CHART_DAYS, zone=zone
    )
    return {
        "customer": customer,
        "identities": web_queries.identities_of(session, customer.id),
        "cases": _by_reference(restrictions),
        "contacts": web_queries.recent_contacts(session, customer.id),
        "days": days,
        "chart": daily_contacts_chart(days),
        "staff_names": web_queries.staff_names(session, _staff_ids(restrictions)),
    }


def _staff_ids(restrictions: Sequence[Restriction]) -> set[int | None]:
    return {r.proposed_by_id for r in restrictions} | {r.approved_by_id for r in restrictions}


def _by_reference(restrictions: Sequence[Restriction]) -> list[list[Restriction]]:
    """Revisions grouped per reference, newest revision first in each group."""
    groups: dict[str, list[Restriction]] = {}
    for restriction in restrictions:
        groups.setdefault(restriction.reference, []).append(restriction)
    return [sorted(group, key=lambda r: -r.revision) for group in groups.values()]


@bp.post("/<int:customer_id>/identities")
@require_role(CASEWORKERS)
def link(customer_id: int) -> ResponseReturnValue:
    form = LinkForm()
    raw = (form.identity.data or "").strip()
    if not form.validate_on_submit():
        flash(form.identity.errors[0], "error")
        return redirect(url_for("customers.show", customer_id=customer_id) + "#link")
    try:
        _link(customer_id, raw)
    except (RegisterError, TransitionRefused) as refused:
        flash(str(refused), "error")
    else:
        flash("Linked to this customer.", "success")
    return redirect(url_for("customers.show", customer_id=customer_id))


def _link(customer_id: int, raw: str) -> None:
    settings = web.runtime().settings
    kind = IdentityKind.EMAIL if "@" in raw else IdentityKind.PHONE
    with web.unit_of_work() as session:
        customer = web_queries.customer(session, customer_id) or abort(404)
        register_service.link_raw_identity(
            session,
            web.actor(),
            web.now(),
            customer,
            raw,
            kind,
            fold_plus=settings.fold_plus_addresses,
            region=settings.phone_region,
        )
    web.register_changed()


def customer_audit(action: AuditAction, customer_id: int | None, **detail: object) -> AuditEntry:
    """An audit entry about one customer (or the customer list), by the signed-in staff."""
    if customer_id is None:
        return web.list_viewed(action, "customers", **detail)
    return web.staff_audit(action, "customer", str(customer_id), **detail)
