"""A webhook receiver on 127.0.0.1 for the tests that start a real Alertmanager: it records every
notification posted to it, and the `hook` fixture stops it however the test ends."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


class Hook:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def alerts(self) -> list[dict[str, Any]]:
        """Every alert of every notification, in arrival order."""
        return [a for n in list(self.received) for a in n["alerts"]]

    def delivered(self) -> dict[str, set[str]]:
        """Receiver -> names (alertname/service) of the alerts it got."""
        out: dict[str, set[str]] = {}
        for n in list(self.received):
            for a in n["alerts"]:
                out.setdefault(n["receiver"], set()).add(f"{a['labels']['alertname']}/{a['labels'].get('service', '')}")
        return out

    def services(self) -> set[str]:
        """The services (or, for alerts without one, the alert names) delivered."""
        return {a["labels"].get("service", a["labels"]["alertname"]) for a in self.alerts}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    try:
        yield h
    finally:
        h.close()
