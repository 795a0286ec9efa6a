"""A customer's message made safe to show staff: its text (never its HTML, which could run
script or fetch tracking images in the reader's browser) and its attachments by name and
size. Tolerant of broken MIME: what cannot be parsed is shown as decoded raw text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from html.parser import HTMLParser

TEXT_LIMIT = 512 * 1024  # characters shown; a longer text says it was cut
# Tags after which a line ends, so paragraphs and table rows stay apart in the text.
_BLOCK_TAGS = frozenset(
    {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote"}
)
_SKIPPED_TAGS = frozenset({"script", "style", "head", "title"})


@dataclass(frozen=True, slots=True)
class Attachment:
    index: int  # its place among the message's attachments, for the download link
    filename: str
    content_type: str
    size: int


@dataclass(frozen=True, slots=True)
class ReadableMessage:
    text: str
    from_html: bool  # the message had no plain text part: this text was made from its HTML
    attachments: tuple[Attachment, ...]
    cut: bool = False


def readable(data: bytes) -> ReadableMessage:
    """The message's text and its attachments listed (their contents stay in the message)."""
    try:
        parsed = message_from_bytes(data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        text, from_html = _body_text(parsed)
        attachments = tuple(_listed(parsed))
    except Exception:  # broken MIME is still read by a person: the raw text, decoded
        text, from_html, attachments = data.decode("utf-8", errors="replace"), False, ()
    return ReadableMessage(text[:TEXT_LIMIT], from_html, attachments, len(text) > TEXT_LIMIT)


def attachment_bytes(data: bytes, index: int) -> tuple[Attachment, bytes] | None:
    """One attachment and its decoded contents, or None if there is no such attachment."""
    parsed = message_from_bytes(data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    for number, part in enumerate(parsed.iter_attachments()):
        if number == index:
            content = part.get_payload(decode=True) or b""
            return _attachment(number, part, len(content)), content
    return None


def _body_text(parsed: EmailMessage) -> tuple[str, bool]:
    body = parsed.get_body(preferencelist=("plain", "html"))
    if body is None:
        return "", False
    content = _part_text(body)
    if body.get_content_subtype() == "html":
        return html_to_text(content), True
    return content, False


def _part_text(part: Message) -> str:
    try:
        return str(part.get_content())  # type: ignore[attr-defined]
    except Exception:  # an unknown charset or bad transfer encoding: keep what is there
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else ""


def _listed(parsed: EmailMessage) -> list[Attachment]:
    listed = []
    for number, part in enumerate(parsed.iter_attachments()):
        payload = part.get_payload(decode=True)
        listed.append(_attachment(number, part, len(payload) if payload else 0))
    return listed


def _attachment(number: int, part: Message, size: int) -> Attachment:
    name = part.get_filename() or f"attachment-{number + 1}"
    # Only the last path segment, printable: a name is shown and offered as a file name.
    name = "".join(ch for ch in re.split(r"[\\/]", name)[-1] if ch.isprintable())
    return Attachment(number, name or f"attachment-{number + 1}", part.get_content_type(), size)


class _TextOfHtml(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping += 1
        elif tag in _BLOCK_TAGS:
            self.pieces.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.pieces.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.pieces.append(data)


def html_to_text(html: str) -> str:
    """The words of an HTML body, with line breaks where blocks end; markup, scripts and
    styles dropped."""
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.pieces).splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
