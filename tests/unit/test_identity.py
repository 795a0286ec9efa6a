"""Tests for routing.identity: email and phone normalisation.

Phone numbers are Ofcom's drama ranges only (01632 960xxx, 07700 900xxx, 020 7946 0xxx), except
one North American 555-01xx number (reserved for fiction) where a non-UK number is needed.
Email domains are example.org, example.com or .example only.
"""

from __future__ import annotations

import dataclasses
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from routing.enums import IdentityKind, IdentityState
from routing.identity import (
    MAX_EMAIL_LENGTH,
    NormalisedIdentity,
    display_phone,
    guess_kind,
    normalise,
    normalise_email,
    normalise_phone,
)

OK = IdentityState.OK
WITHHELD = IdentityState.WITHHELD
UNPARSEABLE = IdentityState.UNPARSEABLE


# --- NormalisedIdentity ----------------------------------------------------------------------


def test_identity_is_frozen_and_keeps_raw() -> None:
    result = normalise_email("  Jo@Example.org ")
    assert result == NormalisedIdentity(
        IdentityKind.EMAIL, OK, "jo@example.org", "  Jo@Example.org "
    )
    assert result.ok
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.value = "someone@example.org"  # type: ignore[misc]


def test_not_ok_has_no_value() -> None:
    result = normalise_email("not an address")
    assert not result.ok
    assert result.value is None
    assert result.raw == "not an address"


# --- email examples --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("jo@example.org", "jo@example.org"),
        ("JO@EXAMPLE.ORG", "jo@example.org"),
        ("  jo@example.org\t\n", "jo@example.org"),
        ("<jo@example.org>", "jo@example.org"),
        (" <Jo@Example.COM> ", "jo@example.com"),
        ("Jo Bloggs <jo@example.org>", "jo@example.org"),
        ('"Bloggs, Jo" <Jo@Example.org>', "jo@example.org"),
        ('"Jo <jo@example.com>" <jo@example.org>', "jo@example.org"),
        ("jo@example.org.", "jo@example.org"),
        ("Jo@BÜCHER.example", "jo@xn--bcher-kva.example"),
        ("jo@xn--bcher-kva.example", "jo@xn--bcher-kva.example"),
        ("jo@XN--BCHER-KVA.example", "jo@xn--bcher-kva.example"),
        ("jo@bücher.example.", "jo@xn--bcher-kva.example"),
        ("jo@example.org。", "jo@example.org"),  # ideographic full stop, mapped by UTS 46
        ("jo@ｅｘａｍｐｌｅ.org", "jo@example.org"),  # full-width letters, mapped by UTS 46
        ("jo+council@example.org", "jo+council@example.org"),  # kept without fold_plus
        ("JÖ@example.org", "jö@example.org"),
        ("jo.bloggs@sub.example.com", "jo.bloggs@sub.example.com"),
    ],
)
def test_email_ok(raw: str, expected: str) -> None:
    result = normalise_email(raw)
    assert (result.kind, result.state, result.value, result.raw) == (
        IdentityKind.EMAIL,
        OK,
        expected,
        raw,
    )


def test_idna_forms_meet() -> None:
    assert normalise_email("Jo@BÜCHER.example") == dataclasses.replace(
        normalise_email("jo@xn--bcher-kva.example"), raw="Jo@BÜCHER.example"
    )


def test_local_part_is_nfc() -> None:
    decomposed = "jo\u0065\u0301@example.org"  # e + combining acute
    assert normalise_email(decomposed).value == "jo\u00e9@example.org"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("jo+council@example.org", "jo@example.org"),
        ("Jo+Council@Example.org", "jo@example.org"),
        ("jo+a+b@example.org", "jo@example.org"),
        ("jo+@example.org", "jo@example.org"),
        ("+x@example.org", "+x@example.org"),  # nothing before the tag: left alone
        ("jo@example.org", "jo@example.org"),
    ],
)
def test_fold_plus(raw: str, expected: str) -> None:
    assert normalise_email(raw, fold_plus=True).value == expected


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param("<>", id="null-sender"),
        pytest.param(" <> ", id="null-sender-padded"),
        pytest.param("Mail Delivery System <>", id="null-sender-named"),
        pytest.param("jo.example.org", id="no-at"),
        pytest.param("jo@bloggs@example.org", id="two-at"),
        pytest.param('"jo@bloggs"@example.org', id="quoted-local"),
        pytest.param('"jo bloggs"@example.org', id="quoted-local-space"),
        pytest.param("@example.org", id="empty-local"),
        pytest.param("jo@", id="empty-domain"),
        pytest.param("jo@.", id="domain-only-dot"),
        pytest.param("jo@example.org..", id="two-trailing-dots"),
        pytest.param("jo@example..org", id="empty-label"),
        pytest.param("jo@-example.org", id="leading-hyphen"),
        pytest.param("jo@ex_ample.org", id="underscore"),
        pytest.param("jo@xn--zz.example", id="bad-a-label"),
        pytest.param("jo@" + "a" * 64 + ".example", id="label-too-long"),
        pytest.param("jo@[192.0.2.1]", id="domain-literal"),
        pytest.param("jo bloggs@example.org", id="space-in-local"),
        pytest.param("jo@exa mple.org", id="space-in-domain"),
        pytest.param("jo\t@example.org", id="tab"),
        pytest.param("jo\x00@example.org", id="nul"),
        pytest.param("jo\x7f@example.org", id="del"),
        pytest.param("jo\u200b@example.org", id="zero-width-space"),
        pytest.param("jo\u202e@example.org", id="bidi-override"),
        pytest.param("jo\ud800@example.org", id="lone-surrogate"),
        pytest.param("<<jo@example.org>>", id="two-bracket-pairs"),
        pytest.param("<jo@example.org", id="unclosed-bracket"),
        pytest.param("Jo <jo@example.org", id="named-unclosed"),
        pytest.param("Jo <jo@example.org> trailing", id="named-trailing-junk"),
        pytest.param("Jo <jo @ example.org>", id="named-spaced-address"),
        pytest.param("Jo <jo@example.org>, Al <al@example.org>", id="address-list"),
        pytest.param("jo@example.org, al@example.org", id="bare-list"),
        pytest.param("jo@example.org (Jo)", id="comment"),
        pytest.param("jo(x)@example.org", id="paren"),
        pytest.param("jo\\@example.org", id="backslash"),
        pytest.param("a" * 69 + "@" + ("b" * 60 + ".") * 4 + "example", id="over-320"),
    ],
)
def test_email_unparseable(raw: str) -> None:
    result = normalise_email(raw)
    assert (result.state, result.value, result.raw) == (UNPARSEABLE, None, raw)
    assert result.kind is IdentityKind.EMAIL


def test_email_length_limit_is_320() -> None:
    # 300 characters of local part leaves exactly 320 with "@example.org" (12 characters).
    at_limit = "a" * (MAX_EMAIL_LENGTH - len("@example.org")) + "@example.org"
    assert len(at_limit) == MAX_EMAIL_LENGTH
    assert normalise_email(at_limit).ok
    assert not normalise_email("a" + at_limit).ok


def test_email_length_checked_after_punycode() -> None:
    # Short as typed, longer than 320 once the domain labels are punycode-encoded.
    label = "ü" * 30
    domain = ".".join([label] * 8) + ".example"
    raw = "a" * 20 + "@" + domain
    assert len(raw) <= MAX_EMAIL_LENGTH
    assert not normalise_email(raw).ok


# --- phone examples --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("01632 960001", "+441632960001"),
        ("01632960001", "+441632960001"),
        ("+441632960001", "+441632960001"),
        ("+44 1632 960001", "+441632960001"),
        ("+44 (0)1632 960001", "+441632960001"),
        ("+44(0)1632960001", "+441632960001"),
        ("0044 1632 960001", "+441632960001"),
        ("0044 (0)1632 960001", "+441632960001"),
        ("(01632) 960001", "+441632960001"),
        ("01632-960-001", "+441632960001"),
        ("01632.960.001", "+441632960001"),
        ("  01632 960001  ", "+441632960001"),
        ("07700 900123", "+447700900123"),
        ("+44 7700 900123", "+447700900123"),
        ("020 7946 0000", "+442079460000"),
        ("+44 (0)20 7946 0999", "+442079460999"),
        ('"Jo Bloggs" <01632 960001>', "+441632960001"),
        ("Jo <+447700900999>", "+447700900999"),
        ("<07700900000>", "+447700900000"),
    ],
)
def test_phone_ok(raw: str, expected: str) -> None:
    result = normalise_phone(raw)
    assert (result.kind, result.state, result.value, result.raw) == (
        IdentityKind.PHONE,
        OK,
        expected,
        raw,
    )


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "anonymous",
        "Anonymous",
        "ANONYMOUS",
        "withheld",
        "Withheld",
        "private",
        "PRIVATE",
        "unknown",
        "unavailable",
        "restricted",
        "<unknown>",
        "unknown caller",
        "Unknown  Caller",
        "0",
        '"Anonymous" <anonymous>',
        '"Anonymous" <>',
        '"" <>',
        "<>",
        '"withheld"',
        "'Private'",
        "< restricted >",
        '"Unknown" <unknown>',
        "Jo <>",
    ],
)
def test_phone_withheld(raw: str) -> None:
    result = normalise_phone(raw)
    assert (result.kind, result.state, result.value, result.raw) == (
        IdentityKind.PHONE,
        WITHHELD,
        None,
        raw,
    )


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("0800 FLOWERS", id="vanity-letters"),
        pytest.param("01632 960001 ext 12", id="extension-word"),
        pytest.param("01632 960001 x12", id="extension-x"),
        pytest.param("01632 960001#", id="hash"),
        pytest.param("tel:+441632960001", id="tel-uri"),
        pytest.param("960001", id="local-only"),
        pytest.param("00", id="bare-idd"),
        pytest.param("+", id="bare-plus"),
        pytest.param("+44", id="country-code-only"),
        pytest.param("016329600011", id="too-long"),
        pytest.param("01632+960001", id="plus-in-middle"),
        pytest.param("1", id="one-digit"),
        pytest.param("anonymous caller", id="unlisted-marker"),
        pytest.param('"Anonymous" <sip:anonymous@anonymous.invalid>', id="sip-uri"),
        pytest.param("０１６３２ ９６０００１", id="full-width-digits"),
        pytest.param("9" * 300, id="very-long"),
    ],
)
def test_phone_unparseable(raw: str) -> None:
    result = normalise_phone(raw)
    assert (result.state, result.value, result.raw) == (UNPARSEABLE, None, raw)
    assert result.kind is IdentityKind.PHONE


def test_phone_region_is_the_default_country_only() -> None:
    assert normalise_phone("+44 1632 960001", region="US").value == "+441632960001"
    assert normalise_phone("01632 960001", region="gb").value == "+441632960001"
    assert normalise_phone("01632 960001", region="ZZ").state is UNPARSEABLE
    assert normalise_phone("+44 1632 960001", region="ZZ").value == "+441632960001"


def test_phone_is_cached() -> None:
    raw = "01632 960123"
    assert normalise_phone(raw) is normalise_phone(raw)
    # The raw value is kept per input, so different spellings get their own results.
    assert normalise_phone("+441632960123").raw == "+441632960123"


@pytest.mark.parametrize(
    ("e164", "expected"),
    [
        ("+441632960001", "01632 960001"),
        ("+447700900123", "07700 900123"),
        ("+442079460000", "020 7946 0000"),
        ("+12025550143", "+1 202-555-0143"),  # NANP 555-01xx: reserved for fiction
    ],
)
def test_display_phone(e164: str, expected: str) -> None:
    assert display_phone(e164) == expected


@pytest.mark.parametrize(
    "value",
    ["", "withheld", "01632 960001", "+44 1632 960001", "+44", "+0441632960001", "+44800FLOWERS"],
)
def test_display_phone_leaves_what_it_cannot_parse(value: str) -> None:
    assert display_phone(value) == value


# --- dispatch --------------------------------------------------------------------------------


def test_normalise_dispatches_on_kind() -> None:
    assert normalise("jo+x@example.org", IdentityKind.EMAIL, fold_plus=True).value == (
        "jo@example.org"
    )
    assert normalise("01632 960001", IdentityKind.PHONE).value == "+441632960001"
    assert normalise("+44 1632 960001", IdentityKind.PHONE, region="US").value == "+441632960001"
    assert normalise("jo@example.org", IdentityKind.PHONE).state is UNPARSEABLE
    assert normalise("01632 960001", IdentityKind.EMAIL).state is UNPARSEABLE


def test_normalise_refuses_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown identity kind"):
        normalise("jo@example.org", "fax")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ("jo@example.org", IdentityKind.EMAIL),
        ("Jo <jo@example.org>", IdentityKind.EMAIL),
        ("<>", IdentityKind.PHONE),
        ("01632 960001", IdentityKind.PHONE),
        ("", IdentityKind.PHONE),
        ("anonymous", IdentityKind.PHONE),
    ],
)
def test_guess_kind(raw: str, kind: IdentityKind) -> None:
    assert guess_kind(raw) is kind


# --- properties ------------------------------------------------------------------------------

_ATEXT = string.ascii_letters + string.digits + "!#$%&'*-/=?^_`{|}~"
ascii_locals = st.text(alphabet=_ATEXT, min_size=1, max_size=30)
labels = st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=20)
unicode_labels = st.sampled_from(["bücher", "münchen", "例え", "café", "straße", "ελληνικά"])
domains = st.builds(
    lambda parts, tld: ".".join([*parts, tld]),
    st.lists(labels | unicode_labels, min_size=0, max_size=3),
    st.sampled_from(["example.org", "example.com", "example"]),
)
emails = st.builds(lambda local, domain: f"{local}@{domain}", ascii_locals, domains)
# Loosely shaped input: arbitrary text either side of an "@", to reach the odd corners.
email_ish = st.builds(lambda a, b: f"{a}@{b}", st.text(max_size=30), st.text(max_size=30))


@given(st.text())
def test_email_never_raises(raw: str) -> None:
    result = normalise_email(raw)
    assert result.raw == raw
    assert (result.value is not None) == result.ok


@given(st.text())
def test_phone_never_raises(raw: str) -> None:
    result = normalise_phone(raw)
    assert result.raw == raw
    assert (result.value is not None) == result.ok


@given(st.text(), st.sampled_from(list(IdentityKind)), st.booleans())
def test_normalise_and_helpers_never_raise(raw: str, kind: IdentityKind, fold: bool) -> None:
    normalise(raw, kind, fold_plus=fold)
    guess_kind(raw)
    display_phone(raw)


@given(st.text(alphabet="0123456789+-.()/ <>\"'", max_size=25))
def test_phone_shaped_text_never_raises(raw: str) -> None:
    normalise_phone(raw)
    display_phone(raw)


@given(emails | email_ish | st.text(), st.booleans())
def test_email_idempotent(raw: str, fold: bool) -> None:
    first = normalise_email(raw, fold_plus=fold)
    if first.ok:
        assert first.value is not None
        assert normalise_email(first.value, fold_plus=fold).value == first.value
        assert normalise_email(f"<{first.value}>", fold_plus=fold).value == first.value
        assert normalise_email(f"Jo <{first.value}>", fold_plus=fold).value == first.value


@given(st.text(alphabet="0123456789+-.() ", max_size=25) | st.text())
def test_phone_idempotent(raw: str) -> None:
    first = normalise_phone(raw)
    if first.ok:
        assert first.value is not None
        assert normalise_phone(first.value).value == first.value
        assert first.value.startswith("+")
        assert first.value[1:].isdigit()


@given(emails)
def test_generated_emails_are_ok(raw: str) -> None:
    result = normalise_email(raw)
    assert result.ok
    assert result.value is not None
    assert result.value.isascii()
    assert result.value == result.value.lower()


def _swapcase(ch: str) -> str:
    # "ß".swapcase() is "SS": a different string, not a different case of the same one.
    swapped = ch.swapcase()
    return swapped if len(swapped) == 1 else ch


@given(emails, st.data())
def test_email_case_insensitive(raw: str, data: st.DataObject) -> None:
    flips = data.draw(st.lists(st.booleans(), min_size=len(raw), max_size=len(raw)))
    mixed = "".join(_swapcase(ch) if flip else ch for ch, flip in zip(raw, flips, strict=True))
    assert normalise_email(mixed).value == normalise_email(raw).value


@given(st.builds(lambda local, label: f"{local}@{label}.example.org", ascii_locals, labels))
def test_ascii_email_upper_equals_lower(raw: str) -> None:
    assert normalise_email(raw.upper()).value == normalise_email(raw.lower()).value


@given(ascii_locals.filter(lambda s: "+" not in s), st.text(alphabet=_ATEXT + "+"), domains)
def test_fold_plus_only_removes_the_tag(local: str, tag: str, domain: str) -> None:
    plain = normalise_email(f"{local}@{domain}")
    tagged = normalise_email(f"{local}+{tag}@{domain}", fold_plus=True)
    assert tagged.value == plain.value
    # Without a tag, folding changes nothing.
    assert normalise_email(f"{local}@{domain}", fold_plus=True).value == plain.value
    # Without fold_plus the tag is kept.
    kept = normalise_email(f"{local}+{tag}@{domain}").value
    assert kept is not None
    assert kept.startswith(f"{local.lower()}+{tag.lower()}@")


# National significant number split into (area code, subscriber number) for each drama range.
_DRAMA_RANGES = [
    ("1632", "960{:03d}"),  # 01632 960000-960999
    ("7700", "900{:03d}"),  # 07700 900000-900999
]


def _spellings(area: str, subscriber: str) -> list[str]:
    """Ways real people and systems write one UK number."""
    nsn = area + subscriber
    return [
        f"0{nsn}",
        f"0{area} {subscriber}",
        f"0{area} {subscriber[:3]} {subscriber[3:]}",
        f"(0{area}) {subscriber}",
        f"0{area}-{subscriber}",
        f"+44{nsn}",
        f"+44 {area} {subscriber}",
        f"+44 (0){area} {subscriber}",
        f"+44 (0) {area} {subscriber}",
        f"0044{nsn}",
        f"0044 {area} {subscriber}",
        f"0044 (0){area} {subscriber}",
        f'"Caller" <0{nsn}>',
    ]


@pytest.mark.parametrize(("area", "pattern"), _DRAMA_RANGES)
def test_every_drama_number_every_spelling(area: str, pattern: str) -> None:
    for n in range(1000):
        subscriber = pattern.format(n)
        expected = f"+44{area}{subscriber}"
        for raw in _spellings(area, subscriber):
            assert normalise_phone(raw).value == expected, raw


@given(
    st.sampled_from(_DRAMA_RANGES),
    st.integers(0, 999),
    st.lists(st.sampled_from([" ", "-", "."]), min_size=10, max_size=10),
)
def test_drama_numbers_with_any_separators(
    drama_range: tuple[str, str], n: int, separators: list[str]
) -> None:
    area, pattern = drama_range
    digits = f"0{area}{pattern.format(n)}"
    # Put a separator after each digit, as a form or switch might.
    spaced = "".join(d + sep for d, sep in zip(digits, separators, strict=False)) + digits[10:]
    assert normalise_phone(spaced).value == f"+44{digits[1:]}"


@given(st.integers(0, 999))
def test_london_drama_numbers(n: int) -> None:
    expected = f"+442079460{n:03d}"  # 020 7946 0xxx
    assert normalise_phone(f"020 7946 0{n:03d}").value == expected
    assert display_phone(expected) == f"020 7946 0{n:03d}"


_MARKERS = [
    "anonymous",
    "withheld",
    "private",
    "unknown",
    "unavailable",
    "restricted",
    "unknown caller",
    "0",
]


@st.composite
def withheld_spellings(draw: st.DrawFn) -> str:
    marker = draw(st.sampled_from(_MARKERS))
    flips = draw(st.lists(st.booleans(), min_size=len(marker), max_size=len(marker)))
    cased = "".join(ch.swapcase() if f else ch for ch, f in zip(marker, flips, strict=True))
    wrapped = draw(
        st.sampled_from(["{}", '"{}"', "'{}'", "<{}>", '"{}" <{}>', '"Caller" <{}>', ' "{}" '])
    )
    pad = draw(st.sampled_from(["", " ", "  ", "\t"]))
    return pad + wrapped.format(cased, cased) + pad


@given(withheld_spellings())
def test_withheld_spellings(raw: str) -> None:
    result = normalise_phone(raw)
    assert (result.state, result.value) == (WITHHELD, None)
