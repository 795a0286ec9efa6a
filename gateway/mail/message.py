"""Reading what routing needs from a raw message: sender identities, our loop-guard header,
and the words to screen. Tolerant of broken MIME and 8-bit headers: it never raises."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import Message
from email.parser import BytesHeaderParser
from email.utils import getaddresses

# Resent-From and Resent-Sender name whoever passed a message on: a restricted person
# resending an old message is still that person writing.
SENDER_HEADERS = ("From", "Sender", "Reply-To", "Resent-From", "Resent-Sender")
DECISION_HEADER = "X-CCR-Decision"
SCAN_LIMIT = 256 * 1024  # characters of text screened for statutory and safeguarding wording
_HEADER_END = re.compile(rb"\r?\n\r?\n")
# A dot-atom address (RFC 5321 4.1.2, the common case), as the SMTP edge and delivery
# accept it without quoting.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
PLAIN_ADDRESS = rf"{_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
# A bare address, or a display name of words only before one in angle brackets.
_PLAIN_SENDER = re.compile(rf"[ \t]*(?:({PLAIN_ADDRESS})|[A-Za-z0-9 ]*<({PLAIN_ADDRESS})>)[ \t]*")


@dataclass(frozen=True, slots=True)
class MessageHead:
    """The parts of the header block routing reads."""

    sender_addresses: tuple[str, ...]
    message_id: str | None
    decision_headers: tuple[str, ...]


def read_head(data: bytes) -> MessageHead:
    """Parse only the header block (fast: the body is not touched)."""
    match = _HEADER_END.search(data)
    head = data[: match.end()] if match else data
    parsed = BytesHeaderParser(policy=policy.compat32).parsebytes(head)
    addresses = []
    for name in SENDER_HEADERS:
        for field, value in parsed.raw_items():
            if field.lower() == name.lower():
                addresses.extend(header_addresses(_header_text(value)))
    message_id = parsed.get("Message-ID")
    return MessageHead(
        sender_addresses=tuple(addresses),
        message_id=str(message_id).strip()[:200] if message_id else None,
        decision_headers=tuple(str(v) for v in parsed.get_all(DECISION_HEADER, [])),
    )


def read_subject(data: bytes) -> str:
    """The Subject header, decoded (encoded words too), for the SPOC's queue; "" if none."""
    match = _HEADER_END.search(data)
    try:
        parsed = BytesHeaderParser(policy=policy.default).parsebytes(
            data[: match.end()] if match else data
        )
        return " ".join(str(parsed.get("Subject", "")).split())
    except Exception:  # a broken header is shown as no subject, never a lost message
        return ""


def _header_text(value: str) -> str:
    """A header value as its sender wrote it: raw UTF-8 read as UTF-8 (RFC 6532, which the
    gateway's SMTPUTF8 invites), and NULs dropped. The compat32 parser keeps 8-bit bytes as
    surrogates (raw_items keeps them), which no address matches; a NUL after an address would
    hide it likewise."""
    if not value.isascii():
        value = value.encode("ascii", "surrogateescape").decode("utf-8", "replace")
    return value.replace("\0", "")


def header_addresses(value: str) -> list[str]:
    """The addresses in one From, Sender or Reply-To value, as email.utils.getaddresses reads
    them. The common `jo@example.org` and `Jo Smith <jo@example.org>` are read by a regular
    expression (the full parser is a large share of the cost of taking in a message)."""
    plain = _PLAIN_SENDER.fullmatch(value)
    if plain is not None:
        return [plain.group(1) or plain.group(2)]
    return [address for _name, address in getaddresses([value]) if address]


def text_to_screen(data: bytes) -> str:
    """Subject and text parts, decoded as well as they can be, for the wording screens."""
    try:
        parsed = message_from_bytes(data, policy=policy.default)
        pieces = [str(parsed.get("Subject", ""))]
        pieces.extend(_text_parts(parsed))
        text = "\n".join(pieces)
    except Exception:  # broken MIME must still be screened: fall back to the raw bytes
        text = data.decode("utf-8", errors="replace")
    return text[:SCAN_LIMIT]


def _text_parts(parsed: Message) -> list[str]:
    parts = []
    for part in parsed.walk():
        if part.get_content_maintype() != "text":
            continue
        try:
            parts.append(str(part.get_content()))
        except Exception:  # an unknown charset or bad transfer encoding: keep what is there
            payload = part.get_payload(decode=True) or b""
            parts.append(payload.decode("utf-8", errors="replace"))
    return parts


# --- the loop guard ----------------------------------------------------------------------------


# A decision header is honoured this long after it was made: long enough for a message to
# come back through a mailbox rule or a slow forward, short enough that one leaked header is
# soon worth nothing.
LOOP_GUARD_SECONDS = 7 * 24 * 3600


def decision_signature(
    secret: bytes,
    queue_id: str,
    issued: int,
    message_id: str | None,
    target: str,
    body: str,
) -> str:
    """A short HMAC that proves a decision header came from this installation, at that time,
    for this message (its Message-ID and its body: see `body_digest`) on its way to this one
    mailbox: a header copied onto new text, sent to another mailbox, or kept for later,
    proves nothing."""
    signed = f"{queue_id}\n{issued}\n{signed_message_id(message_id)}\n{target.lower()}\n{body}"
    return hmac.new(secret, signed.encode(), hashlib.sha256).hexdigest()[:20]


_HEAD_END = re.compile(rb"\r?\n\r?\n")
_LINE_END_SPACE = re.compile(rb"[ \t]*\r?\n")


def body_digest(data: bytes) -> str:
    """SHA-256 of a message's body (everything after its header block), line endings and
    spaces before them evened out: the same when our headers are put in front of it or a
    relay rewrites line endings, different as soon as one word of the text changes."""
    found = _HEAD_END.search(data)
    body = data[found.end() :] if found else b""
    return hashlib.sha256(_LINE_END_SPACE.sub(b"\n", body).rstrip(b"\n")).hexdigest()


def signed_message_id(message_id: str | None) -> str:
    """The Message-ID as the store keeps it (printable characters only), so that the
    signature made at delivery from the stored value matches one checked on arrival."""
    return "".join(ch for ch in (message_id or "") if ch.isprintable())[:200]


def routed_by_us(
    head: MessageHead,
    data: bytes,
    recipients: Sequence[str],
    installation_id: str,
    secret: bytes,
    now: float,
) -> bool:
    """True when a decision header is ours, genuine, recent, and for this very message
    coming back to the one mailbox it was routed to (a copied, forged or stale header, new
    text under a genuine one, or other recipients: ignored)."""
    targets = {r.lower() for r in recipients}
    if len(targets) != 1:
        return False
    [target] = targets
    body = body_digest(data)
    for header in head.decision_headers:
        fields = dict(_fields(header))
        if fields.get("by") != installation_id or "id" not in fields:
            continue
        try:
            issued = int(fields.get("t", ""))
        except ValueError:
            continue
        if not -3600 <= now - issued <= LOOP_GUARD_SECONDS:  # an hour of clock skew
            continue
        expected = decision_signature(secret, fields["id"], issued, head.message_id, target, body)
        if hmac.compare_digest(fields.get("sig", ""), expected):
            return True
    return False


def _fields(header: str) -> list[tuple[str, str]]:
    pairs = []
    for part in header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep:
            pairs.append((key.strip().lower(), value.strip()))
    return pairs


def is_refusal_notice(decision: str, notice: str | None) -> bool:
    """Whether a stored copy is the notice to a sender that some recipients refused their
    message (it carries the refusal's text), rather than the message itself: a refused
    message still goes to the person who reads refused mail, as a "reject" copy too."""
    return decision == "reject" and notice is not None
