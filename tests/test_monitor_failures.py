"""`monitor check` when Prometheus is down, broken, hanging or picky; and its usage errors.

Tiny HTTP servers on 127.0.0.1 play the broken Prometheus. The check must end UNKNOWN (exit 3) with a
clear message inside its deadline, and never leak credentials.
"""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from zarish_obs.procs import free_port
from zarish_obs.stack.main import main

EMPTY = json.dumps({"status": "success", "data": {"resultType": "vector", "result": []}}).encode()
Reply = Callable[[dict[str, Any]], tuple[int, bytes]]


class Fake:
    """Records every request (path, query parameters, headers) and answers with `reply(request)`."""

    def __init__(self, reply: Reply):
        self.reply = reply
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()


@contextmanager
def fake_server(reply: Reply, tls: tuple[Path, Path] | None = None) -> Iterator[tuple[str, Fake]]:
    """A stub Prometheus API on 127.0.0.1 (HTTPS with the given cert and key)."""
    fake = Fake(reply)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            req = {"path": parts.path, "params": {k: v[0] for k, v in parse_qs(parts.query).items()},
                   "headers": dict(self.headers.items())}
            fake.requests.append(req)
            status, body = fake.reply(req)
            if status == 0:  # hang until the test ends
                fake.release.wait(60)
                return
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    scheme = "http"
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(tls[0]), str(tls[1]))
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}", fake
    finally:
        fake.release.set()
        server.shutdown()
        server.server_close()


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any] | None, str, float]:
    """Run the CLI in-process: exit code, the JSON report (if any), stderr, wall seconds."""
    capsys.readouterr()
    started = time.monotonic()
    rc = main(["monitor", "check", "--format", "json", "--at", "1795000000", *args])
    elapsed = time.monotonic() - started
    captured = capsys.readouterr()
    report = json.loads(captured.out) if captured.out.strip() else None
    return rc, report, captured.err, elapsed


def test_unreachable_url_is_unknown_within_the_deadline(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    rc, report, err, elapsed = check(capsys, "--prometheus-url", url)
    assert rc == 3 and report is not None and report["status"] == "unknown"
    assert report["errors"] == [f"{url}: cannot connect: connection refused; no query answered"]
    assert "connection refused" in err
    assert elapsed < 20  # the default deadline; the library's own retries alone took ~6 s
    assert all(t["fired"] is None for t in report["dr_triggers"])


def test_server_error_is_retried_then_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    with fake_server(lambda r: (500, b'{"status":"error","error":"storage is on fire"}')) as (url, fake):
        rc, report, _, _ = check(capsys, "--prometheus-url", url)
    assert rc == 3 and report is not None
    assert report["errors"] == [f"{url}: HTTP 500: storage is on fire; no query answered"]
    assert len(fake.requests) == 3  # one query, two retries, then nothing more is sent


def test_garbage_answer_is_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    with fake_server(lambda r: (200, b"<html>this is a login page</html>")) as (url, fake):
        rc, report, _, _ = check(capsys, "--prometheus-url", url)
    assert rc == 3 and report is not None
    assert "not JSON" in report["errors"][0] and len(fake.requests) == 1


def test_wrong_result_type_is_a_bad_answer(capsys: pytest.CaptureFixture[str]) -> None:
    body = json.dumps({"status": "success", "data": {"resultType": "scalar", "result": [1, "1"]}}).encode()
    with fake_server(lambda r: (200, body)) as (url, _):
        rc, report, _, _ = check(capsys, "--prometheus-url", url)
    assert rc == 3 and report is not None and "not an instant vector" in report["errors"][0]


def test_hanging_server_ends_within_the_deadline(capsys: pytest.CaptureFixture[str]) -> None:
    with fake_server(lambda r: (0, b"")) as (url, _):
        rc, report, _, elapsed = check(capsys, "--prometheus-url", url, "--deadline", "3", "--timeout", "10")
    assert rc == 3 and report is not None
    assert "no answer within" in report["errors"][0]
    assert elapsed < 3.5  # a functional requirement (the deadline), with room for the report


def test_flaky_server_is_retried(capsys: pytest.CaptureFixture[str]) -> None:
    calls = {"n": 0}

    def reply(req: dict[str, Any]) -> tuple[int, bytes]:
        calls["n"] += 1
        return (503, b"busy") if calls["n"] <= 2 else (200, EMPTY)

    with fake_server(reply) as (url, fake):
        rc, report, _, _ = check(capsys, "--prometheus-url", url)
    assert report is not None and report["errors"] == []  # the server answered in the end
    assert rc == 3  # ... that it has no data: missing data is never OK
    assert len(fake.requests) == report["queries"] + 2 == report["requests_sent"]


def test_every_query_is_evaluated_at_one_instant(capsys: pytest.CaptureFixture[str]) -> None:
    with fake_server(lambda r: (200, EMPTY)) as (url, fake):
        rc, report, _, _ = check(capsys, "--prometheus-url", url, "--at", "2026-11-20T06:00:00+06:00")
    assert rc == 3 and report is not None
    assert report["evaluated_at"] == "2026-11-20T00:00:00Z"
    times = {r["params"]["time"] for r in fake.requests}
    assert times == {str(int(datetime(2026, 11, 20, tzinfo=UTC).timestamp()))}
    assert {r["path"] for r in fake.requests} == {"/api/v1/query"}
    assert len(fake.requests) == report["queries"] == 23
    assert all(r["params"]["timeout"].endswith("ms") for r in fake.requests)


def test_bearer_token_and_tenant_header(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                        tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cr3t-t0ken\n")
    monkeypatch.setenv("PROMETHEUS_TOKEN_FILE", str(token))
    with fake_server(lambda r: (401, b'{"error":"bad token s3cr3t-t0ken"}')) as (url, fake):
        rc, report, err, _ = check(capsys, "--prometheus-url", url, "--header", "X-Scope-OrgID: zarish")
    assert fake.requests[0]["headers"]["Authorization"] == "Bearer s3cr3t-t0ken"
    assert fake.requests[0]["headers"]["X-Scope-OrgID"] == "zarish"
    assert rc == 3 and report is not None and "HTTP 401" in report["errors"][0]
    assert "s3cr3t" not in json.dumps(report) + err  # even when the server echoes it


def test_basic_auth_from_environment(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                     tmp_path: Path) -> None:
    password = tmp_path / "password"
    password.write_text("hunter2")
    monkeypatch.setenv("PROMETHEUS_USER", "monitor")
    monkeypatch.setenv("PROMETHEUS_PASSWORD_FILE", str(password))
    with fake_server(lambda r: (200, EMPTY)) as (url, fake):
        check(capsys, "--prometheus-url", url)
    expected = "Basic " + base64.b64encode(b"monitor:hunter2").decode()
    assert {r["headers"]["Authorization"] for r in fake.requests} == {expected}


def test_credentials_in_the_url_are_not_shown(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    rc, report, err, _ = check(capsys, "--prometheus-url", f"http://admin:pa55word@127.0.0.1:{port}")
    assert rc == 3 and report is not None and report["prometheus_url"] == f"http://127.0.0.1:{port}"
    assert "pa55word" not in json.dumps(report) + err


def test_manual_trigger_wins_over_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    rc, report, _, _ = check(capsys, "--prometheus-url", f"http://127.0.0.1:{free_port()}",
                             "--manual-trigger", "flood in the Dhaka data centre")
    assert rc == 2 and report is not None and report["status"] == "critical"
    assert report["failover_recommended"] is True and report["failover_procedure"]
    manual = next(t for t in report["dr_triggers"] if t["name"] == "manual")
    assert manual["fired"] is True and "flood" in manual["detail"]


@pytest.mark.parametrize(("args", "rc"), [
    (["--at", "yesterday"], 64),
    (["--at", "2026-11-20T06:00:00"], 64),  # no zone
    (["--at", "1795000000000"], 64),  # milliseconds
    (["--environment", "qa"], 64),
    (["--header", "no colon here"], 64),
    (["--prometheus-url", "ftp://example.org"], 64),
    (["--manual-trigger", " "], 64),
    (["--catalog", "/nonexistent/catalog.yaml"], 65),
])
def test_usage_and_catalog_errors(capsys: pytest.CaptureFixture[str], args: list[str], rc: int) -> None:
    code, report, err, _ = check(capsys, "--prometheus-url", f"http://127.0.0.1:{free_port()}", *args)
    assert code == rc and report is None and err.strip()
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_token_and_basic_auth_together_is_a_usage_error(capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMETHEUS_TOKEN", "t")
    monkeypatch.setenv("PROMETHEUS_USER", "u")
    monkeypatch.setenv("PROMETHEUS_PASSWORD", "p")
    code, report, err, _ = check(capsys, "--prometheus-url", "http://127.0.0.1:9")
    assert code == 64 and report is None and "not both" in err


def test_tls_ca_file_and_insecure(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out",
                    str(cert)], check=True, capture_output=True, timeout=60)
    with fake_server(lambda r: (200, EMPTY), tls=(cert, key)) as (url, fake):
        _, untrusted, _, _ = check(capsys, "--prometheus-url", url)
        _, trusted, _, _ = check(capsys, "--prometheus-url", url, "--ca-file", str(cert))
        _, insecure, err, _ = check(capsys, "--prometheus-url", url, "--insecure")
    assert untrusted is not None and "certificate verify failed" in untrusted["errors"][0]
    assert trusted is not None and trusted["errors"] == [] and insecure is not None and insecure["errors"] == []
    assert len(fake.requests) == 2 * trusted["queries"]
    assert "InsecureRequestWarning" not in err
