"""Reading sender addresses in forms that once slipped past a restriction (issue 18, item 2):
each must come out as the same canonical address as its plain form."""

from __future__ import annotations

import pytest

from gateway.mail.message import read_head
from routing.identity import normalise_email


def senders(head: bytes) -> list[str | None]:
    """The canonical sender identities routing would match, from a raw header block."""
    addresses = read_head(head + b"\r\n\r\nbody\r\n").sender_addresses
    return [normalise_email(a).value for a in addresses]


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ('"alex.example"@example.org', "alex.example@example.org"),
        ('"Alex.Example"@Example.ORG', "alex.example@example.org"),
        (r'"alex\.example"@example.org', "alex.example@example.org"),
        ('Alex <"alex.example"@example.org>', "alex.example@example.org"),
    ],
)
def test_a_needlessly_quoted_local_part_is_the_plain_address(raw, canonical) -> None:
    assert normalise_email(raw).value == canonical


@pytest.mark.parametrize(
    "raw",
    ['"alex example"@example.org', '"a..b"@example.org', '""@example.org', '"a@b"@example.org'],
)
def test_a_local_part_that_needs_its_quotes_is_still_refused(raw) -> None:
    assert not normalise_email(raw).ok


@pytest.mark.parametrize(
    "header",
    [
        b'From: "alex.example"@example.org',
        b'Sender: Alex <"alex.example"@example.org>',
        b"Reply-To: alex.example@example.org\x00",
        b"From: Alex <alex.example@example.org>\x00",
        b"From: Alex\r\n <alex.example@example.org>\x00",
        b"Resent-From: alex.example@example.org",
        b"Resent-Sender: alex.example@example.org",
    ],
)
def test_each_sender_form_reads_as_the_plain_address(header) -> None:
    assert senders(header) == ["alex.example@example.org"]


def test_a_raw_utf8_domain_reads_as_its_punycode_form() -> None:
    assert senders("From: Jo <jo@bücher.example>".encode()) == ["jo@xn--bcher-kva.example"]
    assert senders("From: jo@BÜCHER.example".encode()) == ["jo@xn--bcher-kva.example"]


def test_a_utf8_local_part_reads_as_written() -> None:
    assert senders("From: jö@example.org".encode()) == ["jö@example.org"]


def test_bytes_that_are_not_utf8_never_match_and_never_raise() -> None:
    assert senders(b"From: jo@b\xff\xfecher.example") == [None]
