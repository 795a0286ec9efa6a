"""Fixtures for the JSON API tests: the real app served by waitress on a loopback port of
its own (the test settings ask for port 0)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from admin_ui import create_app
from gateway.bootstrap import bootstrap
from gateway.entrypoints.webserver import WebServer, start_web
from gateway.runtime import Runtime
from gateway.services import accounts
from gateway.settings import Settings
from gateway.smtp.server import SmtpGateway
from routing.models import utcnow
from tests.integration.api_helpers import Api, Clock
from tests.integration.smtp_helpers import with_bound_port


@pytest.fixture
def api_rt(settings: Settings, tmp_path: Path) -> Iterator[Runtime]:
    # Bank holidays off: a test run on a bank holiday must not see every window closed.
    rt = bootstrap(
        settings.model_copy(
            update={
                "exclude_bank_holidays": False,
                "spool_dir": str(tmp_path / "spool"),
            }
        )
    )
    yield rt
    rt.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def api(api_rt: Runtime, clock: Clock) -> Iterator[Api]:
    """The real app served by waitress (gateway.entrypoints.webserver) on a loopback port."""
    app = create_app(
        test_config={"CCR_CLOCK": clock, "CCR_TOKEN_CACHE_SECONDS": 0.2}, runtime=api_rt
    )
    server: WebServer = start_web(api_rt, app)
    yield Api(f"http://127.0.0.1:{server.port}")
    server.close()


@pytest.fixture
def make_token(api_rt: Runtime) -> Callable[..., str]:
    def make(*scopes: str, name: str = "screen-pop") -> str:
        with api_rt.uow() as session:
            return accounts.add_token(
                session, name=name, scopes=list(scopes), actor="test", now=utcnow()
            )

    return make


@pytest.fixture
def gateway(settings: Settings, tmp_path: Path) -> Iterator[Runtime]:
    """A runtime whose SMTP gateway listens on a loopback port of its own (its settings name
    it) and delivers into Maildirs under tmp_path/mail."""
    rt = bootstrap(
        settings.model_copy(
            update={
                "spool_dir": str(tmp_path / "spool"),
                "downstream": f"maildir:{tmp_path / 'mail'}",
            }
        )
    )
    smtp = SmtpGateway(rt).start()
    yield with_bound_port(rt, smtp)
    smtp.stop()
    rt.close()
