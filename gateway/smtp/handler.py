"""The SMTP handler: aiosmtpd owns the protocol, this small object owns the answers.

handle_RCPT checks the domain and the recipient limit; handle_DATA has the message decided on
a worker thread, then awaits the group-commit writer (fsync and the database must not stall
the event loop) and returns the reply it gets.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from concurrent.futures import Executor
from typing import Any

from gateway.mail import replies
from gateway.mail.intake import IntakeResult, MailIntake

log = logging.getLogger(__name__)


class GatewayHandler:
    def __init__(
        self,
        intake: MailIntake,
        accepted_domains: Iterable[str],
        max_recipients: int,
        executor: Executor,
    ) -> None:
        self._intake = intake
        self._accepted = frozenset(d.lower().rstrip(".") for d in accepted_domains)
        self._max_recipients = max_recipients
        self._executor = executor

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        """Advertise PIPELINING (RFC 2920): the reader takes commands sent ahead, in order.

        Senders then send MAIL, RCPT and DATA in one go instead of waiting for each reply.
        """
        session.host_name = hostname  # aiosmtpd leaves this to a handler that answers EHLO
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_exception(self, error: Exception) -> str:
        """A failure nobody foresaw: 451, so the sender keeps the message and tries again
        (aiosmtpd's own answer is a permanent 500 quoting the error), and a log line with its
        kind only, since its text can quote what the sender sent."""
        log.error("an SMTP session failed (%s); answered 451", type(error).__name__)
        return replies.TEMPORARY_FAILURE

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        if not _is_storable(address):
            return replies.BAD_SENDER_ADDRESS
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return replies.OK

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if not _is_storable(address):
            return replies.BAD_RECIPIENT_ADDRESS
        if len(envelope.rcpt_tos) >= self._max_recipients:
            return replies.TOO_MANY_RECIPIENTS
        domain = address.rpartition("@")[2].lower().rstrip(".")
        if domain not in self._accepted:
            return replies.RELAY_DENIED
        envelope.rcpt_tos.append(address)
        return replies.OK

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data = envelope.original_content or envelope.content or b""
        loop = asyncio.get_running_loop()
        prepared = await loop.run_in_executor(
            self._executor, self._intake.prepare, _sender(envelope), envelope.rcpt_tos, data
        )
        if isinstance(prepared, IntakeResult):
            return prepared.reply
        # Many sessions wait here together; the writer commits them as one batch.
        result = await asyncio.wrap_future(self._intake.store(prepared))
        return result.reply


def _is_storable(address: str) -> bool:
    """False for an address with bytes that are not UTF-8 (aiosmtpd keeps them as lone
    surrogates) or with a NUL: no database, header or downstream could carry it as it is,
    so it is refused now rather than with a 451 or a dead letter after DATA."""
    if "\x00" in address:
        return False
    try:
        address.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _sender(envelope: Any) -> str:
    """The envelope sender; "" for the null sender (bounces, auto-replies), which aiosmtpd
    keeps as "<>": to intake it is no address at all, so nothing is ever sent back to it."""
    address = envelope.mail_from or ""
    return "" if address == "<>" else address
