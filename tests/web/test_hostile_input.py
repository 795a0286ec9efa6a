"""Input no person types, refused at the edge with 400 before it reaches the database: a NUL
character in a search, a sign-in email or a new customer's name (PostgreSQL cannot store
one, and SQLite's LIKE stops reading at it and matches everyone), and JSON nested too deep
to read. Run on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from sqlalchemy import func, select

from gateway.runtime import Runtime
from gateway.services import accounts
from routing.models import Customer, utcnow
from tests.web.conftest import ADMIN, AGENT, MANAGER, Register
from tests.web.helpers import StaffClient, text_of

NUL = "\x00"


def test_a_search_with_a_nul_is_refused_and_lists_nobody(
    register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    agent = client_for(AGENT)
    response = agent.get("/customers", query_string={"q": f"zz{NUL}"})
    assert response.status_code == 400
    assert f'href="/customers/{register.customer_id}"' not in text_of(response)
    assert "Something was wrong with that request" in text_of(response)


def test_a_sign_in_email_with_a_nul_is_refused(app: Flask, staff) -> None:
    visitor = StaffClient(app)
    response = visitor.sign_in(ADMIN + NUL)
    assert response.status_code == 400
    assert "Something was wrong with that request" in text_of(response)


def test_a_new_customer_named_with_a_nul_is_refused_and_not_added(
    rt: Runtime, client_for: Callable[[str], StaffClient]
) -> None:
    response = client_for(MANAGER).post("/customers/new", {"name": f"Pat{NUL} Sample"})
    assert response.status_code == 400
    with rt.uow() as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 0


def test_deeply_nested_json_to_the_api_is_a_400_not_a_500(rt: Runtime, app: Flask) -> None:
    with rt.uow() as session:
        token = accounts.add_token(
            session, name="telephony", scopes=["calls"], actor="test", now=utcnow()
        )
    nested = "[" * 100_000 + "]" * 100_000
    response = app.test_client().post(
        "/api/v1/calls",
        data=nested,
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_request"


def test_a_nul_inside_a_json_call_event_is_a_400_not_a_500(rt: Runtime, app: Flask) -> None:
    with rt.uow() as session:
        token = accounts.add_token(
            session, name="telephony", scopes=["calls"], actor="test", now=utcnow()
        )
    event = {
        "caller": f"07700 900{NUL}123",
        "called": f"01632 960100{NUL}",
        "started_at": "2026-03-30T13:00:00Z",
    }
    response = app.test_client().post(
        "/api/v1/calls", json=event, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_request"
