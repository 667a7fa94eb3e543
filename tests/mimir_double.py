"""A test double of the parts of Grafana Mimir's HTTP API that `alerts upload` uses, on 127.0.0.1.

Written from Mimir's HTTP API reference ("Ruler", "Alertmanager", "Authentication") and the handlers behind it
(pkg/ruler/api.go, pkg/alertmanager/api.go, dskit's tenant middleware), since Mimir cannot be installed here:
- every endpoint needs `X-Scope-OrgID` (401 `no org id`); data is kept per tenant;
- `GET <prefix>/config/v1/rules[/{namespace}]`: YAML map namespace -> groups, `{}` when there are none
  (`legacy_empty_404=True`: 404 `no rule groups found`, as Cortex and Mimir before 2.0 answer);
- `GET <prefix>/config/v1/rules/{namespace}/{group}`: one group, 404 `group does not exist`;
- `POST <prefix>/config/v1/rules/{namespace}` with exactly one YAML group: 202 `{"status":"success",...}`;
  400 `unable to decode rule group` for bad YAML, 400 with the validation errors (rules checked by promtool,
  whose parser is the one Mimir's ruler uses); only the fields Mimir stores survive (an unknown group field
  such as `labels` is dropped silently, as Go's YAML decoder does), durations come back in Go's spelling;
- `DELETE .../{namespace}/{group}` 202 (404 `group does not exist`), `DELETE .../{namespace}` 202 (404
  `group namespace does not exist`);
- `GET/POST/DELETE /api/v1/alerts`: 404 `alertmanager storage object not found`, 201 on a stored config
  (validated with `amtool check-config`; file references refused as Mimir does), 200 on delete;
- anything else 404 `404 page not found`. Optionally an authenticating proxy in front (bearer tokens or
  basic auth; 401), and injected faults (status, delay, after N matching requests).
"""

from __future__ import annotations

import base64
import copy
import json
import re
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

import yaml

from tests.loopback import LoopbackServer
from zarish_obs import promtool
from zarish_obs.durations import parse_duration

GROUP_FIELDS = ("name", "interval", "query_offset", "evaluation_delay", "source_tenants",
                "align_evaluation_time_on_interval", "rules")
RULE_FIELDS = ("record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations")
DURATIONS = ("interval", "query_offset", "evaluation_delay")
METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
FORBIDDEN = re.compile(r"_file$|^proxy_url$|^proxy_from_environment$")
WRITES = ("POST", "PUT", "DELETE")
ACCEPTED = {"status": "success", "data": None, "errorType": "", "error": ""}


def go_duration(seconds: float) -> str:
    """Prometheus' model.Duration.String(): `4w2d` for 30 days, `0s` for nothing."""
    ms = round(seconds * 1000)
    if ms == 0:
        return "0s"
    out = ""
    for unit, size in (("y", 31536000000), ("w", 604800000), ("d", 86400000), ("h", 3600000), ("m", 60000),
                       ("s", 1000), ("ms", 1)):
        if ms >= size:
            n, ms = divmod(ms, size)
            out += f"{n}{unit}"
    return out


class BadGroup(Exception):
    pass


def _duration(value: Any) -> str | None:
    if value in (None, ""):
        return None
    if str(value) in ("0", "0s"):
        return "0s"
    try:
        return go_duration(parse_duration(str(value)))
    except ValueError:
        raise BadGroup("unable to decode rule group") from None


def decode_group(text: str) -> dict[str, Any]:
    """What Mimir keeps of a posted group, in the shape it answers with; BadGroup with Mimir's message."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError:
        raise BadGroup("unable to decode rule group") from None
    if len(docs) != 1 or not isinstance(docs[0], dict) or not isinstance(docs[0].get("rules", []), list):
        raise BadGroup("unable to decode rule group")
    raw = docs[0]
    group: dict[str, Any] = {"name": str(raw.get("name") or "")}
    for key in DURATIONS:
        if (value := _duration(raw.get(key))) not in (None, "0s"):
            group[key] = value
    if raw.get("source_tenants"):
        group["source_tenants"] = [str(t) for t in raw["source_tenants"]]
    if raw.get("align_evaluation_time_on_interval"):
        group["align_evaluation_time_on_interval"] = True
    rules = []
    for r in raw.get("rules") or []:
        if not isinstance(r, dict):
            raise BadGroup("unable to decode rule group")
        rule: dict[str, Any] = {}
        for key in ("record", "alert"):
            if r.get(key):
                rule[key] = str(r[key])
        rule["expr"] = "" if r.get("expr") is None else str(r["expr"])
        for key in ("for", "keep_firing_for"):
            if (value := _duration(r.get(key))) is not None and value != "0s":
                rule[key] = value
        for key in ("labels", "annotations"):
            if r.get(key) is not None and not isinstance(r[key], dict):
                raise BadGroup("unable to decode rule group")
            if r.get(key):
                rule[key] = {str(k): str(v) for k, v in r[key].items()}
        rules.append(rule)
    group["rules"] = rules
    return group


def validate_group(group: dict[str, Any]) -> list[str]:
    """The ruler manager's checks: a name, at least one rule, each rule well-formed (promtool for the PromQL)."""
    name = group["name"]
    if not name:
        return ["invalid rules config: rule group name must not be empty"]
    if not group["rules"]:
        return [f"invalid rules config: rule group '{name}' has no rules"]
    errors = []
    for i, r in enumerate(group["rules"]):
        where = f"invalid rules config: rule group '{name}', rule {i + 1}"
        if ("record" in r) == ("alert" in r):
            errors.append(f"{where}: one of 'record' or 'alert' must be set")
        if not r["expr"].strip():
            errors.append(f"{where}: field 'expr' must be set in rule")
        if "record" in r and not METRIC_NAME.match(r["record"]):
            errors.append(f"{where}: invalid recording rule name: {r['record']}")
    if errors:
        return errors
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "group.yml"
        path.write_text(yaml.safe_dump({"groups": [group]}, sort_keys=False))
        done = promtool.check_rules(path)
    if not done.ok:
        lines = [line.strip() for line in done.output.splitlines() if line.strip()]
        return [f"invalid rules config: {'; '.join(lines[-3:])}"]
    return []


def check_alertmanager_config(raw: str) -> str | None:
    """Mimir's validateUserConfig: not empty, no file references or proxies, then Alertmanager's own loader."""
    if not raw.strip():
        return ("configuration provided is empty, if you'd like to remove your configuration please use the "
                "delete configuration endpoint")
    try:
        parsed = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        return f"yaml: {exc}"
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if FORBIDDEN.search(str(k)) and v not in (None, "", False):
                    found.append(str(k))
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(parsed)
    if found:
        return f"setting {found[0]} is not allowed"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "alertmanager.yml"
        path.write_text(raw)
        done = promtool.check_alertmanager(path)
    if not done.ok:
        lines = [line.strip() for line in done.output.splitlines() if line.strip()]
        return "; ".join(lines[-2:]) or "invalid configuration"
    return None


@dataclass
class Fault:
    """Answer matching requests with `status` (after `delay` s), once `after` of them went through normally."""

    method: str
    path: str  # a regular expression matched against the whole request path
    status: int = 500
    body: str = "internal server error\n"
    delay: float = 0.0
    after: int = 0
    times: int = 1


@dataclass
class Seen:
    method: str
    path: str
    status: int
    tenant: str | None
    headers: dict[str, str]
    body: str


@dataclass
class Answer:
    status: int
    body: str = ""
    content_type: str = "text/plain; charset=utf-8"


def _text(status: int, message: str) -> Answer:
    return Answer(status, message + "\n")


def _yaml(data: Any) -> Answer:
    return Answer(200, yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000), "application/yaml")


def _accepted() -> Answer:
    return Answer(202, json.dumps(ACCEPTED), "application/json")


@dataclass
class MimirDouble(LoopbackServer[Fault, Seen]):
    write_methods: ClassVar[tuple[str, ...]] = WRITES
    prefix: str = "/prometheus"
    multitenant: bool = True
    legacy_empty_404: bool = False
    validate_rules: bool = True
    tokens: set[str] = field(default_factory=set)
    users: dict[str, str] = field(default_factory=dict)
    rules: dict[str, dict[str, dict[str, dict[str, Any]]]] = field(default_factory=dict)  # tenant/ns/group
    alertmanager: dict[str, dict[str, Any]] = field(default_factory=dict)  # tenant -> {template_files, config}
    faults: list[Fault] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.lock = threading.RLock()

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _Handler

    # -- test helpers -------------------------------------------------------------------------------------------
    def put_group(self, tenant: str, namespace: str, group: dict[str, Any]) -> None:
        """Someone else stores a group (as Mimir would keep it)."""
        stored = decode_group(yaml.safe_dump(group))
        with self.lock:
            self.rules.setdefault(tenant, {}).setdefault(namespace, {})[stored["name"]] = stored

    def groups(self, tenant: str) -> dict[str, dict[str, dict[str, Any]]]:
        with self.lock:
            return copy.deepcopy(self.rules.get(tenant, {}))

    # -- the API ------------------------------------------------------------------------------------------------
    def handle(self, method: str, path: str, tenant: str, body: str) -> Answer:
        base = self.prefix + "/config/v1/rules"
        if path == "/api/v1/alerts":
            return self._alertmanager(method, tenant, body)
        if path == base or path.startswith(base + "/"):
            parts = [unquote(p) for p in path[len(base):].split("/")[1:]]
            if len(parts) > 2 or any(p == "" for p in parts):
                return _text(404, "404 page not found")
            with self.lock:
                return self._rules(method, tenant, parts, body)
        return _text(404, "404 page not found")

    def _listing(self, spaces: dict[str, dict[str, dict[str, Any]]]) -> Answer:
        if not any(spaces.values()):
            return _text(404, "no rule groups found") if self.legacy_empty_404 else _yaml({})
        return _yaml({ns: [copy.deepcopy(spaces[ns][g]) for g in sorted(spaces[ns])]
                      for ns in sorted(spaces) if spaces[ns]})

    def _rules(self, method: str, tenant: str, parts: list[str], body: str) -> Answer:
        store = self.rules.setdefault(tenant, {})
        if not parts:
            return self._listing(store) if method == "GET" else Answer(405)
        ns = parts[0]
        if len(parts) == 1:
            if method == "GET":
                return self._listing({ns: store.get(ns, {})})
            if method == "POST":
                try:
                    group = decode_group(body)
                except BadGroup as exc:
                    return _text(400, str(exc))
                if self.validate_rules and (errors := validate_group(group)):
                    return _text(400, ", ".join(errors))
                store.setdefault(ns, {})[group["name"]] = group
                return _accepted()
            if method == "DELETE":
                if not store.get(ns):
                    return _text(404, "group namespace does not exist")
                del store[ns]
                return _accepted()
            return Answer(405)
        name = parts[1]
        found = store.get(ns, {}).get(name)
        if method == "GET":
            return _yaml(copy.deepcopy(found)) if found else _text(404, "group does not exist")
        if method == "DELETE":
            if not found:
                return _text(404, "group does not exist")
            del store[ns][name]
            if not store[ns]:
                del store[ns]
            return _accepted()
        return Answer(405)

    def _alertmanager(self, method: str, tenant: str, body: str) -> Answer:
        with self.lock:
            current = self.alertmanager.get(tenant)
        if method == "GET":
            if current is None:
                return _text(404, "alertmanager storage object not found")
            return _yaml({"template_files": dict(current["template_files"]),
                          "alertmanager_config": current["alertmanager_config"]})
        if method == "DELETE":
            with self.lock:
                self.alertmanager.pop(tenant, None)
            return Answer(200)
        if method != "POST":
            return Answer(405)
        try:
            cfg = yaml.safe_load(body) if body.strip() else {}
            if not isinstance(cfg, dict):
                raise yaml.YAMLError("not a map")
        except yaml.YAMLError as exc:
            return _text(400, f"error marshalling YAML Alertmanager config: {' '.join(str(exc).split())}")
        raw = str(cfg.get("alertmanager_config") or "")
        templates = {str(k): str(v) for k, v in (cfg.get("template_files") or {}).items()}
        if problem := check_alertmanager_config(raw):
            return _text(400, f"error validating Alertmanager config: {problem}")
        with self.lock:
            self.alertmanager[tenant] = {"template_files": templates, "alertmanager_config": raw}
        return Answer(201)

    # -- authenticating proxy and tenant middleware -------------------------------------------------------------
    def authorised(self, header: str) -> bool:
        if not self.tokens and not self.users:
            return True
        if header.startswith("Bearer "):
            return header[7:] in self.tokens
        if header.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
            return self.users.get(user) == password
        return False

    def answer(self, method: str, path: str, headers: dict[str, str], body: str) -> Answer:
        with self.lock:
            fault = None
            for f in self.faults:
                if f.times > 0 and f.method == method and re.fullmatch(f.path, path):
                    if f.after > 0:
                        f.after -= 1
                        break
                    f.times -= 1
                    fault = f
                    break
        if fault is not None:
            time.sleep(fault.delay)
            return _text(fault.status, fault.body.rstrip("\n"))
        if not self.authorised(headers.get("Authorization", "")):
            return _text(401, "unauthorized")
        tenant = headers.get("X-Scope-OrgID", "")
        if not self.multitenant:
            tenant = "anonymous"
        elif not tenant:
            return _text(401, "no org id")
        return self.handle(method, path, tenant, body)


class _Handler(BaseHTTPRequestHandler):
    double: MimirDouble
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _dispatch(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        path = urlsplit(self.path).path
        headers = {k: v for k, v in self.headers.items()}
        answer = self.double.answer(method, path, headers, body)
        with self.double.lock:
            self.double.seen.append(Seen(method, path, answer.status, headers.get("X-Scope-OrgID"), headers, body))
        data = answer.body.encode()
        try:
            self.send_response(answer.status)
            if data:
                self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")
