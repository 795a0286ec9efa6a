"""Ending sessions that live in signed cookies, through the real app and database.

A cookie cannot be recalled from whoever copied it, so each session carries its account's
session generation from sign-in, and signing out, a new password, an admin's reset, a role
change and deactivation move the account's generation on. These tests copy a cookie the way
an attacker would and check it stops working, and that the check costs no extra query."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select

from gateway.runtime import Runtime
from routing.lifecycle import Actor
from routing.models import StaffUser
from tests.web.conftest import ADMIN, AGENT, MANAGER
from tests.web.helpers import PASSWORD, StaffClient

COOKIE = "ccr_session"


def copy_of_cookie(app: Flask, original: StaffClient) -> FlaskClient:
    """Another client holding a copy of this one's session cookie, as a thief would."""
    stolen = original.client.get_cookie(COOKIE)
    assert stolen is not None
    thief = app.test_client()
    thief.set_cookie(COOKIE, stolen.value)
    return thief


def signed_out(response) -> bool:
    return response.status_code == 302 and response.location.startswith("/sign-in")


def test_a_cookie_copied_before_sign_out_no_longer_works_afterwards(
    app: Flask, client_for: Callable[[str], StaffClient]
) -> None:
    manager = client_for(MANAGER)
    thief = copy_of_cookie(app, manager)
    assert thief.get("/").status_code == 200  # the copy is as good as the original...
    assert signed_out(manager.post("/sign-out"))
    assert signed_out(thief.get("/"))  # ...until its owner signs out
    assert signed_out(thief.get("/customers"))


def test_signing_out_ends_the_accounts_other_sessions_too(
    client_for: Callable[[str], StaffClient],
) -> None:
    office, laptop = client_for(AGENT), client_for(AGENT)
    someone_else = client_for(MANAGER)
    office.post("/sign-out")
    assert signed_out(laptop.get("/"))
    assert someone_else.get("/").status_code == 200  # other accounts are not touched


def test_a_password_change_ends_every_other_session_but_keeps_this_one(
    app: Flask, client_for: Callable[[str], StaffClient]
) -> None:
    here, elsewhere = client_for(MANAGER), client_for(MANAGER)
    thief = copy_of_cookie(app, here)
    form = {
        "current_password": PASSWORD,
        "new_password": "a brand new passphrase",
        "confirm_password": "a brand new passphrase",
    }
    assert here.post("/account/password", form).status_code == 302
    assert here.get("/").status_code == 200
    assert signed_out(elsewhere.get("/"))
    assert signed_out(thief.get("/"))  # a copy from before the change is refused


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/users/{id}/password", {}),
        ("/users/{id}/role", {"role": "manager"}),
        ("/users/{id}/deactivate", {}),
    ],
    ids=["reset", "role change", "deactivation"],
)
def test_an_admins_change_to_an_account_ends_its_sessions(
    path: str,
    data: dict[str, str],
    app: Flask,
    staff: dict[str, Actor],
    client_for: Callable[[str], StaffClient],
) -> None:
    agent = client_for(AGENT)
    thief = copy_of_cookie(app, agent)
    admin = client_for(ADMIN)
    user_id = staff[AGENT].user_id
    assert admin.post(path.format(id=user_id), data).status_code in (200, 302)
    assert signed_out(agent.get("/"))
    assert signed_out(thief.get("/"))
    if path.endswith("deactivate"):
        # Switched on again, the account does not bring its old cookies back with it.
        assert admin.post(f"/users/{user_id}/reactivate").status_code == 302
        assert signed_out(thief.get("/"))
        assert client_for(AGENT).get("/").status_code == 200


def test_a_session_without_a_generation_is_treated_as_signed_out(
    app: Flask, staff: dict[str, Actor]
) -> None:
    """A cookie signed before this release (id and times, no generation) signs in again."""
    agent = StaffClient(app)
    agent.sign_in(AGENT)
    with agent.client.session_transaction() as session:
        assert session["generation"] == 0
        del session["generation"]
    assert signed_out(agent.get("/"))


@contextmanager
def statements(rt: Runtime) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn, _cursor, statement, _params, _context, _many) -> None:
        seen.append(statement)

    event.listen(rt.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(rt.engine, "before_cursor_execute", record)


def test_checking_the_generation_costs_no_extra_query(
    rt: Runtime, client_for: Callable[[str], StaffClient]
) -> None:
    agent = client_for(AGENT)
    with statements(rt) as seen:
        assert agent.get("/account/password").status_code == 200
    account_reads = [s for s in seen if "FROM staff_users" in s]
    # The one read of the account every request already made (is it still active?).
    assert len(account_reads) == 1
    with rt.uow() as session:
        agent_row = session.scalar(select(StaffUser).where(StaffUser.email == AGENT))
        assert agent_row.session_generation == 0
