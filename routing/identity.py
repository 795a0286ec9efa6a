"""Identity normalisation: turn a raw email address or phone number into the one canonical form
the register matches on, or say plainly why that cannot be done.

Everything here is pure (no I/O, no framework imports) and total: every function accepts any
``str`` and never raises for it. A value is only produced when the input is understood; an input
that is merely close to an address or number is reported UNPARSEABLE rather than guessed at,
because a wrong guess could apply someone's restriction to a stranger.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from email.utils import parseaddr

import idna
import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult

from routing.enums import IdentityKind, IdentityState

# RFC 3696 (errata): 64 octets of local part + "@" + 255 of domain. Longer is not an address.
MAX_EMAIL_LENGTH = 320

# RFC 5322 caps a header line at 998 characters; a longer "Name <address>" is not a header
# value, and refusing it early bounds the work parseaddr does on hostile input.
_MAX_HEADER_LENGTH = 998

# Characters that only appear in an address inside a quoted local part or a domain literal
# ("[192.0.2.1]"), neither of which this module supports; seeing one outside those means a
# list, a comment or junk.
_ADDRESS_SPECIALS = frozenset('"(),:;<>[\\]')
# A local part that needs no quotes (RFC 5322 dot-atom, with RFC 6531's UTF-8), and the
# backslash pairs a quoted string may hold.
_DOT_ATOM = re.compile(r'[^\s"(),:;<>@\[\\\].]+(?:\.[^\s"(),:;<>@\[\\\].]+)*')
_QUOTED_PAIR = re.compile(r"\\(.)")

# Control, format (zero-width joiners, soft hyphens, bidi overrides) and lone surrogates:
# invisible on a staff screen, so two addresses that look identical could differ.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})

# What switches and CDRs write when the caller's number was not presented. Compared after
# lower-casing, unwrapping quotes/angle brackets and collapsing inner whitespace.
WITHHELD_MARKERS = frozenset(
    {
        "",
        "0",
        "anonymous",
        "private",
        "restricted",
        "unavailable",
        "unknown",
        "unknown caller",
        "withheld",
    }
)
_WITHHELD_WRAPPERS = "\"'<> \t\r\n"

# Digits and the separators people and switches actually use. Letters are refused before
# phonenumbers sees them, because it would otherwise read "0800 FLOWERS" as a vanity number
# or "ext 12" as an extension: both guesses.
_PHONE_CHARACTERS = frozenset("0123456789+-.()/ \t")

# Call logs repeat a few thousand distinct numbers over millions of rows; phonenumbers parses
# ~50k/s uncached, so a modest cache turns a log import from minutes into seconds.
PHONE_CACHE_SIZE = 16384

_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
_GB_COUNTRY_CODE = phonenumbers.country_code_for_region("GB")


@dataclass(frozen=True, slots=True)
class NormalisedIdentity:
    """A raw email address or phone number and what could be made of it.

    ``value`` is the canonical form when ``state`` is OK and ``None`` otherwise (never a
    guess); ``raw`` is the input exactly as given, kept for the record.
    """

    kind: IdentityKind
    state: IdentityState
    value: str | None
    raw: str

    @property
    def ok(self) -> bool:
        """True when the input was understood and ``value`` holds its canonical form."""
        return self.state is IdentityState.OK


def _ok(kind: IdentityKind, value: str, raw: str) -> NormalisedIdentity:
    return NormalisedIdentity(kind, IdentityState.OK, value, raw)


def _unparseable(kind: IdentityKind, raw: str) -> NormalisedIdentity:
    return NormalisedIdentity(kind, IdentityState.UNPARSEABLE, None, raw)


# --- email -----------------------------------------------------------------------------------


def normalise_email(raw: str, *, fold_plus: bool = False) -> NormalisedIdentity:
    """Normalise an email address to ``local@ascii-domain``, lower-cased.

    Accepts a bare address, one pair of angle brackets (``<jo@example.org>``) or a display-name
    form (``Jo Bloggs <jo@example.org>``). The domain is converted to its IDNA (punycode) form
    with UTS 46 mapping and loses any trailing dot. With ``fold_plus`` a ``+tag`` on the local
    part is dropped. The null sender ``<>`` (a bounce, which has no sender) and anything not
    understood are UNPARSEABLE. Never raises for a ``str``.
    """
    address = _extract_address(raw)
    value = None if address is None else _canonical_address(address, fold_plus=fold_plus)
    if value is None:
        return _unparseable(IdentityKind.EMAIL, raw)
    return _ok(IdentityKind.EMAIL, value, raw)


def _extract_address(raw: str) -> str | None:
    """The addr-spec inside ``raw``, or None when there is none to be had."""
    text = raw.strip()
    if text == "<>":
        # The SMTP null reverse-path: bounces and auto-replies carry it. There is no sender to
        # match, so it is UNPARSEABLE rather than an (empty) address.
        return None
    if len(text) > _MAX_HEADER_LENGTH:
        return None
    if text.startswith("<") and text.endswith(">"):
        return text[1:-1].strip()
    if "<" in text:
        return _address_from_display_form(text)
    return text


def _address_from_display_form(text: str) -> str | None:
    """The address in ``Name <address>``, using ``email.utils.parseaddr`` for quoted names."""
    if not text.endswith(">"):
        return None
    _name, address = parseaddr(text)
    # parseaddr is forgiving: it takes the first of a list, ignores trailing junk and squeezes
    # out whitespace. Only trust it when it agrees with what sits between the final brackets.
    bracketed = text[text.rfind("<") + 1 : -1].strip()
    if not address or address != bracketed:
        return None
    return address


def _canonical_address(address: str, *, fold_plus: bool) -> str | None:
    """``local@domain`` in canonical form, or None if ``address`` is not a usable addr-spec."""
    address = _without_needless_quotes(address)
    if not address or len(address) > MAX_EMAIL_LENGTH or _has_forbidden_character(address):
        return None
    # Exactly one "@": a second one is only legal inside a quoted local part, and quoted local
    # parts that need their quotes are refused (the '"' is in _ADDRESS_SPECIALS). They are
    # vanishingly rare in real mail and normalising them would need a full RFC 5322 parser.
    if address.count("@") != 1:
        return None
    local, _, domain = address.partition("@")
    if not local or not domain:
        return None
    ascii_domain = _canonical_domain(domain)
    if ascii_domain is None:
        return None
    value = f"{_canonical_local(local, fold_plus=fold_plus)}@{ascii_domain}"
    # Punycode can lengthen a domain, so the limit is checked again on the result.
    return value if len(value) <= MAX_EMAIL_LENGTH else None


def _without_needless_quotes(address: str) -> str:
    """``"alex.example"@example.org`` as ``alex.example@example.org``: RFC 5321 4.1.2 makes a
    quoted local part that would be a valid dot-atom the same mailbox, so it must match the
    same restriction. Anything else is returned unchanged (and refused after)."""
    local, at, domain = address.rpartition("@")
    if not at or len(local) < 2 or local[0] != '"' or local[-1] != '"':
        return address
    inner = _QUOTED_PAIR.sub(r"\1", local[1:-1])
    return f"{inner}@{domain}" if _DOT_ATOM.fullmatch(inner) else address


def _has_forbidden_character(address: str) -> bool:
    if address.isascii() and address.isprintable():
        # Plain ASCII: only spaces and the specials can be wrong (no invisible characters).
        return any(ch == " " or ch in _ADDRESS_SPECIALS for ch in address)
    return any(
        ch.isspace() or ch in _ADDRESS_SPECIALS or unicodedata.category(ch) in _INVISIBLE_CATEGORIES
        for ch in address
    )


def _canonical_local(local: str, *, fold_plus: bool) -> str:
    """Lower-cased (NFC) local part, with any ``+tag`` removed when ``fold_plus``."""
    # RFC 5321 lets a server treat local parts case-sensitively, but no mainstream provider
    # does, and a restriction must not be dodged by writing "Jo" for "jo". NFC so that an "é"
    # typed as e + combining accent matches the precomposed one (RFC 6530 recommends NFC).
    local = unicodedata.normalize("NFC", local.lower())
    if fold_plus:
        tag_start = local.find("+")
        # A local part that starts with "+" has nothing before the tag to keep: leave it alone.
        if tag_start > 0:
            local = local[:tag_start]
    return local


# Mail comes from a few thousand distinct domains; IDNA encoding costs more than the rest of
# an address's normalisation together, so each domain is encoded once.
@functools.lru_cache(maxsize=8192)
def _canonical_domain(domain: str) -> str | None:
    """The domain in lower-case ASCII (IDNA 2008 + UTS 46), without a trailing dot."""
    try:
        ascii_domain = idna.encode(domain, uts46=True).decode("ascii").lower()
    except UnicodeError:  # idna.IDNAError and its subclasses are UnicodeErrors
        return None
    # Strip after encoding: UTS 46 maps the ideographic full stop "。" to ".", so a trailing dot
    # can appear only then. The fully-qualified "example.org." is the same domain.
    ascii_domain = ascii_domain.removesuffix(".")
    if not ascii_domain or ascii_domain.endswith("."):
        return None
    return ascii_domain


# --- phone -----------------------------------------------------------------------------------


def normalise_phone(raw: str, *, region: str = "GB") -> NormalisedIdentity:
    """Normalise a phone number to E.164 (``+441632960001``).

    Withheld markers (empty, "anonymous", "withheld", "private", "unknown", "0", ... in any
    case, optionally quoted or in angle brackets) give WITHHELD. A caller-ID string
    ``"Name" <number>`` is reduced to the part inside the brackets. Other input is parsed with
    ``region`` as the default country and accepted if the number is possible (not necessarily
    valid: Ofcom's drama ranges are possible but not valid). Results are cached per distinct
    ``(raw, region)``. Never raises for a ``str``.
    """
    return _normalise_phone_cached(raw, region.upper())


@functools.lru_cache(maxsize=PHONE_CACHE_SIZE)
def _normalise_phone_cached(raw: str, region: str) -> NormalisedIdentity:
    # Cached as a whole: the result is immutable and depends only on (raw, region).
    number = _callerid_number(raw)
    if _is_withheld(number):
        return NormalisedIdentity(IdentityKind.PHONE, IdentityState.WITHHELD, None, raw)
    value = _to_e164(number, region)
    if value is None:
        return _unparseable(IdentityKind.PHONE, raw)
    return _ok(IdentityKind.PHONE, value, raw)


def _callerid_number(raw: str) -> str:
    """The number part of ``"Name" <number>`` (Asterisk's callerid form), else ``raw`` stripped."""
    text = raw.strip()
    if text.endswith(">") and "<" in text:
        text = text[text.rfind("<") + 1 : -1]
    return text.strip()


def _is_withheld(number: str) -> bool:
    token = " ".join(number.strip(_WITHHELD_WRAPPERS).split()).lower()
    return token in WITHHELD_MARKERS


def _to_e164(number: str, region: str) -> str | None:
    """``number`` in E.164, or None when it is not a possible full number."""
    if not number or not all(ch in _PHONE_CHARACTERS for ch in number):
        return None
    try:
        parsed = phonenumbers.parse(number, region)
    except NumberParseException:
        return None
    # is_possible_number also says yes to IS_POSSIBLE_LOCAL_ONLY ("960001" dialled without its
    # area code), whose E.164 form would be a wrong guess ("+44960001"): require a full number.
    if phonenumbers.is_possible_number_with_reason(parsed) != ValidationResult.IS_POSSIBLE:
        return None
    if parsed.extension:  # unreachable with letters refused, but an extension is not a line
        return None
    return phonenumbers.format_number(parsed, PhoneNumberFormat.E164)


def display_phone(e164: str) -> str:
    """A staff-friendly rendering of an E.164 number.

    UK numbers (+44, including the Crown Dependencies) in national format ("01632 960001"),
    others in international format ("+1 202-555-0143"). Input that is not a possible E.164
    number is returned unchanged. Never raises for a ``str``.
    """
    if not _E164.fullmatch(e164):
        return e164
    try:
        parsed = phonenumbers.parse(e164, None)
    except NumberParseException:
        return e164
    if not phonenumbers.is_possible_number(parsed):
        return e164
    is_uk = parsed.country_code == _GB_COUNTRY_CODE
    style = PhoneNumberFormat.NATIONAL if is_uk else PhoneNumberFormat.INTERNATIONAL
    return phonenumbers.format_number(parsed, style)


# --- either ----------------------------------------------------------------------------------


def normalise(
    raw: str, kind: IdentityKind, *, fold_plus: bool = False, region: str = "GB"
) -> NormalisedIdentity:
    """Normalise ``raw`` as an email address or a phone number, according to ``kind``.

    ``fold_plus`` applies to email, ``region`` to phone. Raises ValueError only for a ``kind``
    that is neither (a programming error, not a data one).
    """
    if kind == IdentityKind.EMAIL:
        return normalise_email(raw, fold_plus=fold_plus)
    if kind == IdentityKind.PHONE:
        return normalise_phone(raw, region=region)
    raise ValueError(f"unknown identity kind: {kind!r}")


def guess_kind(raw: str) -> IdentityKind:
    """EMAIL if ``raw`` contains "@", else PHONE: for free-text search boxes and imports."""
    return IdentityKind.EMAIL if "@" in raw else IdentityKind.PHONE
