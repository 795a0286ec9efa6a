"""The public status page (issue 18, item 5): it tells anyone the service runs, and only
signed-in staff how many restrictions are in force."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

from tests.web.conftest import AGENT, Register
from tests.web.helpers import StaffClient, text_of


def test_an_anonymous_visitor_is_not_told_how_many_restrictions_are_in_force(
    app: Flask, register: Register
) -> None:
    page = text_of(app.test_client().get("/status"))
    assert "The service is running." in page
    assert "Restrictions in force" not in page


def test_signed_in_staff_see_how_many_restrictions_are_in_force(
    client_for: Callable[[str], StaffClient], register: Register
) -> None:
    page = text_of(client_for(AGENT).get("/status"))
    assert "Restrictions in force</dt><dd>1</dd>" in page


def test_a_page_asked_with_a_wrong_method_names_the_methods_allowed(app: Flask) -> None:
    response = app.test_client().delete("/status")
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]
