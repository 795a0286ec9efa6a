"""Passwords through the real app and database: every role changes its own (current password
first, twelve characters or more, typed twice, not the current one again), wrong current
passwords lock the account as at sign-in, and an admin's reset gives a temporary password,
shown once, that opens nothing but the change page until its owner has chosen their own.
Each step is audited with who, what and where, never a password or its hash."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import select

from gateway.runtime import Runtime
from routing.enums import Role
from routing.lifecycle import Actor
from routing.models import AuditEntry, StaffUser
from tests.web.conftest import ADMIN, AGENT, EMAIL_OF_ROLE, MANAGER, Register
from tests.web.helpers import PASSWORD, StaffClient, text_of

CHANGE_PAGE = "/account/password"
NEW_PASSWORD = "a brand new passphrase"
TEMPORARY = re.compile(r'<code class="token-secret">([^<]+)</code>')


def _user(rt: Runtime, email: str) -> StaffUser:
    with rt.uow() as session:
        return session.scalar(select(StaffUser).where(StaffUser.email == email))


def _audit(rt: Runtime, action: str) -> list[AuditEntry]:
    with rt.uow() as session:
        query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        return list(session.scalars(query))


def _change(client: StaffClient, current: str, new: str, again: str | None = None):
    form = {"current_password": current, "new_password": new, "confirm_password": again or new}
    return client.post(CHANGE_PAGE, form)


def _is_redirect_to(response, path: str) -> bool:
    return response.status_code == 302 and response.location.split("?")[0] == path


# --- changing your own password ---------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role))
def test_every_role_changes_its_own_password_from_the_header(
    role: Role, rt: Runtime, app: Flask, client_for: Callable[[str], StaffClient]
) -> None:
    email = EMAIL_OF_ROLE[role]
    client = client_for(email)
    dashboard = text_of(client.get("/"))
    assert f'<a href="{CHANGE_PAGE}">Change your password</a>' in dashboard
    page = client.get(CHANGE_PAGE)
    assert page.status_code == 200
    for label in ("Current password", "New password", "New password again"):
        assert f">{label}</label>" in text_of(page)

    changed = _change(client, PASSWORD, NEW_PASSWORD)
    assert _is_redirect_to(changed, "/")
    assert "Your password is changed" in text_of(client.get("/"))  # still signed in here
    assert _user(rt, email).password_hash.startswith("$argon2")
    assert StaffClient(app).sign_in(email).status_code == 400  # the old password is refused
    assert StaffClient(app).sign_in(email, NEW_PASSWORD).status_code == 302
    [entry] = _audit(rt, "user.password_changed")
    assert (entry.actor, entry.subject_ref, entry.source) == (
        email,
        str(_user(rt, email).id),
        "web 127.0.0.1",
    )
    assert entry.detail == {"forced": False}


@pytest.mark.parametrize(
    ("current", "new", "again", "field", "message"),
    [
        ("", NEW_PASSWORD, NEW_PASSWORD, "current_password", "Enter your current password"),
        (PASSWORD, "too short", "too short", "new_password", "at least 12 characters"),
        (PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "!", "confirm_password", "the same new password"),
        (PASSWORD, PASSWORD, PASSWORD, "new_password", "different from the current one"),
        ("not my password", NEW_PASSWORD, NEW_PASSWORD, "current_password", "is not right"),
    ],
)
def test_the_change_page_explains_each_problem_against_its_field(
    current: str,
    new: str,
    again: str,
    field: str,
    message: str,
    rt: Runtime,
    client_for: Callable[[str], StaffClient],
) -> None:
    before = _user(rt, MANAGER).password_hash
    refused = _change(client_for(MANAGER), current, new, again)
    page = text_of(refused)
    assert refused.status_code == 400
    assert "<title>Error: Change your password - Customer contact restrictions</title>" in page
    summary_link = re.search(rf'<a href="#{field}">([^<]+)</a>', page)
    assert summary_link and message in summary_link.group(1)
    assert f'id="{field}-error"' in page and 'aria-invalid="true"' in page
    for typed in {current, new, again} - {""}:
        assert typed not in page  # passwords are never echoed back
    assert _user(rt, MANAGER).password_hash == before


def test_wrong_current_passwords_lock_the_account_as_at_sign_in(
    rt: Runtime, app: Flask, client_for: Callable[[str], StaffClient]
) -> None:
    client = client_for(AGENT)
    for _ in range(rt.settings.web_lockout_after):
        assert _change(client, "a wrong guess at it", NEW_PASSWORD).status_code == 400
    locked = _change(client, PASSWORD, NEW_PASSWORD)  # the right one, while locked
    assert locked.status_code == 400 and "is locked" in text_of(locked)
    assert StaffClient(app).sign_in(AGENT).status_code == 400  # sign-in is locked too
    reasons = [e.detail["reason"] for e in _audit(rt, "user.password_change_refused")]
    assert reasons == ["wrong current password"] * rt.settings.web_lockout_after + [
        "account locked"
    ]


# --- an admin's reset ---------------------------------------------------------------------------


def test_an_admin_resets_a_password_and_its_owner_must_change_it_before_anything_else(
    rt: Runtime,
    app: Flask,
    register: Register,
    staff: dict[str, Actor],
    client_for: Callable[[str], StaffClient],
) -> None:
    manager_id = staff[MANAGER].user_id
    earlier_session = client_for(MANAGER)
    admin = client_for(ADMIN)
    users = text_of(admin.get("/users"))
    assert f'href="/users/{manager_id}/password">Reset password' in users
    confirm = admin.get(f"/users/{manager_id}/password")
    assert confirm.status_code == 200 and f"Reset the password of {MANAGER}" in text_of(confirm)

    done = admin.post(f"/users/{manager_id}/password")
    assert done.status_code == 200
    temporary = TEMPORARY.search(text_of(done)).group(1)
    assert len(temporary) >= 12
    assert temporary not in text_of(admin.get("/users"))  # shown that once only
    assert "Active: to choose a new password" in text_of(admin.get("/users"))
    assert _is_redirect_to(earlier_session.get("/"), "/sign-in")  # signed out at once
    assert StaffClient(app).sign_in(MANAGER).status_code == 400  # old password gone

    manager = StaffClient(app)
    assert manager.sign_in(MANAGER, temporary).status_code == 302
    customer = f"/customers/{register.customer_id}"
    for path in ("/", "/customers", customer, "/sign-in", "/no-such-page"):
        assert _is_redirect_to(manager.get(path), CHANGE_PAGE), path
    posted = manager.post("/customers/new", {"name": "Not While Temporary"})
    assert _is_redirect_to(posted, CHANGE_PAGE)
    forced = text_of(manager.get(CHANGE_PAGE))
    assert "An administrator has given you a temporary password" in forced
    assert 'aria-label="Main"' not in forced  # no menu of pages that would not open

    assert _is_redirect_to(_change(manager, temporary, NEW_PASSWORD), "/")
    assert manager.get(customer).status_code == 200
    assert _user(rt, MANAGER).must_change_password is False
    [reset] = _audit(rt, "user.password_reset")
    assert (reset.actor, reset.subject_ref, reset.source) == (
        ADMIN,
        str(manager_id),
        "web 127.0.0.1",
    )
    [changed] = _audit(rt, "user.password_changed")
    assert changed.actor == MANAGER and changed.detail == {"forced": True}


def test_the_forced_change_still_lets_its_owner_sign_out(
    rt: Runtime, app: Flask, staff: dict[str, Actor], client_for: Callable[[str], StaffClient]
) -> None:
    done = client_for(ADMIN).post(f"/users/{staff[AGENT].user_id}/password")
    temporary = TEMPORARY.search(text_of(done)).group(1)
    agent = StaffClient(app)
    agent.sign_in(AGENT, temporary)
    assert _is_redirect_to(agent.post("/sign-out"), "/sign-in")
    assert _user(rt, AGENT).must_change_password is True  # still to do at the next sign-in


def test_an_admin_changes_their_own_password_on_their_own_page_not_by_a_reset(
    rt: Runtime, staff: dict[str, Actor], client_for: Callable[[str], StaffClient]
) -> None:
    admin = client_for(ADMIN)
    own = f"/users/{staff[ADMIN].user_id}/password"
    assert _is_redirect_to(admin.get(own), CHANGE_PAGE)
    assert _is_redirect_to(admin.post(own), CHANGE_PAGE)
    assert _audit(rt, "user.password_reset") == []
    assert admin.get("/users/999999/password").status_code == 404
    refused = admin.post("/users/999999/password", follow_redirects=True)
    assert "No staff account with id 999999" in text_of(refused)


def test_only_admins_reset_passwords(
    rt: Runtime, staff: dict[str, Actor], client_for: Callable[[str], StaffClient]
) -> None:
    before = _user(rt, AGENT).password_hash
    manager = client_for(MANAGER)
    target = f"/users/{staff[AGENT].user_id}/password"
    assert manager.get(target).status_code == 403
    assert manager.post(target).status_code == 403
    assert _user(rt, AGENT).password_hash == before


# --- nothing secret is written down -------------------------------------------------------------


def test_no_password_or_hash_reaches_the_audit_log_or_the_logs(
    rt: Runtime,
    app: Flask,
    staff: dict[str, Actor],
    client_for: Callable[[str], StaffClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    done = client_for(ADMIN).post(f"/users/{staff[AGENT].user_id}/password")
    temporary = TEMPORARY.search(text_of(done)).group(1)
    agent = StaffClient(app)
    agent.sign_in(AGENT, temporary)
    _change(agent, "a wrong guess at it", NEW_PASSWORD)
    _change(agent, temporary, NEW_PASSWORD)
    with rt.uow() as session:
        entries = session.scalars(select(AuditEntry)).all()
        hashes = [u.password_hash for u in session.scalars(select(StaffUser))]
    written = json.dumps([[e.actor, e.action, e.detail] for e in entries]) + caplog.text
    for secret in (temporary, NEW_PASSWORD, PASSWORD, "a wrong guess at it", *hashes):
        assert secret not in written
    assert "$argon2" not in written
