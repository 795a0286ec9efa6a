"""Delivery to a downstream SMTP server over STARTTLS, with its certificate verified.

The downstream here refuses any transaction before STARTTLS, so a message that arrives
went over TLS; one whose certificate the gateway cannot verify is never sent.
"""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.bootstrap import bootstrap
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.smtp.protocol import BoundPortController
from gateway.smtp.server import SmtpGateway
from gateway.store.tables import MailDelivery
from routing.enums import DeliveryStatus
from tests.integration.smtp_helpers import (
    DOWNSTREAM_HOSTNAME,
    LOOPBACK,
    RecordingHandler,
    send_message,
)
from tests.polling import wait_until

SENDER = "pat.other@example.org"
HOUSING = "housing@council.example.org"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for the downstream at 127.0.0.1."""
    folder = tmp_path_factory.mktemp("downstream-tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    command = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    command += ["-subj", f"/CN={DOWNSTREAM_HOSTNAME}", "-addext", f"subjectAltName=IP:{LOOPBACK}"]
    command += ["-keyout", str(key), "-out", str(cert)]
    subprocess.run(command, check=True, capture_output=True)
    return cert, key


@pytest.fixture
def tls_downstream(certificate: tuple[Path, Path]) -> Iterator[tuple[int, RecordingHandler]]:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    handler = RecordingHandler()
    controller = BoundPortController(
        handler,
        hostname=LOOPBACK,
        port=0,
        server_hostname=DOWNSTREAM_HOSTNAME,
        tls_context=context,
        require_starttls=True,
    )
    controller.start()
    try:
        yield controller.port, handler
    finally:
        controller.stop()


def _gateway(settings: Settings, tmp_path: Path, downstream_port: int, **extra: object):
    rt = bootstrap(
        settings.model_copy(
            update={
                "spool_dir": str(tmp_path / "spool"),
                "downstream": f"smtp://{LOOPBACK}:{downstream_port}",
                **extra,
            }
        )
    )
    return rt, SmtpGateway(rt).start()


def _send(smtp: SmtpGateway) -> None:
    data = f"From: {SENDER}\r\nTo: {HOUSING}\r\nSubject: Bins\r\n\r\nWhere is my bin?\r\n"
    code, reply = send_message(smtp.port, SENDER, [HOUSING], data.encode())
    assert code == 250, reply


def _delivery(rt: Runtime) -> MailDelivery:
    with rt.session_factory() as session:
        return session.scalars(select(MailDelivery)).one()


def test_mail_goes_to_the_downstream_over_starttls_trusting_the_configured_ca(
    settings: Settings, tmp_path: Path, tls_downstream, certificate
) -> None:
    port, handler = tls_downstream
    rt, smtp = _gateway(settings, tmp_path, port, downstream_ca_file=str(certificate[0]))
    try:
        _send(smtp)
        wait_until(lambda: len(handler.received) == 1, 30, "the message downstream")
        [mail] = handler.received
        assert mail.rcpt_tos == (HOUSING,)
        assert mail.data.endswith(b"Where is my bin?\r\n")
        wait_until(
            lambda: _delivery(rt).status is DeliveryStatus.DELIVERED, 10, "the copy delivered"
        )
    finally:
        smtp.stop()
        rt.close()


def test_a_downstream_whose_certificate_cannot_be_verified_is_never_sent_to(
    settings: Settings, tmp_path: Path, tls_downstream
) -> None:
    port, handler = tls_downstream
    rt, smtp = _gateway(settings, tmp_path, port)  # the system's CAs do not know this one
    try:
        _send(smtp)
        failed = wait_until(
            lambda: (d := _delivery(rt)).attempts >= 1 and d, 30, "an attempt at the delivery"
        )
        assert failed.status is DeliveryStatus.PENDING  # kept and retried, not dropped
        assert "CERTIFICATE_VERIFY_FAILED" in (failed.last_error or "")
        assert handler.received == []
    finally:
        smtp.stop()
        rt.close()
