"""The webhook receiver Alertmanager notifies: `python -m zarish_obs.stack.receiver FILE PORT`.

Stdlib only. Every POST body is appended to FILE as one JSON line
(`{"received_at": ..., "path": ..., "payload": <Alertmanager's webhook JSON>}`), so tests and the demo
can see exactly which alerts, with which labels, reached the end of the pipeline.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from zarish_obs.stack import httpd


def read_notifications(path: Path) -> list[dict[str, Any]]:
    """Every recorded notification, oldest first (a half-written last line is skipped)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    out = []
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def received_alerts(path: Path, status: str | None = "firing") -> list[dict[str, Any]]:
    """The individual alerts in the recorded notifications (optionally only firing or resolved ones)."""
    out = []
    for note in read_notifications(path):
        payload = note.get("payload")
        if not isinstance(payload, dict):
            continue
        for alert in payload.get("alerts") or []:
            if isinstance(alert, dict) and (status is None or alert.get("status") == status):
                out.append(alert)
    return out


def serve(path: Path, port: int) -> None:
    lock = threading.Lock()

    class Handler(httpd.Handler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            try:
                payload: Any = json.loads(body)
            except ValueError:
                payload = body.decode("utf-8", "replace")
            line = json.dumps({"received_at": time.time(), "path": self.path, "payload": payload})
            with lock, open(path, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")
            self._send(200, "ok\n")

        def do_GET(self) -> None:
            if self.path == "/-/ready":
                self._send(200, "ok\n")
            elif self.path == "/alerts":
                self._send(200, json.dumps(read_notifications(path)) + "\n", "application/json")
            else:
                self._send(404, "not found\n")

        def log_message(self, format: str, *args: Any) -> None:
            print(f"{self.address_string()} {format % args}", file=sys.stderr, flush=True)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python -m zarish_obs.stack.receiver FILE PORT")
    serve(Path(sys.argv[1]), int(sys.argv[2]))
