"""The limit on SMTP sessions open at once (issue 18, item 5): one more than the limit is
answered 421 and closed, a place freed is taken again, and the refusal logs no address."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.mail import replies
from gateway.runtime import Runtime
from gateway.settings import Settings
from tests.integration.test_gateway import running_gateway
from tests.integration.test_smtp_protocol import RawSession
from tests.polling import wait_until

LIMIT = 3


@pytest.fixture
def limited_rt(settings: Settings, tmp_path: Path) -> Iterator[Runtime]:
    """The whole gateway, started from settings that allow LIMIT sessions at once."""
    limited = settings.model_copy(update={"smtp_max_connections": LIMIT})
    with running_gateway(limited, tmp_path, f"maildir:{tmp_path / 'mail'}") as rt:
        yield rt


def port_of(rt: Runtime) -> int:
    return int(rt.settings.smtp_listen.rpartition(":")[2])


def first_reply(port: int) -> tuple[str, bool]:
    """The greeting a new connection gets, and whether the server then hung up."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        replies_file = connection.makefile("rb")
        greeting = replies_file.readline().decode("ascii").removesuffix("\r\n")
        return greeting, replies_file.read() == b"" if not greeting.startswith("220") else False


def test_one_session_over_the_limit_gets_421_and_is_closed(limited_rt, caplog) -> None:
    held = [RawSession(port_of(limited_rt)) for _ in range(LIMIT)]  # idle, as an attacker's
    try:
        with caplog.at_level(logging.INFO):
            greeting, closed = first_reply(port_of(limited_rt))
        assert greeting == replies.TOO_MANY_CONNECTIONS
        assert closed
        refusals = [r.getMessage() for r in caplog.records if "refused an SMTP" in r.getMessage()]
        assert refusals and all("127.0.0.1" not in message for message in refusals)
        # The sessions already open carry on.
        assert held[0].command("EHLO client.test").startswith("250 ")
    finally:
        for session in held:
            session.close()


def test_a_place_freed_is_given_to_the_next_sender(limited_rt) -> None:
    held = [RawSession(port_of(limited_rt)) for _ in range(LIMIT)]
    try:
        assert first_reply(port_of(limited_rt))[0] == replies.TOO_MANY_CONNECTIONS
        held.pop().close()
        wait_until(
            lambda: first_reply(port_of(limited_rt))[0].startswith("220 "), 10, "a place freed"
        )
    finally:
        for session in held:
            session.close()
