"""A tiny stand-alone exporter process, the way an annotated ZARISH HIS pod would serve metrics.

Run as `python tests/exporter.py PORT PATH SERVICE ENVIRONMENT`; serves counters on PATH only.
"""

from __future__ import annotations

import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

START = time.time()


def main() -> None:
    port, path, service, environment = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != path:
                self.send_response(404)
                self.end_headers()
                return
            n = int((time.time() - START) * 10)
            body = (
                "# TYPE http_requests_total counter\n"
                f'http_requests_total{{service="{service}",status="200",environment="{environment}"}} {n}\n'
                f'http_requests_total{{service="{service}",status="500",environment="{environment}"}} {n // 10}\n'
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
