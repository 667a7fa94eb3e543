"""The threaded loopback HTTP server under the API doubles (Grafana, Mimir): start on a free port, stop, URL, and
the faults a test injects and the requests the double saw."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar


class _Request(Protocol):
    method: str


FaultT = TypeVar("FaultT")
SeenT = TypeVar("SeenT", bound=_Request)


class LoopbackServer(Generic[FaultT, SeenT]):
    """A double serves `handler_class()` with itself as the handler's `double`; it keeps `faults` to inject and the
    requests it `seen`, under `lock`."""

    server: ThreadingHTTPServer | None = None
    thread: threading.Thread | None = None
    write_methods: ClassVar[tuple[str, ...]] = ()
    lock: Any
    faults: list[FaultT]
    seen: list[SeenT]

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def start(self) -> Self:
        self.serve(type("Handler", (self.handler_class(),), {"double": self}))
        return self

    def inject(self, fault: FaultT) -> None:
        with self.lock:
            self.faults.append(fault)

    def writes(self) -> list[SeenT]:
        return [s for s in self.seen if s.method in self.write_methods]

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
