"""What an email says, reduced to a fingerprint: the same text sent again gives the same hash.

Used by contact volume ("the same content sent again within 14 days"). The gateway reads
every message, so this stays cheap: no `email` package parse (milliseconds per message),
only byte splitting on the MIME boundaries and C-speed decoders. A fingerprint only has to
be the same for the same content from the same sender's mail program, so it need not be a
faithful MIME reading: text parts are decoded (quoted-printable, base64) and normalised,
attachments are hashed as their encoded bytes without line breaks.

Normalising the text drops what changes between two sendings of the same words: quoted
replies, the signature, "Sent from my phone" lines, spacing and capitals.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from dataclasses import dataclass

from routing.content import statutory_wording

TEXT_LIMIT = 16 * 1024  # characters of text normalised: enough to tell two messages apart
# Characters of the text screened for statutory wording, after the subject: requests say so
# at the start, and the screen's cost grows with every character.
SCREEN_LIMIT = 1024
PART_LIMIT = 50  # MIME parts looked at
NESTING_LIMIT = 5  # multipart inside multipart

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_HEADER_FIELD = re.compile(rb"^([!-9;-~]+):[ \t]*(.*(?:\r?\n[ \t].*)*)", re.MULTILINE)
_BOUNDARY = re.compile(rb'boundary\s*=\s*(?:"([^"\r\n]+)"|([^\s;"]+))', re.IGNORECASE)
_CHARSET = re.compile(rb'charset\s*=\s*"?([A-Za-z0-9_.:-]+)', re.IGNORECASE)
_WHITESPACE = re.compile(rb"[ \t\r\n]+")
_TAG = re.compile(r"<[^>]*>")
_STYLE = re.compile(r"<(style|script)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
# Where a quoted earlier message starts: everything from here on is someone else's words.
_REPLY_HEADER = re.compile(
    r"^(?:on\b.{0,200}\bwrote:\s*$|-{2,}\s*original message\s*-{2,}|"
    r"-{2,}\s*forwarded message\s*-{2,}|from:\s.+$|begin forwarded message:)",
    re.IGNORECASE,
)
_SENT_FROM = re.compile(r"^sent from (?:my |outlook|mail for)", re.IGNORECASE)
_MAYBE_SPECIAL = frozenset("-OoFfBbSs")


@dataclass(frozen=True, slots=True)
class ContentFacts:
    """What contact volume needs from a message's content."""

    fingerprint: str | None  # sha256 hex of the normalised text and attachments; None: empty
    statutory: bool  # statutory-request wording in the subject or the opening of the text


def read_content(message: bytes) -> ContentFacts:
    """The fingerprint of a raw message and whether its opening reads as a statutory request."""
    head, body = _split(message)
    fields = _fields(head)
    texts: list[str] = []
    attachments: list[bytes] = []
    _read_part(fields, body, texts, attachments, depth=0)
    texts = _prefer_plain(texts)
    text = normalise_text("\n".join(texts))
    subject = _header_text(fields.get(b"subject", b""))
    opening = f"{subject}\n{' '.join(texts)[:SCREEN_LIMIT]}"
    return ContentFacts(_fingerprint(text, attachments), statutory_wording(opening))


def normalise_text(text: str) -> str:
    """The words that were written: no quoted reply, signature, spacing or capitals."""
    kept = []
    for line in text[:TEXT_LIMIT].splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        first = stripped[0]
        if first == ">":
            continue  # quoted
        if first in _MAYBE_SPECIAL:  # only these lines can start a signature or a quote
            if line.rstrip() == "--" or _REPLY_HEADER.match(stripped):
                break  # the rest is a signature or someone else's message
            if _SENT_FROM.match(stripped):
                continue
        kept.append(stripped)
    return " ".join(" ".join(kept).split()).casefold()


def _fingerprint(text: str, attachments: list[bytes]) -> str | None:
    if not text and not attachments:
        return None  # empty messages are not "the same content" as each other
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass"))
    for attachment in sorted(attachments):
        digest.update(b"\x00" + attachment)
    return digest.hexdigest()


def _split(message: bytes) -> tuple[bytes, bytes]:
    match = _HEADER_END.search(message)
    if match is None:
        return message, b""
    return message[: match.start()], message[match.end() :]


def _fields(head: bytes) -> dict[bytes, bytes]:
    """Header fields by lower-case name (the first of each), unfolded."""
    fields: dict[bytes, bytes] = {}
    for name, value in _HEADER_FIELD.findall(head):
        fields.setdefault(name.lower(), _WHITESPACE.sub(b" ", value).strip())
    return fields


def _read_part(
    fields: dict[bytes, bytes],
    content: bytes,
    texts: list[str],
    attachments: list[bytes],
    *,
    depth: int,
) -> None:
    """Add a part's text, or its digest as an attachment; a multipart's parts in order."""
    kind = fields.get(b"content-type", b"text/plain")
    boundary = _BOUNDARY.search(kind) if kind.lower().startswith(b"multipart") else None
    if boundary is None or depth >= NESTING_LIMIT:
        text = _text_of(fields, content)
        if text is not None:
            texts.append(text)
        elif content.strip():
            attachments.append(_blob(content))
        return
    delimiter = b"\n--" + (boundary.group(1) or boundary.group(2))
    # Plain byte splitting (a regular expression would try every position of a large
    # attachment). The first piece is the preamble; a closing delimiter's epilogue starts
    # with "--" and is skipped.
    for piece in (b"\n" + content).split(delimiter)[1:PART_LIMIT]:
        if piece.startswith(b"--"):
            break
        head, part = _split(piece.lstrip(b" \t\r\n"))
        if head.strip() or part.strip():
            _read_part(_fields(head), part.rstrip(b"\r"), texts, attachments, depth=depth + 1)


def _prefer_plain(texts: list[str]) -> list[str]:
    # multipart/alternative repeats the text as HTML; the plain text alone is enough, and
    # the HTML often carries per-message markup that would make two sendings differ.
    return texts[:1]


def _text_of(fields: dict[bytes, bytes], content: bytes) -> str | None:
    """The part's text when it is a text part (not an attachment), else None."""
    kind = fields.get(b"content-type", b"text/plain").lower()
    disposition = fields.get(b"content-disposition", b"").lower()
    if not kind.startswith(b"text/") or disposition.startswith(b"attachment"):
        return None
    decoded = _decoded(fields.get(b"content-transfer-encoding", b"").lower(), content)
    text = decoded.decode(_charset(kind), errors="replace")
    if kind.startswith(b"text/html"):
        text = _TAG.sub(" ", _STYLE.sub(" ", text))
    return text


def _decoded(encoding: bytes, content: bytes) -> bytes:
    try:
        if encoding == b"base64":
            return binascii.a2b_base64(content)
        if encoding == b"quoted-printable":
            return binascii.a2b_qp(content)
    except (binascii.Error, ValueError):
        pass  # undecodable: the bytes as they are still identify the content
    return content


def _charset(kind: bytes) -> str:
    match = _CHARSET.search(kind)
    name = match.group(1).decode("ascii") if match else "utf-8"
    try:
        "".encode(name)
    except LookupError:
        return "utf-8"
    return name


def _blob(content: bytes) -> bytes:
    """An attachment's digest: its encoded bytes without line breaks or spacing."""
    return hashlib.sha256(content.translate(None, b" \t\r\n")).digest()


def _header_text(value: bytes) -> str:
    # Encoded words (=?utf-8?...?=) are left as they are: the subject only feeds the
    # statutory screen, and FOI subjects are almost always plain ASCII.
    return value.decode("utf-8", errors="replace")
