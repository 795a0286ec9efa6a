"""Sender forms that once slipped past a restriction (issue 18, item 2): a quoted local part,
a raw UTF-8 domain and a trailing NUL in a sender header. Each is sent over real SMTP through
the gateway, and the message must be redirected exactly as the plain form is."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway.runtime import Runtime
from gateway.settings import Settings
from routing.enums import EmailMeasure, IdentityKind, Role
from routing.lifecycle import Actor
from tests.integration.register_helpers import impose_restriction
from tests.integration.test_gateway import HOUSING, SPOC, delivered, running_gateway, send

QUOTED_CUSTOMER = "alex.example@example.org"
UTF8_CUSTOMER = "jo@bücher.example"
NUL_CUSTOMER = "sam.example@example.org"
BOUNCES = "bounces-77@lists.example.org"  # an envelope sender that names nobody restricted


@pytest.fixture
def gateway_rt(settings: Settings, tmp_path: Path) -> Iterator[Runtime]:
    with running_gateway(settings, tmp_path, f"maildir:{tmp_path / 'mail'}") as rt:
        yield rt


@pytest.fixture
def redirected(gateway_rt: Runtime, make_staff: Callable[[str, Role], Actor]) -> Runtime:
    """The gateway with each customer's mail redirected to the SPOC."""
    manager = make_staff("manager@council.example.org", Role.MANAGER)
    approver = make_staff("approver@council.example.org", Role.APPROVER)
    for address in (QUOTED_CUSTOMER, UTF8_CUSTOMER, NUL_CUSTOMER):
        impose_restriction(
            gateway_rt,
            manager,
            approver,
            [(address, IdentityKind.EMAIL)],
            email_measure=EmailMeasure.REDIRECT,
        )
    return gateway_rt


def message(header: bytes) -> bytes:
    return (
        header + b"\r\nTo: " + HOUSING.encode() + b"\r\nSubject: Bins\r\n"
        b"Message-ID: <" + str(abs(hash(header))).encode() + b"@example.org>\r\n"
        b"\r\nWhere is my bin?\r\n"
    )


@pytest.mark.parametrize(
    "header",
    [
        b'From: "alex.example"@example.org',
        b'From: Alex <"alex.example"@example.org>',
        b'Sender: "alex.example"@example.org',
        "From: jo@bücher.example".encode(),
        "Reply-To: Jo <jo@BÜCHER.example>".encode(),
        b"From: sam.example@example.org\x00",
        b"From: Sam <sam.example@example.org>\x00",
        b"Resent-From: sam.example@example.org",
    ],
    ids=[
        "quoted-from",
        "quoted-in-brackets",
        "quoted-sender",
        "utf8-domain-from",
        "utf8-domain-reply-to",
        "nul-after-address",
        "nul-after-brackets",
        "resent-from",
    ],
)
def test_a_restricted_sender_in_another_form_is_still_redirected(redirected, header) -> None:
    assert send(redirected, BOUNCES, [HOUSING], message(header))[0] == 250
    assert len(delivered(redirected, SPOC)) == 1
    assert delivered(redirected, HOUSING) == []


def test_an_unrestricted_quoted_sender_is_delivered_as_before(redirected) -> None:
    assert send(redirected, BOUNCES, [HOUSING], message(b'From: "pat.other"@example.org'))[0] == 250
    assert len(delivered(redirected, HOUSING)) == 1
    assert delivered(redirected, SPOC) == []
