"""The gateway's quick reading of addresses agrees with the parsers it stands in for.

GatewaySMTP reads an ordinary MAIL or RCPT `<local@domain>`, and intake an ordinary From,
Sender or Reply-To, with a regular expression instead of the email package's parsers; for
every input they must give exactly what aiosmtpd and email.utils.getaddresses would.
"""

from __future__ import annotations

from email.utils import getaddresses

import pytest
from aiosmtpd.smtp import SMTP
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.mail.message import header_addresses
from gateway.smtp.protocol import GatewaySMTP


class _NoHandler:
    pass


SESSION = GatewaySMTP(_NoHandler())

# Characters that matter to the grammar, so that generated arguments hit its edges.
PIECES = st.sampled_from(
    ["jo", "x.y", "a+b", "o'neil", "..", ".", "@", "<", ">", " ", "\t", "\x0b", "(", ")",
     '"', "\\", "[", "]", "1.2.3.4", "example.org", "-", "SIZE=100", "BODY=8BITMIME", "é", ":"]
)  # fmt: skip


def outcome(read: object, arg: str) -> object:
    """What reading gives, or the exception it raises (aiosmtpd's parser raises on a lone
    "<"; the gateway must fail in the same way, never differently)."""
    try:
        return read(arg)  # type: ignore[operator]
    except Exception as exc:
        return type(exc)


def aiosmtpd_reads(arg: str) -> object:
    return outcome(lambda a: SMTP._getaddr(SESSION, a), arg)


def gateway_reads(arg: str) -> object:
    return outcome(SESSION._getaddr, arg)


@pytest.mark.parametrize(
    "arg",
    [
        "<jo@example.org>",
        "<jo.x+y@mail.example.org> SIZE=100 BODY=8BITMIME",
        "<jo@example.org> ",
        "<jo@example.org>\tSIZE=1",
        "<jo@example.org>  (a comment) SIZE=1",
        "<jo@example.org> \x0bSIZE=1",
        "<>",
        '<"quoted local"@example.org>',
        "jo@example.org",
        "<a..b@example.org>",
        "<jo@example.org>junk",
        "<jo@[192.0.2.1]>",
        " <jo@example.org>",
        "<@relay.example.org:jo@example.org>",
        "<" + "l" * 65 + "@example.org>",
    ],
)
def test_known_arguments_read_as_aiosmtpd_reads_them(arg: str) -> None:
    assert gateway_reads(arg) == aiosmtpd_reads(arg)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(PIECES, max_size=12).map("".join))
def test_any_argument_reads_as_aiosmtpd_reads_it(arg: str) -> None:
    for candidate in (arg, f"<{arg}>", f"<jo@example.org> {arg}"):
        assert gateway_reads(candidate) == aiosmtpd_reads(candidate)


# --- sender headers ----------------------------------------------------------------------


def getaddresses_reads(value: str) -> list[str]:
    return [address for _name, address in getaddresses([value]) if address]


@pytest.mark.parametrize(
    "value",
    [
        "jo@example.org",
        "Jo Smith <jo@example.org>",
        "<jo@example.org>",
        "  Jo Smith   <jo.smith+x@mail.example.org>  ",
        '"Smith, Jo" <jo@example.org>',
        "Jo <jo@example.org>, Pat <pat@example.org>",
        "jo@example.org (Jo Smith)",
        "J. Smith <jo@example.org>",
        "Jo Smith <jo@example.org",
        "undisclosed-recipients:;",
        "Jo Smith\r\n <jo@example.org>",
        "",
    ],
)
def test_known_sender_headers_read_as_getaddresses_reads_them(value: str) -> None:
    assert header_addresses(value) == getaddresses_reads(value)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(PIECES | st.sampled_from(["Jo Smith ", ",", ";"]), max_size=12).map("".join))
def test_any_sender_header_reads_as_getaddresses_reads_it(value: str) -> None:
    for candidate in (value, f"Jo {value}", f"{value} <jo@example.org>"):
        assert header_addresses(candidate) == getaddresses_reads(candidate)
