"""The admin pages through the real app and database: the audit log (filtered, paged,
read-only), staff accounts (add, change role, deactivate; never oneself) and API tokens
(shown once, listed without their hash, revoked so that the API refuses them)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError

from admin_ui import create_app
from gateway.runtime import Runtime
from gateway.services import accounts, register_service
from gateway.store.tables import ApiToken
from routing.enums import Role
from routing.lifecycle import Actor
from routing.models import AuditEntry, StaffUser, utcnow
from tests.web.conftest import ADMIN, AGENT, MANAGER, Register
from tests.web.helpers import PASSWORD, StaffClient, text_of

NEW_STAFF = "new.officer@council.example.org"
# The audit log's cells for two actions (the filter's hint names actions too).
VIEWED = "<td>customer.viewed</td>"
APPROVED = "<td>restriction.approved</td>"


def _user(rt: Runtime, email: str) -> StaffUser | None:
    with rt.uow() as session:
        return session.scalar(select(StaffUser).where(StaffUser.email == email))


def _audit(rt: Runtime, action: str) -> list[AuditEntry]:
    with rt.uow() as session:
        query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        return list(session.scalars(query))


# --- the audit log ---------------------------------------------------------------------------


def test_the_audit_log_filters_by_who_what_subject_and_day(
    rt: Runtime, register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    client_for(AGENT).get(f"/customers/{register.customer_id}")
    admin = client_for(ADMIN)
    everything = text_of(admin.get("/audit"))
    assert VIEWED in everything and APPROVED in everything

    by_agent = text_of(admin.get(f"/audit?actor={AGENT.upper()}"))
    assert VIEWED in by_agent and APPROVED not in by_agent
    family = text_of(admin.get("/audit?action=restriction"))
    assert APPROVED in family and VIEWED not in family
    subject = text_of(admin.get(f"/audit?subject_type=customer&subject_ref={register.customer_id}"))
    assert VIEWED in subject and APPROVED not in subject
    today = rt.today().isoformat()
    assert VIEWED in text_of(admin.get(f"/audit?start={today}&end={today}"))
    assert "No entries match." in text_of(admin.get("/audit?end=2020-01-01"))
    bad = admin.get("/audit?start=yesterday")
    assert "There is a problem" in text_of(bad)

    [*_, read] = _audit(rt, "audit.listed")
    assert read.detail["filters"] == ["start"] and read.source == "web 127.0.0.1"


def test_the_audit_log_pages_by_entry_id(
    rt: Runtime, register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    with rt.uow() as session:
        newest = session.scalar(select(AuditEntry.id).order_by(AuditEntry.id.desc()))
    page = text_of(client_for(ADMIN).get(f"/audit?before={newest}&action=restriction"))
    assert "Newest entries" in page
    ids_shown = re.findall(r"<td>restriction\.[a-z_]+</td>", page)
    assert ids_shown  # older restriction entries, below the newest entry


def test_the_database_itself_refuses_to_change_an_audit_entry(rt: Runtime, staff) -> None:
    with pytest.raises(DatabaseError), rt.uow() as session:
        session.execute(text("UPDATE audit_entries SET actor = 'someone else'"))
    with pytest.raises(DatabaseError), rt.uow() as session:
        session.execute(text("DELETE FROM audit_entries"))


# --- staff accounts --------------------------------------------------------------------------


def test_an_admin_adds_an_account_with_a_generated_password_shown_once(
    rt: Runtime, app: Flask, client_for: Callable[[str], StaffClient]
) -> None:
    admin = client_for(ADMIN)
    response = admin.post(
        "/users/new",
        {
            "email": NEW_STAFF,
            "display_name": "New Officer",
            "role": "agent",
            "password_choice": "generate",
        },
    )
    assert response.status_code == 200
    password = re.search(r'<code class="token-secret">([^<]+)</code>', text_of(response)).group(1)
    user = _user(rt, NEW_STAFF)
    assert user.role is Role.AGENT and user.password_hash.startswith("$argon2")
    assert password not in user.password_hash
    new_starter = StaffClient(app)
    assert new_starter.sign_in(NEW_STAFF, password).status_code == 302
    # The admin has seen the password, so its owner must choose their own first.
    assert new_starter.get("/").location == "/account/password"
    assert password not in text_of(admin.get("/users"))
    [*_, created] = _audit(rt, "user.created")
    assert (created.actor, created.subject_ref, created.source) == (
        ADMIN,
        str(user.id),
        "web 127.0.0.1",
    )


def test_a_typed_password_must_be_long_enough(
    rt: Runtime, client_for: Callable[[str], StaffClient]
) -> None:
    admin = client_for(ADMIN)
    form = {"email": NEW_STAFF, "role": "manager", "password_choice": "enter", "password": "short"}
    refused = admin.post("/users/new", form)
    assert refused.status_code == 400
    assert "at least 12 characters" in text_of(refused)
    assert _user(rt, NEW_STAFF) is None
    not_an_address = admin.post("/users/new", {**form, "email": "nobody", "password": PASSWORD})
    assert '<a href="#email">' in text_of(not_an_address)
    accepted = admin.post("/users/new", {**form, "password": PASSWORD})
    assert accepted.status_code == 200 and "token-secret" not in text_of(accepted)
    assert _user(rt, NEW_STAFF).role is Role.MANAGER


def test_an_admin_changes_a_role_and_deactivates_an_account_which_is_signed_out(
    rt: Runtime, staff: dict[str, Actor], client_for: Callable[[str], StaffClient]
) -> None:
    agent = client_for(AGENT)
    admin = client_for(ADMIN)
    agent_id = staff[AGENT].user_id
    assert admin.post(f"/users/{agent_id}/role", {"role": "manager"}).status_code == 302
    assert _user(rt, AGENT).role is Role.MANAGER
    # A session is trusted for the role it began with: signed out, then in with the new one.
    assert agent.get("/register").status_code == 302
    agent = client_for(AGENT)
    assert agent.get("/register").status_code == 200

    assert admin.post(f"/users/{agent_id}/deactivate").status_code == 302
    assert _user(rt, AGENT).active is False
    assert agent.get("/").status_code == 302  # signed out at the next request
    assert admin.post(f"/users/{agent_id}/reactivate").status_code == 302
    assert _user(rt, AGENT).active is True
    actions = [e.action for e in _audit(rt, "user.role_changed")]
    actions += [e.action for e in _audit(rt, "user.deactivated") + _audit(rt, "user.reactivated")]
    assert actions == ["user.role_changed", "user.deactivated", "user.reactivated"]


def test_an_admin_cannot_deactivate_themselves_or_drop_their_own_admin_role(
    rt: Runtime, staff: dict[str, Actor], client_for: Callable[[str], StaffClient]
) -> None:
    admin = client_for(ADMIN)
    own_id = staff[ADMIN].user_id
    page = text_of(admin.get("/users"))
    assert "You cannot change your own role." in page
    assert f'/users/{own_id}/deactivate"' not in page  # not offered, and refused if posted

    refused = admin.post(f"/users/{own_id}/deactivate", follow_redirects=True)
    assert "You cannot deactivate your own account" in text_of(refused)
    demoted = admin.post(f"/users/{own_id}/role", {"role": "agent"}, follow_redirects=True)
    assert "You cannot remove your own admin role" in text_of(demoted)
    me = _user(rt, ADMIN)
    assert me.active is True and me.role is Role.ADMIN
    assert admin.get("/users").status_code == 200


# --- API tokens --------------------------------------------------------------------------------


@pytest.fixture
def api_app(rt: Runtime, clock) -> Flask:
    """The app with no token cache, so a revocation is seen by the next request."""
    config = {"TESTING": True, "CCR_CLOCK": clock, "CCR_TOKEN_CACHE_SECONDS": 0}
    return create_app(test_config=config, runtime=rt)


def test_a_token_is_shown_once_listed_without_its_hash_and_refused_once_revoked(
    rt: Runtime, api_app: Flask, staff
) -> None:
    admin = StaffClient(api_app)
    admin.sign_in(ADMIN)
    made = admin.post("/api-tokens/new", {"name": "screen-pop", "scopes": ["lookup"]})
    assert made.status_code == 200
    secret = re.search(r'id="token">(ccr_[^<]+)</code>', text_of(made)).group(1)
    with rt.uow() as session:
        token = session.scalar(select(ApiToken).where(ApiToken.name == "screen-pop"))
    assert token.token_hash == accounts.token_digest(secret)

    lookup = "/api/v1/lookup?phone=01632960123"
    bearer = {"Authorization": f"Bearer {secret}"}
    assert api_app.test_client().get(lookup, headers=bearer).status_code == 200
    listing = text_of(admin.get("/api-tokens"))
    assert "screen-pop" in listing and token.prefix in listing and "lookup" in listing
    assert secret not in listing and token.token_hash not in listing

    assert admin.post(f"/api-tokens/{token.id}/revoke").status_code == 302
    assert api_app.test_client().get(lookup, headers=bearer).status_code == 401
    assert "Revoked " in text_of(admin.get("/api-tokens"))
    [revoked] = _audit(rt, "token.revoked")
    assert (revoked.actor, revoked.source) == (ADMIN, "web 127.0.0.1")


def test_a_token_needs_a_new_name_and_a_scope(
    rt: Runtime, client_for: Callable[[str], StaffClient]
) -> None:
    with rt.uow() as session:
        accounts.add_token(session, name="taken", scopes=["calls"], actor="test", now=utcnow())
    admin = client_for(ADMIN)
    no_scope = admin.post("/api-tokens/new", {"name": "fresh"})
    assert no_scope.status_code == 400
    assert "Choose at least one thing the token may do" in text_of(no_scope)
    taken = admin.post("/api-tokens/new", {"name": "taken", "scopes": ["calls"]})
    assert taken.status_code == 400 and "already exists" in text_of(taken)


def test_managers_cannot_reach_the_admin_pages(
    register: Register, client_for: Callable[[str], StaffClient]
) -> None:
    manager = client_for(MANAGER)
    for path in ("/audit", "/users", "/users/new", "/api-tokens", "/api-tokens/new"):
        assert manager.get(path).status_code == 403, path


def test_the_retention_page_shows_the_setting_and_the_legal_holds(
    rt: Runtime,
    register: Register,
    staff: dict[str, Actor],
    client_for: Callable[[str], StaffClient],
) -> None:
    admin = client_for(ADMIN)
    assert "No restriction is under a legal hold." in text_of(admin.get("/retention"))
    with rt.uow() as session:
        register_service.set_legal_hold(
            session, staff[ADMIN], utcnow(), register.active_id, hold=True, reason="Appeal lodged"
        )
    page = text_of(admin.get("/retention"))
    assert f"{rt.settings.retention_months} months" in page
    assert register.reference in page and "Appeal lodged" in page
