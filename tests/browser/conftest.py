"""Fixtures for the browser tests: the real service (SMTP gateway and waitress web server on
loopback ports of their own) and Debian's headless Chromium driven by Playwright."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gateway.bootstrap import bootstrap
from gateway.entrypoints.webserver import start_web
from gateway.runtime import Runtime
from gateway.services import accounts
from gateway.settings import Settings
from gateway.smtp.server import SmtpGateway
from routing.enums import Role
from routing.models import utcnow
from tests.web.conftest import SECOND_APPROVER, STAFF
from tests.web.helpers import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Headless Chromium (Debian's package; never `playwright install`), one per module.

    Without it the browser tests skip on a developer's machine but fail in CI (CI=true).
    """
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: apt-get install --no-install-recommends chromium"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class LiveService:
    """The service as `ccr serve` runs it: SMTP gateway and web server on loopback ports."""

    rt: Runtime
    base_url: str
    smtp_port: int

    def url(self, path: str) -> str:
        return self.base_url + path

    @property
    def maildir(self) -> Path:
        return Path(self.rt.settings.downstream.removeprefix("maildir:"))


@pytest.fixture
def live(settings: Settings, tmp_path: Path) -> Iterator[LiveService]:
    """The real SMTP gateway and web server (waitress) on loopback ports of their own (the
    test settings ask for port 0), with a staff account for every role (and a second
    approver)."""
    rt = bootstrap(
        settings.model_copy(
            update={
                "spool_dir": str(tmp_path / "spool"),
                "downstream": f"maildir:{tmp_path / 'mail'}",
                # A test run on a bank holiday must not see every call window closed.
                "exclude_bank_holidays": False,
            }
        )
    )
    with rt.uow() as session:
        for email, role in [*STAFF.items(), (SECOND_APPROVER, Role.APPROVER)]:
            accounts.add_user(
                session, email=email, role=role, password=PASSWORD, actor="test", now=utcnow()
            )
    smtp = SmtpGateway(rt).start()
    web_server = start_web(rt)
    yield LiveService(rt, f"http://127.0.0.1:{web_server.port}", smtp.port)
    web_server.close()
    smtp.stop()
    rt.close()


@pytest.fixture
def page(chromium: Any, live: LiveService) -> Iterator[Any]:
    """A fresh browser tab (its own cookies) on the live service; fails the test if the
    page breaks the content security policy."""
    context = chromium.new_context(base_url=live.base_url, locale="en-GB")
    tab = context.new_page()
    refusals: list[str] = []
    tab.on(
        "console",
        lambda message: (
            refusals.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    yield tab
    context.close()
    assert refusals == [], "the content security policy refused something"
