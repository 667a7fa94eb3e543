"""Idempotent, conflict-aware upload: plan (create/change/unchanged/conflict), then apply.

Grafana's copy is compared with ours ignoring `id`/`version`: equal means nothing is sent (no new
version). Different means either we changed the dashboard (Grafana's copy still matches the
fingerprint we stamped into it: safe to update, with Grafana's version as the optimistic lock) or
someone changed it in Grafana (fingerprint mismatch or none): a conflict, overwritten only with force.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from zarish_obs import __version__
from zarish_obs.catalog import Catalog
from zarish_obs.dashboards import fingerprint
from zarish_obs.dashboards.grafana_api import ApiError, GrafanaClient, GrafanaUnavailable
from zarish_obs.dashboards.provisioning import datasource_api_body
from zarish_obs.errors import ExitCode, ZarishError

DIFF_LINES = 120


@dataclass
class Item:
    kind: str  # folder | datasource | dashboard
    name: str  # uid
    title: str
    action: str  # create | change | unchanged | conflict | overwrite | unknown (could not read it)
    result: str = "planned"  # planned | created | updated | unchanged | skipped | failed
    detail: str = ""
    version: int | None = None
    diff: str = field(default="", repr=False)
    remote_version: int | None = None


@dataclass
class Plan:
    grafana: str
    grafana_version: str
    folder: Item
    folder_uid: str
    datasource: Item | None
    dashboards: list[Item]
    payloads: dict[str, dict[str, Any]]

    def items(self) -> list[Item]:
        return [self.folder, *([self.datasource] if self.datasource else []), *self.dashboards]


def folder_uid_for(title: str) -> str:
    uid = re.sub(r"[^A-Za-z0-9_-]+", "-", title.strip().lower()).strip("-")[:40]
    return uid or "zarish-obs"


def pretty(dashboard: dict[str, Any]) -> list[str]:
    clean = {k: v for k, v in dashboard.items() if k not in fingerprint.IGNORED}
    return json.dumps(clean, indent=2, sort_keys=True, ensure_ascii=False).splitlines(keepends=True)


def diff(remote: dict[str, Any], ours: dict[str, Any], uid: str, remote_version: Any) -> str:
    lines = list(difflib.unified_diff(pretty(remote), pretty(ours), f"grafana/{uid} (version {remote_version})",
                                      f"generated/{uid}", n=2))
    if len(lines) > DIFF_LINES:
        lines = [*lines[:DIFF_LINES], f"... ({len(lines) - DIFF_LINES} more diff lines)\n"]
    return "".join(lines)


def _plan_folder(client: GrafanaClient, title: str) -> tuple[Item, str]:
    wanted = folder_uid_for(title)
    folders = client.folders()
    by_uid = {f.get("uid"): f for f in folders}
    if wanted in by_uid:
        found = by_uid[wanted]
        detail = "" if found.get("title") == title else f"existing folder is titled {found.get('title')!r}"
        return Item("folder", wanted, title, "unchanged", detail=detail), wanted
    for f in folders:
        if f.get("title") == title:
            return Item("folder", f["uid"], title, "unchanged", detail="existing folder found by title"), f["uid"]
    return Item("folder", wanted, title, "create"), wanted


def _plan_datasource(client: GrafanaClient, catalog: Catalog, url: str) -> Item:
    uid = catalog.grafana.datasource_uid
    body = datasource_api_body(catalog, url)
    current = client.datasource(uid)
    item = Item("datasource", uid, body["name"], "create")
    if current is not None:
        same = all(current.get(k) == body[k] for k in ("type", "url", "name"))
        item.action = "unchanged" if same else "change"
        if not same:
            item.detail = f"url {current.get('url')!r} -> {url!r}"
    return item


def _plan_dashboard(client: GrafanaClient, ours: dict[str, Any], folder_uid: str, folder_exists: bool,
                    force: bool) -> Item:
    uid = ours["uid"]
    item = Item("dashboard", uid, ours.get("title", uid), "create")
    current = client.dashboard(uid)
    if current is None:
        if folder_exists:
            clash = [d for d in client.search_dashboards(folder_uid)
                     if d.get("title") == ours.get("title") and d.get("uid") != uid]
            if clash:
                item.action = "conflict"
                item.detail = (f"dashboard {clash[0].get('uid')!r} in the folder already has this title; "
                               "rename or delete it (not forced: Grafana would take it over)")
        return item
    remote = current.get("dashboard") or {}
    meta = current.get("meta") or {}
    item.remote_version = remote.get("version", meta.get("version"))
    moved = meta.get("folderUid", "") != folder_uid
    if fingerprint.same_content(remote, ours) and not moved:
        item.action = "unchanged"
        return item
    item.diff = diff(remote, ours, uid, item.remote_version)
    where = f"moves from folder {meta.get('folderUid') or '(root)'!r}" if moved else ""
    if fingerprint.intact(remote):
        item.action = "change"
        item.detail = where
    else:
        changed = ("changed in Grafana since the last upload" if fingerprint.stored(remote)
                   else "not uploaded by zarish-obs (no fingerprint)")
        item.action = "overwrite" if force else "conflict"
        item.detail = changed + ("; overwriting (--force)" if force else "; left alone (use --force to overwrite)")
    return item


def plan(client: GrafanaClient, catalog: Catalog, dashboards: dict[str, dict[str, Any]], folder_title: str,
         force: bool = False, datasource_url: str | None = None) -> Plan:
    """Read-only: what upload would do. Checks /api/health first (unreachable -> GrafanaUnavailable)."""
    health = client.health()
    folder, folder_uid = _plan_folder(client, folder_title)
    ds = _plan_datasource(client, catalog, datasource_url) if datasource_url else None
    items = []
    for d in dashboards.values():
        try:
            items.append(_plan_dashboard(client, d, folder_uid, folder.action != "create", force))
        except (ApiError, GrafanaUnavailable) as exc:
            items.append(Item("dashboard", d["uid"], d.get("title", ""), "unknown", "failed", exc.message))
    return Plan(client.url, str(health.get("version", "?")), folder, folder_uid, ds, items, dict(dashboards))


def _save(client: GrafanaClient, item: Item, ours: dict[str, Any], folder_uid: str) -> None:
    payload = dict(ours)
    overwrite = item.action == "overwrite"
    if item.action == "change" and item.remote_version is not None:
        payload["version"] = item.remote_version
    message = f"zarish-obs {__version__}"
    try:
        reply = client.save_dashboard(payload, folder_uid, overwrite, message)
    except ApiError as exc:
        if exc.http_status != 412:
            raise
        # A retried POST whose first answer was lost, or a concurrent save: look before calling it a conflict.
        current = client.dashboard(item.name)
        if current and fingerprint.same_content(current.get("dashboard") or {}, ours) and \
                (current.get("meta") or {}).get("folderUid", "") == folder_uid:
            item.result = "created" if item.action == "create" else "updated"
            item.version = (current.get("dashboard") or {}).get("version")
            return
        item.result = "skipped" if exc.reason == "version-mismatch" else "failed"
        if exc.reason == "version-mismatch":
            item.action = "conflict"
            item.detail = "changed in Grafana while uploading; left alone (use --force to overwrite)"
        else:
            item.detail = exc.message
        return
    item.result = "created" if item.action == "create" else "updated"
    item.version = reply.get("version") if isinstance(reply, dict) else None


def apply(client: GrafanaClient, p: Plan, catalog: Catalog, datasource_url: str | None = None,
          progress: Callable[[str], None] = lambda _: None) -> Plan:
    """Folder first, then the datasource, then each dashboard; one dashboard's failure does not stop the rest."""
    if p.folder.action == "create":
        try:
            client.create_folder(p.folder_uid, p.folder.title)
            p.folder.result = "created"
        except ApiError as exc:
            if exc.http_status != 409:
                p.folder.result = "failed"
                raise ZarishError(f"folder {p.folder.title!r}: {exc.message}", ExitCode.DATAERR) from None
            p.folder.result, p.folder.detail = "unchanged", "created concurrently by someone else"
        progress(f"folder {p.folder.title!r} ({p.folder_uid}): {p.folder.result}")
    else:
        p.folder.result = "unchanged"
    if p.datasource is not None and datasource_url:
        ds = p.datasource
        try:
            body = datasource_api_body(catalog, datasource_url)
            if ds.action == "create":
                client.create_datasource(body)
                ds.result = "created"
            elif ds.action == "change":
                client.update_datasource(ds.name, body)
                ds.result = "updated"
            else:
                ds.result = "unchanged"
        except (ApiError, GrafanaUnavailable) as exc:
            ds.result, ds.detail = "failed", exc.message
        progress(f"datasource {ds.name}: {ds.result}{' - ' + ds.detail if ds.detail else ''}")
    total = len(p.dashboards)
    for i, item in enumerate(p.dashboards, 1):
        if item.action == "unknown":
            pass
        elif item.action == "unchanged":
            item.result = "unchanged"
        elif item.action == "conflict":
            item.result = "skipped"
        else:
            try:
                _save(client, item, p.payloads[item.name], p.folder_uid)
            except (ApiError, GrafanaUnavailable) as exc:
                item.result, item.detail = "failed", exc.message
        progress(f"[{i}/{total}] {item.name}: {item.action} -> {item.result}"
                 f"{' (version ' + str(item.version) + ')' if item.version is not None else ''}"
                 f"{' - ' + item.detail if item.detail else ''}")
    return p


def exit_code(p: Plan, dry_run: bool) -> ExitCode:
    """1 when anything failed or a conflict was left alone (the others still went through)."""
    if dry_run:
        return ExitCode.FAILED if any(i.result == "failed" for i in p.items()) else ExitCode.OK
    if any(i.result in ("failed", "skipped") for i in p.items()):
        return ExitCode.FAILED
    return ExitCode.OK


def summary(p: Plan, dry_run: bool) -> dict[str, Any]:
    items = []
    for item in p.items():
        row = {k: v for k, v in asdict(item).items() if v not in (None, "")}
        if not dry_run:
            row.pop("diff", None)
        items.append(row)
    counts: dict[str, int] = {}
    for item in p.dashboards:
        key = item.action if dry_run else item.result
        counts[key] = counts.get(key, 0) + 1
    return {"grafana": p.grafana, "grafana_version": p.grafana_version, "dry_run": dry_run,
            "folder_uid": p.folder_uid, "dashboards": counts, "items": items,
            "exit_code": int(exit_code(p, dry_run))}


def table(p: Plan, dry_run: bool) -> str:
    head = ("KIND", "NAME", "ACTION", "RESULT", "VERSION", "DETAIL")
    rows = [(i.kind, i.name, i.action, "(dry run)" if dry_run else i.result,
             "" if i.version is None else str(i.version), i.detail) for i in p.items()]
    widths = [max(len(r[c]) for r in [head, *rows]) for c in range(len(head) - 1)]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1] for r in [head, *rows]]
    out = "\n".join(line.rstrip() for line in lines) + "\n"
    if dry_run:
        for i in p.dashboards:
            if i.diff:
                out += f"\n{i.name}: {i.action}\n{i.diff}"
    return out
