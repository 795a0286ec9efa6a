"""Starts the SMTP gateway (aiosmtpd on its own thread) around the runtime."""

from __future__ import annotations

import ssl
from concurrent.futures import ThreadPoolExecutor

from gateway.mail.intake import MailIntake
from gateway.mail.spool import Spool
from gateway.runtime import Runtime
from gateway.smtp.handler import GatewayHandler
from gateway.smtp.protocol import GatewayController


class SmtpGateway:
    """The listening gateway: start() and stop() it; `port` says where it listens."""

    def __init__(self, rt: Runtime) -> None:
        settings = rt.settings
        host, _, port = settings.smtp_listen.rpartition(":")
        self._register = rt.register
        self._executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="ccr-intake")
        self._intake = MailIntake(rt, Spool(settings.spool_dir))
        handler = GatewayHandler(
            self._intake,
            settings.accepted_domains,
            settings.max_recipients,
            self._executor,
        )
        self._controller = GatewayController(
            handler,
            hostname=host,
            port=int(port),
            server_hostname=settings.smtp_hostname,
            ident="ccr-gateway",
            data_size_limit=settings.max_message_bytes,
            max_connections=settings.smtp_max_connections,
            enable_SMTPUTF8=True,
            decode_data=False,
            tls_context=_tls_context(settings.tls_cert_file, settings.tls_key_file),
        )

    @property
    def port(self) -> int:
        """The port it listens on: the one the system chose, once started, if asked for 0."""
        return int(self._controller.port)

    def start(self) -> SmtpGateway:
        # Load the register before listening: the first senders must not wait for it.
        self._register.snapshot()
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()
        self._executor.shutdown(wait=True)
        self._intake.close()


def _tls_context(cert_file: str | None, key_file: str | None) -> ssl.SSLContext | None:
    if not (cert_file and key_file):
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context
