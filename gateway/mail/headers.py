"""What a delivered copy carries: the X-CCR-* routing headers, or a refusal notice.

The headers go in front of the original message, which is never touched; a copy going
back to a sender whose recipients were refused is a notice instead of the message.
"""

from __future__ import annotations

import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from gateway.mail.message import body_digest, decision_signature
from gateway.runtime import Runtime
from gateway.store.deliveries import ClaimedCopy


def routing_headers(rt: Runtime, copy: ClaimedCopy, original: bytes) -> bytes:
    """The X-CCR-* headers put in front of the original, untouched message."""
    installation = rt.settings.installation_id
    issued = int(time.time())
    signature = decision_signature(
        rt.secret, copy.queue_id, issued, copy.message_id, copy.target, body_digest(original)
    )
    lines = [
        f"X-CCR-Decision: {copy.decision}; by={installation}; id={copy.queue_id}; t={issued}; "
        f"sig={signature}",
        f"X-CCR-Restriction: {copy.restriction_ref or 'none'}",
        _folded("X-CCR-Original-Recipients", copy.original_recipients),
    ]
    if copy.flags:
        lines.append(f"X-CCR-Flags: {', '.join(copy.flags)}")
    return "".join(line + "\r\n" for line in lines).encode("ascii", errors="replace")


def _folded(name: str, values: list[str], width: int = 78) -> str:
    """A header listing values, comma-separated and folded under `width` characters a line
    (RFC 5322 2.1.1): thirty recipients must not make one line past the 998 limit."""
    lines = [f"{name}:"]
    for n, value in enumerate(values):
        piece = f" {value}" + ("," if n < len(values) - 1 else "")
        if len(lines[-1]) + len(piece) > width and lines[-1] != f"{name}:":
            lines.append("")
        lines[-1] += piece
    return "\r\n".join(lines)


def refusal_notice(rt: Runtime, copy: ClaimedCopy) -> bytes:
    """A plain notice to the sender that some recipients were refused (the rest went on)."""
    notice = EmailMessage()
    domain = rt.settings.accepted_domains[0]
    notice["From"] = f"Mail Delivery System <mailer-daemon@{domain}>"
    notice["To"] = copy.target
    notice["Subject"] = "Your message was not delivered to some recipients"
    notice["Date"] = formatdate(localtime=False)
    notice["Message-ID"] = make_msgid(domain=domain)
    notice["Auto-Submitted"] = "auto-replied"
    notice.set_content(
        "Your message was not delivered to: "
        + ", ".join(copy.original_recipients)
        + ".\n\n"
        + (copy.notice or "")
        + "\n\nThe original message is not attached.\n"
    )
    crlf = notice.policy.clone(linesep="\r\n")
    # No X-CCR-Decision here: the notice goes to the customer, and a signed decision header
    # in their hands is one they could try to put on their next message.
    return notice.as_bytes(policy=crlf)
