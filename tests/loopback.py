"""The threaded loopback HTTP server under the API doubles (Grafana, Mimir): start on a free port, stop, URL."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LoopbackServer:
    server: ThreadingHTTPServer | None = None
    thread: threading.Thread | None = None

    def serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        """Serve `handler` on 127.0.0.1 with a free port, in a daemon thread (a failing test never hangs on it)."""
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        if self.thread is not None:
            self.thread.join(timeout=5)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"
