"""A test double of the parts of Grafana's HTTP API that `dashboards upload` uses, on 127.0.0.1.

Written from Grafana's documented contract (developers/http_api: dashboard.md, folder.md,
folder_dashboard_search.md, data_source.md, auth): bearer service-account tokens and basic auth
(401 `{"message": "Invalid API key"}` / `"Invalid username or password"`), 403 for a Viewer on writes,
`POST /api/dashboards/db` with versions (412 `{"status": "version-mismatch"}` when `overwrite` is false
and the version differs, 412 `name-exists` for a title already used in the folder, 400 for an empty
title, a bad uid or a missing folder), `/api/folders` (409 on an existing uid or title),
`/api/search`, `/api/dashboards/uid/:uid` (404 `{"message": "Dashboard not found"}`), `/api/health`
and `/api/datasources`. Faults (status codes, slow answers) can be injected per request.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.loopback import LoopbackServer

UID_RE = re.compile(r"^[A-Za-z0-9_-]+$")
WRITE_METHODS = ("POST", "PUT", "DELETE", "PATCH")


def slugify(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


@dataclass
class Fault:
    """Answer matching requests with `status` (after `delay` seconds) instead of handling them."""

    method: str
    path: str
    status: int = 500
    delay: float = 0.0
    times: int = 1
    when: Callable[[Any], bool] = lambda body: True
    before: Callable[[], None] | None = None  # run, then handle the request normally (status ignored)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    method: str
    path: str
    status: int
    headers: dict[str, str]
    body: Any


class GrafanaDouble(LoopbackServer[Fault, Seen]):
    write_methods = WRITE_METHODS

    def __init__(self, tokens: dict[str, str] | None = None, users: dict[tuple[str, str], str] | None = None,
                 version: str = "11.6.0"):
        self.tokens = tokens if tokens is not None else {"glsa_editor_TOKEN_0123456789": "Editor",
                                                         "glsa_viewer_TOKEN_0123456789": "Viewer"}
        self.users = users if users is not None else {("admin", "s3cret-Passw0rd"): "Admin"}
        self.version = version
        self.folders: dict[str, dict[str, Any]] = {}
        self.dashboards: dict[str, dict[str, Any]] = {}
        self.datasources: dict[str, dict[str, Any]] = {}
        self.history: dict[str, list[int]] = {}
        self.faults: list[Fault] = []
        self.seen: list[Seen] = []
        self.lock = threading.RLock()
        self._ids = 0

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _Handler

    # -- test helpers -------------------------------------------------------------------------------------
    def edit(self, uid: str, mutate: Callable[[dict[str, Any]], None]) -> None:
        """Somebody saves the dashboard in Grafana's UI: new content, version + 1."""
        with self.lock:
            stored = self.dashboards[uid]
            mutate(stored["dashboard"])
            stored["version"] += 1
            stored["dashboard"]["version"] = stored["version"]
            self.history[uid].append(stored["version"])

    def next_id(self) -> int:
        self._ids += 1
        return self._ids

    # -- API ----------------------------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any, role: str
               ) -> tuple[int, Any]:
        if method in WRITE_METHODS and role == "Viewer":
            return 403, {"accessErrorId": "ACE0000000001", "title": "Access denied",
                         "message": "You'll need additional permissions to perform this action. Permissions "
                                    "needed: any of dashboards:write"}
        with self.lock:
            if path == "/api/folders" and method == "GET":
                return 200, [{"id": f["id"], "uid": f["uid"], "title": f["title"]} for f in self.folders.values()]
            if path == "/api/folders" and method == "POST":
                return self._create_folder(body)
            if m := re.fullmatch(r"/api/folders/([^/]+)", path):
                folder = self.folders.get(m.group(1))
                return (200, folder) if folder else (404, {"message": "folder not found", "status": "not-found"})
            if path == "/api/search" and method == "GET":
                return 200, self._search(query)
            if m := re.fullmatch(r"/api/dashboards/uid/([^/]+)", path):
                return self._get_dashboard(m.group(1))
            if path == "/api/dashboards/db" and method == "POST":
                return self._save_dashboard(body)
            if path == "/api/datasources" and method == "POST":
                return self._create_datasource(body)
            if m := re.fullmatch(r"/api/datasources/uid/([^/]+)", path):
                return self._datasource(method, m.group(1), body)
        return 404, {"message": "Not found"}

    def _create_folder(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict):
            return 400, {"message": "bad request data"}
        title = str(body.get("title") or "").strip()
        uid = body.get("uid") or f"f{self._ids + 1:08d}"
        if not title:
            return 400, {"message": "folder title cannot be empty"}
        if not UID_RE.match(uid) or len(uid) > 40:
            return 400, {"message": "uid contains illegal characters or is too long"}
        if uid in self.folders:
            return 409, {"message": "a folder with the same uid already exists"}
        if any(f["title"] == title for f in self.folders.values()):
            return 409, {"message": "a folder or dashboard in the general folder with the same name already exists"}
        folder = {"id": self.next_id(), "uid": uid, "title": title, "url": f"/dashboards/f/{uid}/{slugify(title)}",
                  "hasAcl": False, "canSave": True, "canEdit": True, "canAdmin": True, "version": 1}
        self.folders[uid] = folder
        return 200, folder

    def _search(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        kind = (query.get("type") or [""])[0]
        folder_uids = {u for v in query.get("folderUIDs", []) for u in v.split(",")}
        text = (query.get("query") or [""])[0].lower()
        hits = []
        if kind in ("", "dash-folder") and not folder_uids:
            hits += [{"id": f["id"], "uid": f["uid"], "title": f["title"], "url": f["url"], "type": "dash-folder",
                      "tags": [], "isStarred": False} for f in self.folders.values() if text in f["title"].lower()]
        if kind in ("", "dash-db"):
            for d in self.dashboards.values():
                if folder_uids and d["folderUid"] not in folder_uids:
                    continue
                title = d["dashboard"].get("title", "")
                if text not in title.lower():
                    continue
                folder = self.folders.get(d["folderUid"], {})
                hits.append({"id": d["id"], "uid": d["uid"], "title": title, "url": d["url"], "type": "dash-db",
                             "tags": d["dashboard"].get("tags", []), "isStarred": False,
                             "folderUid": d["folderUid"], "folderTitle": folder.get("title", "")})
        return hits

    def _get_dashboard(self, uid: str) -> tuple[int, Any]:
        d = self.dashboards.get(uid)
        if d is None:
            return 404, {"message": "Dashboard not found"}
        folder = self.folders.get(d["folderUid"], {})
        meta = {"type": "db", "canSave": True, "canEdit": True, "canAdmin": True, "canStar": True,
                "slug": slugify(d["dashboard"].get("title", "")), "url": d["url"], "version": d["version"],
                "folderUid": d["folderUid"], "folderTitle": folder.get("title", "General"),
                "folderId": folder.get("id", 0), "provisioned": False}
        return 200, {"dashboard": copy.deepcopy(d["dashboard"]), "meta": meta}

    def _save_dashboard(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("dashboard"), dict):
            return 400, {"message": "bad request data"}
        dash = copy.deepcopy(body["dashboard"])
        overwrite = bool(body.get("overwrite"))
        folder_uid = body.get("folderUid") or ""
        title = str(dash.get("title") or "").strip()
        uid = dash.get("uid") or f"d{self._ids + 1:08d}"
        if not title:
            return 400, {"message": "Dashboard title cannot be empty", "status": "empty-name"}
        if not isinstance(uid, str) or len(uid) > 40:
            return 400, {"message": "uid too long, max 40 characters", "status": "uid-too-long"}
        if not UID_RE.match(uid):
            return 400, {"message": "uid contains illegal characters", "status": "invalid-uid"}
        if folder_uid and folder_uid not in self.folders:
            return 400, {"message": "folder not found", "status": "folder-not-found"}
        existing = self.dashboards.get(uid)
        if existing is None and dash.get("id"):
            return 404, {"message": "Dashboard not found"}
        if existing is not None and not overwrite and dash.get("version") != existing["version"]:
            return 412, {"status": "version-mismatch", "message": "The dashboard has been changed by someone else"}
        clash = [d for d in self.dashboards.values() if d["uid"] != uid and d["folderUid"] == folder_uid
                 and d["dashboard"].get("title") == title]
        if clash and not overwrite:
            return 412, {"status": "name-exists",
                         "message": "A dashboard with the same name in the folder already exists"}
        for other in clash:
            del self.dashboards[other["uid"]]
        version = existing["version"] + 1 if existing else 1
        dash_id = existing["id"] if existing else self.next_id()
        dash.update({"id": dash_id, "uid": uid, "version": version})
        url = f"/d/{uid}/{slugify(title)}"
        self.dashboards[uid] = {"id": dash_id, "uid": uid, "version": version, "folderUid": folder_uid,
                                "dashboard": dash, "url": url, "message": body.get("message", "")}
        self.history.setdefault(uid, []).append(version)
        return 200, {"id": dash_id, "uid": uid, "url": url, "status": "success", "version": version,
                     "slug": slugify(title), "folderUid": folder_uid}

    def _create_datasource(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or not body.get("name") or not body.get("type"):
            return 400, {"message": "bad request data: name and type are required"}
        uid = body.get("uid") or f"ds{self._ids + 1:06d}"
        if any(d["name"] == body["name"] for d in self.datasources.values()):
            return 409, {"message": "data source with the same name already exists"}
        if uid in self.datasources:
            return 409, {"message": "data source with the same uid already exists"}
        ds = {**body, "id": self.next_id(), "uid": uid, "orgId": 1, "version": 1, "readOnly": False}
        self.datasources[uid] = ds
        return 200, {"datasource": ds, "id": ds["id"], "message": "Datasource added", "name": ds["name"]}

    def _datasource(self, method: str, uid: str, body: Any) -> tuple[int, Any]:
        ds = self.datasources.get(uid)
        if ds is None:
            return 404, {"message": "Data source not found"}
        if method == "GET":
            return 200, ds
        if method == "PUT":
            if not isinstance(body, dict):
                return 400, {"message": "bad request data"}
            ds.update({**body, "uid": uid, "version": ds["version"] + 1})
            return 200, {"datasource": ds, "id": ds["id"], "message": "Datasource updated", "name": ds["name"]}
        return 405, {"message": "Method not allowed"}


class _Handler(BaseHTTPRequestHandler):
    double: GrafanaDouble
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _role(self) -> tuple[str | None, Any]:
        header = self.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            role = self.double.tokens.get(header[7:])
            return (role, None) if role else (None, {"message": "Invalid API key", "messageId": "api-key.invalid",
                                                     "statusCode": 401, "traceID": ""})
        if header.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                user, password = "", ""
            role = self.double.users.get((user, password))
            return (role, None) if role else (None, {"message": "Invalid username or password",
                                                     "messageId": "password-auth.failed", "statusCode": 401,
                                                     "traceID": ""})
        return None, {"message": "Unauthorized", "messageId": "auth.unauthorized", "statusCode": 401,
                      "traceID": ""}

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = ValueError
        g = self.double
        fault = None
        with g.lock:
            for f in g.faults:
                if f.times > 0 and f.method == method and parts.path == f.path and f.when(body):
                    f.times -= 1
                    fault = f
                    break
        headers = {k: v for k, v in self.headers.items()}
        if fault is not None:
            if fault.before is not None:
                fault.before()
            else:
                time.sleep(fault.delay)
                g.seen.append(Seen(method, parts.path, fault.status, headers, body))
                self._send(fault.status, {"message": f"injected fault {fault.status}"}, fault.headers)
                return
        if parts.path == "/api/health" and method == "GET":
            status, reply = 200, {"commit": "0000000", "database": "ok", "version": g.version}
        else:
            role, denied = self._role()
            if role is None:
                status, reply = 401, denied
            elif body is ValueError:
                status, reply = 400, {"message": "bad request data"}
            else:
                status, reply = g.handle(method, parts.path, parse_qs(parts.query), body, role)
        g.seen.append(Seen(method, parts.path, status, headers, body))
        self._send(status, reply)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")
