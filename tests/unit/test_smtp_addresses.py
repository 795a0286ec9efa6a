"""The gateway's quick reading of MAIL and RCPT addresses agrees with aiosmtpd's parser.

GatewaySMTP reads an ordinary `<local@domain>` with a regular expression instead of the
email package's parser; for every argument it must give exactly what aiosmtpd would.
"""

from __future__ import annotations

import pytest
from aiosmtpd.smtp import SMTP
from hypothesis import given, settings
from hypothesis import strategies as st

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


@settings(max_examples=2000, deadline=None)
@given(st.lists(PIECES, max_size=12).map("".join))
def test_any_argument_reads_as_aiosmtpd_reads_it(arg: str) -> None:
    for candidate in (arg, f"<{arg}>", f"<jo@example.org> {arg}"):
        assert gateway_reads(candidate) == aiosmtpd_reads(candidate)
