"""The subject access area (admin_ui/rights.py): information governance only; find a person,
see and download what is held, correct, unlink and erase, each audited."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import select

from admin_ui.access import route_access
from gateway.runtime import Runtime
from gateway.services import register_service
from routing.enums import IdentityKind, Role
from routing.lifecycle import Actor
from routing.models import AuditEntry, Customer, Identity, Restriction, utcnow
from tests.web.conftest import (
    ADMIN,
    AGENT,
    APPROVER,
    CUSTOMER_EMAIL,
    IG,
    MANAGER,
    Register,
)
from tests.web.helpers import StaffClient, text_of
from tests.web.page_data import unlinked_identity

FREE = "free.person@example.org"


def _audit(rt: Runtime, action: str) -> list[AuditEntry]:
    with rt.uow() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == action)).all()
        session.expunge_all()
        return list(entries)


@pytest.fixture
def ig(client_for: Callable[[str], StaffClient]) -> StaffClient:
    return client_for(IG)


@pytest.fixture
def free_customer(rt: Runtime, staff: dict[str, Actor]) -> int:
    """A customer no restriction holds: they may be erased."""
    now = utcnow()
    with rt.uow() as session:
        customer = register_service.add_customer(
            session, staff[MANAGER], now, name="Free Person", customer_ref="C-3003"
        )
        register_service.link_raw_identity(
            session, staff[MANAGER], now, customer, FREE, IdentityKind.EMAIL,
            fold_plus=True, region="GB",
        )  # fmt: skip
        return customer.id


def _identity(rt: Runtime, value: str) -> Identity | None:
    with rt.uow() as session:
        found = session.scalar(select(Identity).where(Identity.value == value))
        session.expunge_all()
        return found


# --- who may -----------------------------------------------------------------------------------


def test_the_area_is_for_information_governance_only(
    app: Flask, register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    endpoints = {r.endpoint for r in app.url_map.iter_rules() if r.endpoint.startswith("rights.")}
    assert len(endpoints) >= 6
    for endpoint in endpoints:
        assert route_access(app, endpoint).roles == {Role.IG}, endpoint
    page = f"/rights/customers/{register.customer_id}"
    for email in (AGENT, MANAGER, APPROVER, ADMIN):
        browser = client_for(email)
        assert browser.get("/rights").status_code == 403, email
        assert browser.get(page).status_code == 403, email
        assert browser.post(f"{page}/export").status_code == 403, email
        assert browser.post(f"{page}/erase", {"confirm": "y"}).status_code == 403, email
        assert "Subject access" not in text_of(browser.get("/"))
    assert ">Subject access<" in text_of(client_for(IG).get("/"))


def test_an_ig_account_can_be_made_on_the_staff_accounts_page(
    rt: Runtime, client_for: Callable[[str], StaffClient]
) -> None:
    admin = client_for(ADMIN)
    assert "Information governance" in text_of(admin.get("/users/new"))


# --- finding and viewing -----------------------------------------------------------------------


def test_search_finds_by_email_and_is_audited_by_count(
    rt: Runtime, ig: StaffClient, register: Register
) -> None:
    found = ig.post("/rights", {"key": CUSTOMER_EMAIL.upper()})
    assert found.status_code == 302
    assert found.location == f"/rights/customers/{register.customer_id}"
    missing = ig.post("/rights", {"key": "nobody@example.org"})
    assert missing.status_code == 400
    assert "There is a problem" in text_of(missing)
    assert "Nothing is held on that" in text_of(missing)
    empty = ig.post("/rights", {"key": ""})
    assert 'href="#key"' in text_of(empty)
    assert [e.detail for e in _audit(rt, "people.searched")] == [{"results": 1}, {"results": 0}]


def test_the_person_page_lists_what_is_held_and_is_audited(
    rt: Runtime, ig: StaffClient, register: Register
) -> None:
    page = text_of(ig.get(f"/rights/customers/{register.customer_id}"))
    assert "Jo Example" in page and CUSTOMER_EMAIL in page
    assert register.reference in page
    assert "Download everything held (zip)" in page
    assert f"{register.reference} is in force" in page
    [entry] = _audit(rt, "person.viewed")
    assert (entry.actor, entry.subject_ref) == (IG, str(register.customer_id))
    assert entry.source.startswith("web ")


def test_the_download_opens_and_holds_person_json(
    rt: Runtime, ig: StaffClient, register: Register
) -> None:
    response = ig.post(f"/rights/customers/{register.customer_id}/export")
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        document = json.loads(archive.read("person.json"))
    assert document["person"]["customer_ref"] == "C-1001"
    [entry] = _audit(rt, "person.exported")
    assert (entry.actor, entry.subject_ref) == (IG, str(register.customer_id))


# --- correcting and unlinking ------------------------------------------------------------------


def test_correct_normalises_and_refuses_a_value_held_elsewhere(
    rt: Runtime, ig: StaffClient, register: Register, free_customer: int
) -> None:
    identity = _identity(rt, CUSTOMER_EMAIL)
    url = f"/rights/identities/{identity.id}/correct"
    assert "Correct the email address" in text_of(ig.get(url))
    taken = ig.post(url, {"value": FREE})
    assert taken.status_code == 400
    assert "held on another person&#39;s record" in text_of(taken)
    done = ig.post(url, {"value": "Jo.Corrected@Example.org"})
    assert done.status_code == 302
    assert _identity(rt, "jo.corrected@example.org").id == identity.id
    assert len(_audit(rt, "identity.corrected")) == 1


def test_unlink_leaves_a_lone_identity(rt: Runtime, ig: StaffClient, register: Register) -> None:
    identity = _identity(rt, CUSTOMER_EMAIL)
    response = ig.post(f"/rights/identities/{identity.id}/unlink")
    assert response.location == f"/rights/customers/{register.customer_id}"
    assert _identity(rt, CUSTOMER_EMAIL).customer_id is None
    [entry] = _audit(rt, "identity.unlinked")
    assert entry.detail["identity_id"] == identity.id
    assert CUSTOMER_EMAIL in text_of(ig.get(f"/rights/identities/{identity.id}"))


# --- erasing -----------------------------------------------------------------------------------


def test_erase_asks_for_confirmation_then_erases(
    rt: Runtime, ig: StaffClient, free_customer: int
) -> None:
    url = f"/rights/customers/{free_customer}/erase"
    assert "Erasure cannot be undone" in text_of(ig.get(url))
    unconfirmed = ig.post(url)
    assert unconfirmed.status_code == 400
    assert "Confirm that everything held" in text_of(unconfirmed)
    done = ig.post(url, {"confirm": "y"})
    assert done.status_code == 302
    assert "The person is erased" in text_of(ig.get("/rights"))
    with rt.uow() as session:
        assert session.get(Customer, free_customer).name is None
    assert _identity(rt, FREE) is None
    [entry] = _audit(rt, "person.erased")
    assert entry.detail == {"mail_records": 0, "contacts": 0, "alerts": 0, "identities": 1}


def test_erase_of_a_lone_identity(rt: Runtime, ig: StaffClient) -> None:
    identity_id = unlinked_identity(rt, "lonely@example.org")
    assert ig.post(f"/rights/identities/{identity_id}/erase", {"confirm": "y"}).status_code == 302
    assert _identity(rt, "lonely@example.org") is None


def test_erase_is_refused_with_a_restriction_in_force(
    rt: Runtime, ig: StaffClient, register: Register
) -> None:
    url = f"/rights/customers/{register.customer_id}/erase"
    page = text_of(ig.get(url))
    assert f"{register.reference} is in force" in page
    assert "Erase this person</button>" not in page
    refused = ig.post(url, {"confirm": "y"})
    assert refused.status_code == 400
    assert f"{register.reference} is in force" in text_of(refused)
    assert _identity(rt, CUSTOMER_EMAIL) is not None
    assert _audit(rt, "person.erased") == []


def test_erase_is_refused_under_a_legal_hold(
    rt: Runtime, ig: StaffClient, register: Register
) -> None:
    with rt.uow() as session:
        for restriction in session.scalars(select(Restriction)):
            restriction.legal_hold = True
    refused = ig.post(f"/rights/customers/{register.customer_id}/erase", {"confirm": "y"})
    assert refused.status_code == 400
    assert "under a legal hold" in text_of(refused)
    assert _identity(rt, CUSTOMER_EMAIL) is not None


# --- keeping a case beyond its retention period --------------------------------------------------


def test_ig_keeps_a_case_beyond_retention_and_then_lets_it_go(
    rt: Runtime, ig: StaffClient, register: Register
) -> None:
    page_url = f"/rights/customers/{register.customer_id}"
    page = text_of(ig.get(page_url))
    assert "Keeping a case beyond the usual retention period" in page
    url = f"{page_url}/retention-category"
    kept = ig.post(url, {"reference": register.reference, "category": "repeated_history"})
    assert kept.location == f"{page_url}#keeping"
    page = text_of(ig.get(page_url))
    assert f"{register.reference} is kept beyond the usual retention period." in page
    assert "Yes: repeated history" in page
    with rt.uow() as session:
        categories = {
            r.retention_category.value if r.retention_category else None
            for r in session.scalars(
                select(Restriction).where(Restriction.reference == register.reference)
            )
        }
    assert categories == {"repeated_history"}
    entries = _audit(rt, "restriction.retention_category_set")
    assert entries and {e.detail["category"] for e in entries} == {"repeated_history"}

    again = ig.post(url, {"reference": register.reference, "category": "repeated_history"})
    assert "is already kept (repeated history)" in text_of(ig.get(again.location))
    ig.post(url, {"reference": register.reference, "category": ""})
    assert "follows the usual retention period again" in text_of(ig.get(page_url))
    with rt.uow() as session:
        restriction = session.get(Restriction, register.active_id)
        assert restriction.retention_category is None


def test_a_category_outside_the_list_or_another_customers_case_is_refused(
    rt: Runtime, ig: StaffClient, register: Register, free_customer: int
) -> None:
    own = f"/rights/customers/{register.customer_id}/retention-category"
    bad = ig.post(own, {"reference": register.reference, "category": "forever"})
    assert "Choose whether to keep it" in text_of(ig.get(bad.location))
    other = f"/rights/customers/{free_customer}/retention-category"
    stolen = ig.post(other, {"reference": register.reference, "category": "pre_policy"})
    assert "Not a valid choice" in text_of(ig.get(stolen.location))
    with rt.uow() as session:
        assert session.get(Restriction, register.active_id).retention_category is None
