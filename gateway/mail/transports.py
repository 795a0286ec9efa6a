"""Transports: how one copy reaches the downstream (SMTP, or a Maildir when there is none).

A transport sends one copy, or raises what the delivery job judges it by: TemporaryFailure
(tried again after a back-off) or PermanentFailure (a dead letter). One transport per
downstream serves the whole process; SMTP keeps one connection per worker thread.
"""

from __future__ import annotations

import contextlib
import os
import re
import smtplib
import socket
import ssl
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from gateway.mail.message import PLAIN_ADDRESS
from gateway.runtime import Runtime


class TemporaryFailure(Exception):
    """The downstream may accept later (4xx, connection trouble)."""


class PermanentFailure(Exception):
    """The downstream refused for good (5xx)."""


class Transport(Protocol):
    def send(self, envelope_from: str, target: str, data: bytes, copy_key: str) -> None:
        """Deliver one copy; `copy_key` names it uniquely and for good (queue id and copy id)."""


_transports: dict[str, Transport] = {}
_transports_lock = threading.Lock()


def transport(rt: Runtime) -> Transport:
    """The process's transport for the configured downstream."""
    key = rt.settings.downstream
    with _transports_lock:
        if key not in _transports:
            _transports[key] = make_transport(rt)
        return _transports[key]


def close_transports(downstream: str) -> None:
    """Close the connections a transport holds open (when its runtime closes)."""
    with _transports_lock:
        found = _transports.pop(downstream, None)
    if isinstance(found, SmtpTransport):
        found.close()


def make_transport(rt: Runtime) -> Transport:
    downstream = rt.settings.downstream
    if downstream.startswith("maildir:"):
        return MaildirTransport(Path(downstream.removeprefix("maildir:")))
    parts = urlsplit(downstream)
    assert parts.hostname and parts.port
    return SmtpTransport(
        parts.hostname,
        parts.port,
        rt.settings.smtp_hostname,
        starttls=rt.settings.downstream_starttls,
        ca_file=rt.settings.downstream_ca_file,
    )


class MaildirTransport:
    """One Maildir per recipient; tmp then new, with a file name fixed per delivery."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def send(self, envelope_from: str, target: str, data: bytes, copy_key: str) -> None:
        folder = self.root / _safe_folder(target)
        for sub in ("tmp", "new", "cur"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        # The queue id keeps names unique across databases: copy ids start again at 1 in a new
        # one, and a name already in new/ counts as delivered.
        name = f"ccr-{copy_key}.{socket.gethostname()}"
        final = folder / "new" / name
        if final.exists():
            return  # delivered before a crash stopped us recording it
        temporary = folder / "tmp" / name
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(temporary, final)
        descriptor = os.open(folder / "new", os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _safe_folder(address: str) -> str:
    # Addresses are normalised already; never let one climb out of the Maildir root.
    return address.replace("/", "_").replace("\\", "_").lstrip(".") or "_"


class SmtpTransport:
    """SMTP to the downstream server, one reused connection per worker thread."""

    def __init__(
        self,
        host: str,
        port: int,
        local_hostname: str,
        *,
        starttls: bool,
        ca_file: str | None = None,
    ) -> None:
        self.host, self.port, self.local_hostname, self.starttls = (
            host,
            port,
            local_hostname,
            starttls,
        )
        # When STARTTLS is used, certificate and host name are verified. It is used when the
        # downstream offers it (opportunistic, as between most mail servers), so a network
        # that strips the offer gets plain text: put the downstream on a trusted network.
        self._tls = ssl.create_default_context(cafile=ca_file)
        self._local = threading.local()
        self._open: set[smtplib.SMTP] = set()
        self._open_lock = threading.Lock()

    def send(self, envelope_from: str, target: str, data: bytes, copy_key: str) -> None:
        for last_try in (False, True):
            reused = getattr(self._local, "connection", None) is not None
            try:
                self._send_once(envelope_from, target, data)
                return
            except (TemporaryFailure, PermanentFailure):
                raise  # the downstream answered: the connection is still in step
            except smtplib.SMTPServerDisconnected as exc:
                # Sent again at once only when a reused connection had gone stale before the
                # message went: once it has, the downstream may have it, and it is for the
                # back-off to try again (RFC 5321 4.5.4.1), not a second copy now.
                stale = reused and not self._message_went()
                self._drop()
                if last_try or not stale:
                    closed = f"the downstream closed the connection ({exc})"
                    raise TemporaryFailure(closed) from None
            except BaseException:
                self._drop()  # a time-out mid-conversation: the connection is out of step
                raise

    def _message_went(self) -> bool:
        connection = getattr(self._local, "connection", None)
        return bool(getattr(connection, "message_went", False))

    def _send_once(self, envelope_from: str, target: str, data: bytes) -> None:
        try:
            connection = self._connection()
        except smtplib.SMTPResponseException as exc:  # a greeting or EHLO refused: 421 busy
            raise _failure(exc.smtp_code, exc.smtp_error) from None
        # Intake accepts internationalised addresses (SMTPUTF8); they go on only as such.
        options = [] if (envelope_from + target).isascii() else ["SMTPUTF8"]
        try:
            refused = connection.sendmail(envelope_from, [target], data, mail_options=options)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise _failure(code, text) from None
        except smtplib.SMTPResponseException as exc:
            self._reset(connection)
            raise _failure(exc.smtp_code, exc.smtp_error) from None
        except smtplib.SMTPNotSupportedError:
            self._reset(connection)
            raise PermanentFailure(
                "the downstream does not take internationalised addresses"
            ) from None
        if refused:
            code, text = next(iter(refused.values()))
            raise _failure(code, text)

    def _connection(self) -> smtplib.SMTP:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = _QuickSMTP(
                self.host, self.port, local_hostname=self.local_hostname, timeout=60
            )
            try:
                connection.ehlo()
                if self.starttls and connection.has_extn("starttls"):
                    connection.starttls(context=self._tls)
                    connection.ehlo()
            except BaseException:
                connection.close()
                raise
            self._local.connection = connection
            with self._open_lock:
                self._open.add(connection)
        return connection

    def close(self) -> None:
        with self._open_lock:
            connections, self._open = self._open, set()
        for connection in connections:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                connection.quit()
            connection.close()

    def _reset(self, connection: smtplib.SMTP) -> None:
        try:
            connection.rset()
        except smtplib.SMTPException:
            self._drop()

    def _drop(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            with self._open_lock:
                self._open.discard(connection)
            with contextlib.suppress(OSError):
                connection.close()


class _QuickSMTP(smtplib.SMTP):
    # Set once the message itself may have reached the server (from the DATA command on):
    # after that a lost connection must not be answered by sending the copy again at once.
    message_went = False

    """smtplib's client, minus its RFC 5322 parse of every envelope address.

    smtplib quotes each MAIL and RCPT address through email.utils.parseaddr, a large share
    of a send's CPU. Our addresses are normalised already: a plain one is sent as it is,
    anything else still goes through smtplib's own quoting.
    """

    def mail(self, sender: str, options: Sequence[str] = ()) -> tuple[int, bytes]:
        plain = sender == "" or _PLAIN_ADDRESS.fullmatch(sender)
        if not plain or any(option.lower() == "smtputf8" for option in options):
            return super().mail(sender, options)
        self.putcmd("mail", f"from:<{sender}>{self._option_list(options)}")
        return self.getreply()

    def rcpt(self, recip: str, options: Sequence[str] = ()) -> tuple[int, bytes]:
        if not _PLAIN_ADDRESS.fullmatch(recip):
            return super().rcpt(recip, options)
        self.putcmd("rcpt", f"to:<{recip}>{self._option_list(options)}")
        return self.getreply()

    def _option_list(self, options: Sequence[str]) -> str:
        return " " + " ".join(options) if options and self.does_esmtp else ""

    def sendmail(  # type: ignore[override]
        self,
        from_addr: str,
        to_addrs: Sequence[str],
        msg: bytes,
        mail_options: Sequence[str] = (),
        rcpt_options: Sequence[str] = (),
    ) -> dict[str, tuple[int, bytes]]:
        """Send MAIL, RCPT and DATA in one write when the server offers PIPELINING (RFC 2920).

        Two round trips per copy instead of four; smtplib's own sendmail (which never
        pipelines) handles everything else: several recipients, options, unusual addresses.
        """
        self.message_went = False
        self.ehlo_or_helo_if_needed()
        simple = (
            len(to_addrs) == 1
            and not mail_options
            and not rcpt_options
            and isinstance(msg, bytes)
            and (from_addr == "" or _PLAIN_ADDRESS.fullmatch(from_addr))
            and _PLAIN_ADDRESS.fullmatch(to_addrs[0])
        )
        if not simple or not self.has_extn("pipelining"):
            return super().sendmail(from_addr, to_addrs, msg, mail_options, rcpt_options)
        recipient = to_addrs[0]
        size = f" size={len(msg)}" if self.has_extn("size") else ""  # as smtplib words it
        self.send(f"mail from:<{from_addr}>{size}\r\nrcpt to:<{recipient}>\r\ndata\r\n")
        mail = self._reply_unless_closing()
        if mail[0] == 421:
            raise smtplib.SMTPSenderRefused(mail[0], mail[1], from_addr)
        rcpt = self._reply_unless_closing()
        if rcpt[0] == 421:
            raise smtplib.SMTPRecipientsRefused({recipient: rcpt})
        data = self.getreply()
        if data[0] == 354 and (mail[0] != 250 or rcpt[0] not in (250, 251)):
            self._end_empty_data()  # a server that said 354 regardless is owed the end mark
        if mail[0] != 250:
            raise smtplib.SMTPSenderRefused(mail[0], mail[1], from_addr)  # the caller resets
        if rcpt[0] not in (250, 251):
            self._reset_quietly()  # as smtplib does; the caller does not for this refusal
            raise smtplib.SMTPRecipientsRefused({recipient: rcpt})
        if data[0] != 354:
            raise smtplib.SMTPDataError(*data)
        self.message_went = True
        self.send(_dot_stuffed(msg))
        code, text = self.getreply()
        if code != 250:
            raise smtplib.SMTPDataError(code, text)
        return {}

    def data(self, msg: bytes | str) -> tuple[int, bytes]:
        """smtplib's DATA (the path without pipelining), noting that the message may go."""
        self.message_went = True
        return super().data(msg)

    def _reply_unless_closing(self) -> tuple[int, bytes]:
        """The next reply; after a 421 the server is closing, so no more replies are read."""
        reply = self.getreply()
        if reply[0] == 421:
            self.close()  # as smtplib does: the next copy gets a new connection
        return reply

    def _end_empty_data(self) -> None:
        self.send(b".\r\n")
        self.getreply()

    def _reset_quietly(self) -> None:
        # As smtplib does after a refusal: the connection stays usable for the next copy.
        with contextlib.suppress(smtplib.SMTPServerDisconnected):
            self.rset()


def _dot_stuffed(data: bytes) -> bytes:
    """The DATA payload as smtplib sends it: leading dots doubled, ended by CRLF.CRLF.

    smtplib doubles them with the expression (?m)^\\. , which is tried at every position:
    half a millisecond for a 100 KB message. A dot begins a line at the very start or
    after a line feed, and bytes.replace finds those at C speed, with the same result.
    """
    quoted = data.replace(b"\n.", b"\n..")
    if quoted.startswith(b"."):
        quoted = b"." + quoted
    end = b".\r\n" if quoted.endswith(b"\r\n") else b"\r\n.\r\n"
    return quoted + end


_PLAIN_ADDRESS = re.compile(PLAIN_ADDRESS)


def _failure(code: int, text: bytes | str) -> Exception:
    message = f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"
    return PermanentFailure(message) if 500 <= code < 600 else TemporaryFailure(message)
