"""`zarish-obs maintenance`: one-off windows as Alertmanager silences, and what is open now and next."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Annotated, Any

import typer

from zarish_obs import maintenance
from zarish_obs.alerts import silences
from zarish_obs.catalog import Catalog, MaintenanceWindow
from zarish_obs.cliutil import CatalogOpt, FormatOpt, TableOrJson, catalog, new_app, parse_instant
from zarish_obs.conventions import report_timezone

app = new_app("maintenance", "Maintenance windows: one-off windows as Alertmanager silences, and which windows "
              "are open now and next (recurring windows are time_intervals in `alerts generate`'s config).")

SILENCE_HELP = (
    "Create, update or expire the Alertmanager silences of the catalog's one-off maintenance windows through "
    "API v2. Idempotent: a re-run changes nothing; a window removed from the catalog (or moved into the past) "
    "has its silence expired; silences not created by zarish-obs for this catalog are never touched. Every "
    "change is planned before the first is made. Credentials: ALERTMANAGER_TOKEN(_FILE) or ALERTMANAGER_USER "
    "with ALERTMANAGER_PASSWORD(_FILE). Exit codes: 0 done (or nothing to do), 1 partial (some changes "
    "applied, the rest not: they are named; re-run), 64 usage, 65 bad catalog, 69 Alertmanager unreachable or "
    "failing (nothing changed)."
)
HORIZONS = (2 * 86400, 40 * 86400, 400 * 86400)


def _url(cat: Catalog, given: str | None) -> str:
    return given or f"http://{cat.prometheus.alertmanagers[0]}"


def _local(cat: Catalog, at: float) -> str:
    return datetime.fromtimestamp(at, report_timezone(cat)).isoformat(timespec="minutes")


def _change_line(cat: Catalog, change: silences.Change) -> str:
    s = change.silence
    matchers = ",".join(change.to_json()["matchers"])
    return (f"{change.action:<7} {change.key[0]}/{change.key[1]:<9} {_local(cat, s.starts)} -> "
            f"{_local(cat, s.ends)}  {{{matchers}}}")


@app.command("silence", help=SILENCE_HELP)
def silence(
    path: CatalogOpt = None,
    alertmanager_url: Annotated[str | None, typer.Option(
        "--alertmanager-url", envvar=silences.ENV_URL, show_default=False,
        help="Alertmanager base URL (default: http:// and the catalog's first prometheus.alertmanagers entry).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan and change nothing.")] = False,
    fmt: FormatOpt = TableOrJson.table,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds per HTTP request.")] = 10.0,
) -> None:
    cat = catalog(path)
    client = silences.Client(silences.settings_from_env(_url(cat, alertmanager_url), timeout))
    now = time.time()
    changes = silences.plan(silences.desired(cat, now), silences.fetch(client, cat), now)
    done = changes if dry_run else [c for c in changes if c.action == "keep"] + silences.apply(client, changes)
    order = {c.key: i for i, c in enumerate(changes)}
    done.sort(key=lambda c: (c.action == "expire", order.get(c.key, 0)))
    recurring = [w.name for w in cat.maintenance if w.kind != "oneoff"]
    if fmt is TableOrJson.json:
        print(json.dumps({"alertmanager": client.settings.url, "dry_run": dry_run,
                          "changes": [c.to_json() for c in done], "recurring_windows": recurring}, indent=2))
        return
    for c in done:
        print(_change_line(cat, c))
    counts = {a: sum(c.action == a for c in done) for a in ("create", "update", "expire", "keep")}
    verb = "would be " if dry_run else ""
    print(f"{counts['create']} {verb}created, {counts['update']} {verb}updated, {counts['expire']} {verb}expired, "
          f"{counts['keep']} unchanged" + (" (dry run: nothing changed)" if dry_run else "")
          + (f"; recurring windows ({', '.join(recurring)}) are time_intervals in the Alertmanager config"
             if recurring else ""))


def _spans(cat: Catalog, window: MaintenanceWindow, now: float) -> tuple[tuple[float, float] | None, float | None]:
    """The opening in progress at `now` (merged with any it runs into) and the next start after it."""
    ranges = [(float("-inf"), float("inf"))] if window.kind == "oneoff" else [(now, now + h) for h in HORIZONS]
    current: tuple[float, float] | None = None
    upcoming: float | None = None
    for since, until in ranges:
        spans = maintenance.merge([(o.start, o.end) for o in maintenance.occurrences(cat, window, since, until)])
        current = next(((a, b) for a, b in spans if a <= now < b), None)
        after = current[1] if current else now
        upcoming = next((a for a, _ in spans if a > after), None)
        if upcoming is not None:
            break
    return current, upcoming


def window_state(cat: Catalog, window: MaintenanceWindow, now: float) -> dict[str, Any]:
    current, upcoming = _spans(cat, window, now)
    return {
        "name": window.name, "kind": window.kind, "reason": window.reason,
        "enforced_by": "silence" if window.kind == "oneoff" else "time_interval",
        "services": maintenance.services(cat, window), "environments": maintenance.environments(cat, window),
        "suppress_dr": window.suppress_dr, "exclude_from_slo": window.exclude_from_slo,
        "active": current is not None,
        "active_until": _local(cat, current[1]) if current else None,
        "next_start": _local(cat, upcoming) if upcoming is not None else None,
    }


@app.command("list")
def list_windows(
    path: CatalogOpt = None,
    at: Annotated[str | None, typer.Option("--at", help="Instant to look from (RFC 3339 or unix seconds; "
                                           "default now).")] = None,
    fmt: FormatOpt = TableOrJson.table,
) -> None:
    """The catalog's maintenance windows: which are open now (until when) and when each opens next, in the
    catalog's time zone. Reads only the catalog. Exit 0, 64 or 65."""
    given = parse_instant(at, "--at")
    now = time.time() if given is None else given
    cat = catalog(path)
    rows = [window_state(cat, w, now) for w in cat.maintenance]
    if fmt is TableOrJson.json:
        print(json.dumps({"at": _local(cat, now), "timezone": report_timezone(cat).key, "windows": rows}, indent=2))
        return
    if not rows:
        print("no maintenance windows in the catalog")
        return
    for r in rows:
        state = f"ACTIVE until {r['active_until']}" if r["active"] else "inactive"
        nxt = f"next {r['next_start']}" if r["next_start"] else "no further opening"
        dr = ", DR muted" if r["suppress_dr"] else ""
        print(f"{r['name']:<20} {r['kind']:<7} {state:<36} {nxt:<32} {','.join(r['environments'])}: "
              f"{','.join(r['services'])} ({r['enforced_by']}{dr})")
