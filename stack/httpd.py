"""The small HTTP base the stack's own processes (workload exporters, webhook receiver) share; stdlib only,
so those processes start fast."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler


class Handler(BaseHTTPRequestHandler):
    def _send(self, status: int, body: str, ctype: str = "text/plain; charset=utf-8") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
