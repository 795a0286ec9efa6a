"""Every SMTP reply the gateway gives, by name: handlers return these, tests compare with them.

The protocol replies that aiosmtpd also sends (354, 501, 503 around DATA) keep aiosmtpd's
wording, so a session reads the same whichever class answers. The replies that close the
connection name this host first, as RFC 5321 section 3.8 asks of a server that hangs up.
"""

from __future__ import annotations

OK = "250 OK"
QUEUED = "250 2.0.0 Message accepted for delivery"
START_MAIL_INPUT = "354 End data with <CR><LF>.<CR><LF>"

TOO_MANY_CONNECTIONS = "421 4.7.0 Too many connections, please try again later"
TEMPORARY_FAILURE = "451 4.3.0 Temporary failure, please try again later"
TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"

# RFC 5321 section 4.5.3.1.10 gives "500 Line too long" as the reply for a text line over
# the limit; aiosmtpd words it "500 Line too long (see RFC5321 4.5.3.1.6)".
LINE_TOO_LONG = "500 5.5.2 Line too long (see RFC 5321 4.5.3.1.6)"
STRICT_ASCII = "500 Error: strict ASCII mode"
DATA_SYNTAX = "501 Syntax: DATA"
NEED_RCPT = "503 Error: need RCPT command"

RELAY_DENIED = "550 5.7.1 Relaying denied: this gateway accepts mail for council domains only"
BAD_SENDER_ADDRESS = "553 5.1.7 The sender address is not valid UTF-8 or holds a NUL"
BAD_RECIPIENT_ADDRESS = "553 5.1.3 The recipient address is not valid UTF-8 or holds a NUL"
MESSAGE_TOO_BIG = "552 5.3.4 Message too big"
REJECTED_BY_RESTRICTION = "550 5.7.1"


def queued(queue_id: str) -> str:
    """250 for a message stored durably and queued for delivery."""
    return f"{QUEUED}, queued as {queue_id}"


def restricted(text: str) -> str:
    """550 for a message a restriction refuses; the text names the permitted channel."""
    safe = " ".join(text.split()).encode("ascii", errors="replace").decode("ascii")
    return f"{REJECTED_BY_RESTRICTION} {safe}"


def bare_lf(hostname: str) -> str:
    """521 and hang up: a LF without CR before it (SMTP smuggling), in Postfix's words."""
    return f"521 5.5.2 {hostname} Error: bare <LF> received"


def bare_cr(hostname: str) -> str:
    """521 and hang up: a CR without LF after it (SMTP smuggling), worded like bare_lf."""
    return f"521 5.5.2 {hostname} Error: bare <CR> received"
