"""Serves the Flask app with waitress (a production WSGI server) on a background thread."""

from __future__ import annotations

import threading

from waitress.server import create_server

from admin_ui import create_app
from gateway.bootstrap import Runtime


class WebServer:
    def __init__(self, rt: Runtime) -> None:
        host, _, port = rt.settings.web_listen.rpartition(":")
        self._server = create_server(
            create_app(runtime=rt), host=host, port=int(port), threads=8, ident="ccr-gateway"
        )
        self._thread = threading.Thread(target=self._server.run, name="ccr-web", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.effective_port)

    def start(self) -> WebServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.close()


def start_web(rt: Runtime) -> WebServer:
    """Start serving the web UI and API; returns the running server."""
    return WebServer(rt).start()
