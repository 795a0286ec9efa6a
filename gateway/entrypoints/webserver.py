"""Serves the Flask app with waitress (a production WSGI server) on a background thread."""

from __future__ import annotations

import logging
import threading

from flask import Flask
from waitress import wasyncore
from waitress.server import create_server

from admin_ui import create_app
from gateway.runtime import Runtime

# waitress warns once per request queued behind busy threads: under a burst of calls that is
# thousands of lines about normal queueing, which would bury the warnings that matter.
logging.getLogger("waitress.queue").setLevel(logging.ERROR)
log = logging.getLogger(__name__)


class WebServer:
    def __init__(self, rt: Runtime, app: Flask | None = None) -> None:
        host, _, port = rt.settings.web_listen.rpartition(":")
        self._server = create_server(
            app or create_app(runtime=rt),
            host=host,
            port=int(port),
            threads=rt.settings.web_threads,
            ident="ccr-gateway",
        )
        self._thread = threading.Thread(target=self._server.run, name="ccr-web", daemon=True)
        self._close_lock = threading.Lock()
        self._closed = False

    @property
    def port(self) -> int:
        """The port it listens on: the one the system chose, if asked for port 0."""
        return int(self._server.effective_port)

    def start(self) -> WebServer:
        self._thread.start()
        return self

    def close(self) -> None:
        """Finish the requests in flight, then close every connection and the listener.

        The connections close on the server's own loop thread (through waitress's trigger):
        closed from here, the loop could be inside select() on a socket that just went
        away. The trigger itself is closed here, only after our pull of it has returned:
        waitress runs every queued thunk whenever any thread pulls, so a worker finishing a
        response can run ours before our own write to the trigger happens. Safe to call
        twice.
        """
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        server = self._server
        server.task_dispatcher.shutdown()
        if self._thread.is_alive():
            server.trigger.pull_trigger(self._close_connections)
            self._thread.join(timeout=10)
            if self._thread.is_alive():
                log.warning("the web server's loop did not stop within 10 s")
        server.close()  # the trigger and the listener; closing either twice is harmless

    def _close_connections(self) -> None:
        server = self._server
        for channel in list(server._map.values()):
            if channel is not server and channel is not server.trigger:
                channel.handle_close()
        wasyncore.dispatcher.close(server)  # the listener
        server.trigger.del_channel()  # an empty map ends the loop; the pipe stays open


def start_web(rt: Runtime, app: Flask | None = None) -> WebServer:
    """Start serving the web UI and API (the app built around `rt` unless one is given)."""
    return WebServer(rt, app).start()
