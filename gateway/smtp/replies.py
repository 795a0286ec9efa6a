"""Every SMTP reply the gateway gives, by name: handlers return these, tests compare with them."""

from __future__ import annotations

OK = "250 OK"
TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"
RELAY_DENIED = "550 5.7.1 Relaying denied: this gateway accepts mail for council domains only"
TEMPORARY_FAILURE = "451 4.3.0 Temporary failure, please try again later"
MESSAGE_TOO_BIG = "552 5.3.4 Message too big"


def queued(queue_id: str) -> str:
    """250 for a message stored durably and queued for delivery."""
    return f"250 2.0.0 Message accepted for delivery, queued as {queue_id}"


def restricted(text: str) -> str:
    """550 for a message a restriction refuses; the text names the permitted channel."""
    safe = " ".join(text.split()).encode("ascii", errors="replace").decode("ascii")
    return f"550 5.7.1 {safe}"
