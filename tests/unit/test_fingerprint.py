"""Content fingerprints (routing.fingerprint): the same words sent again give the same hash."""

from __future__ import annotations

import base64
import quopri

import pytest

from routing.content import scan_text, statutory_wording
from routing.fingerprint import read_content


def plain(body: str, subject: str = "Bins", extra: str = "") -> bytes:
    return (
        f"From: jo@example.org\r\nTo: housing@council.example.org\r\nSubject: {subject}\r\n"
        f"Message-ID: <{hash(body)}@example.org>\r\n{extra}\r\n{body}"
    ).encode()


def alternative(text: str, boundary: str, html: str | None = None) -> bytes:
    html = html or f"<div dir=ltr id={boundary}><p>{text}</p></div>"
    return (
        "From: jo@example.org\r\nSubject: Bins\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        f"{quopri.encodestring(text.encode()).decode()}\r\n"
        f"--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n"
        f"--{boundary}--\r\n"
    ).encode()


def with_attachment(text: str, attachment: bytes, boundary: str) -> bytes:
    encoded = base64.encodebytes(attachment).decode().replace("\n", "\r\n")
    return (
        "From: jo@example.org\r\nSubject: Evidence\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
        "This is a multi-part message in MIME format.\r\n"
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\n{text}\r\n"
        f"--{boundary}\r\nContent-Type: application/pdf; name=x.pdf\r\n"
        "Content-Disposition: attachment; filename=x.pdf\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n"
        f"--{boundary}--\r\n"
    ).encode()


def fingerprint(message: bytes) -> str | None:
    return read_content(message).fingerprint


def test_the_same_words_with_other_spacing_capitals_and_headers_match() -> None:
    first = plain("Where is my   bin?\r\nIt was not collected.\r\n", subject="Bins")
    again = plain("where is my bin?\r\n\r\n  It was NOT collected.\r\n", subject="RE: Bins")
    assert fingerprint(first) == fingerprint(again)
    assert fingerprint(first) != fingerprint(plain("Where is my recycling box?\r\n"))


def test_quoted_replies_signatures_and_phone_footers_are_ignored() -> None:
    bare = plain("Please answer my complaint.\r\n")
    reply = plain(
        "Please answer my complaint.\r\n\r\nOn 20 Nov 2026, Housing <housing@council.example."
        "org> wrote:\r\n> We have received your email.\r\n> Regards\r\n"
    )
    quoted_inline = plain("> earlier words\r\nPlease answer my complaint.\r\n")
    signed = plain("Please answer my complaint.\r\n-- \r\nJo Example\r\n07700 900123\r\n")
    phone = plain("Please answer my complaint.\r\n\r\nSent from my iPhone\r\n")
    outlook = plain(
        "Please answer my complaint.\r\n\r\n-----Original Message-----\r\nFrom: Housing\r\n"
        "Sent: Monday\r\nSubject: RE: Bins\r\n\r\nDear Jo\r\n"
    )
    assert {fingerprint(m) for m in (bare, reply, quoted_inline, signed, phone, outlook)} == {
        fingerprint(bare)
    }


def test_multipart_messages_match_whatever_their_boundaries_and_html() -> None:
    first = alternative("I want a refund now.", "b1-abc")
    again = alternative("I want a refund now.", "zz-999-other")
    assert fingerprint(first) == fingerprint(again)
    assert fingerprint(first) == fingerprint(plain("I want a refund now.\r\n"))
    assert fingerprint(first) != fingerprint(alternative("I want a refund today.", "b1-abc"))


def test_attachments_count_as_content() -> None:
    report = b"%PDF-1.4 pretend report " * 200
    first = with_attachment("See attached.", report, "one")
    again = with_attachment("See attached.", report, "two")
    other = with_attachment("See attached.", report + b"!", "one")
    assert fingerprint(first) == fingerprint(again)
    assert fingerprint(first) != fingerprint(other)
    assert fingerprint(first) != fingerprint(plain("See attached.\r\n"))


def test_empty_messages_have_no_fingerprint_and_broken_ones_still_have_one() -> None:
    assert fingerprint(plain("")) is None
    assert fingerprint(plain("\r\n  \r\n-- \r\nsignature only\r\n")) is None
    broken = b"Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n\xff\xfe garbage"
    assert read_content(broken).fingerprint is not None
    assert read_content(b"").fingerprint is None


@pytest.mark.parametrize(
    ("subject", "body", "statutory"),
    [
        ("Freedom of Information request", "Please send me the figures.", True),
        ("Bins", "I make this request under the Freedom of\r\nInformation Act 2000.", True),
        ("Subject Access Request", "All my records please.", True),
        ("Question", "This is an EIR request about air quality.", True),
        ("Bins", "Where is my bin? It is necessary that you reply.", False),
        ("Their answer", "Their reply was not enough.", False),
    ],
)
def test_statutory_wording_is_found_in_the_subject_or_opening(subject, body, statutory) -> None:
    assert read_content(plain(body + "\r\n", subject=subject)).statutory is statutory


def test_only_the_opening_is_screened_for_statutory_wording() -> None:
    long_body = "Words about bins. " * 200 + "Freedom of Information"
    assert read_content(plain(long_body)).statutory is False


@pytest.mark.parametrize(
    "text",
    [
        "FOI: planning",
        "foia",
        "under the data  protection\nact",
        "my SAR.",
        "right of access",
        "Article 15 GDPR",
        "necessary",
        "their",
        "subject: access",
        "environmental information regulations",
        "freedom of speech",
    ],
)
def test_the_quick_statutory_screen_agrees_with_the_full_one(text: str) -> None:
    assert statutory_wording(text) is scan_text(text).statutory
