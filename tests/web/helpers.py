"""A member of staff's session through the Flask test client: forms carry the CSRF token read
from the page, exactly as a real browser's would. (The browser tests, in Chromium, are in
tests/browser/.)"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

PASSWORD = "correct horse battery"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


class StaffClient:
    """One member of staff's session: sign in, read pages, post forms with the token."""

    def __init__(self, app: Flask) -> None:
        self.client: FlaskClient = app.test_client()

    def sign_in(self, email: str, password: str = PASSWORD) -> TestResponse:
        return self.post("/sign-in", {"email": email, "password": password})

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.client.get(path, **kwargs)

    def csrf_token(self, path: str = "/sign-in") -> str:
        # Signed in, the sign-in page leads to the dashboard, whose sign-out form has one.
        page = self.client.get(path, follow_redirects=True).get_data(as_text=True)
        found = CSRF_INPUT.search(page)
        assert found, f"no CSRF token on {path}"
        return found.group(1)

    def post(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> TestResponse:
        """Post a form as the page would: with the session's CSRF token."""
        form = {"csrf_token": self.csrf_token(), **(data or {})}
        return self.client.post(path, data=form, **kwargs)

    def post_without_token(self, path: str, data: dict[str, Any] | None = None) -> TestResponse:
        return self.client.post(path, data=data or {})


def text_of(response: TestResponse) -> str:
    return response.get_data(as_text=True)
