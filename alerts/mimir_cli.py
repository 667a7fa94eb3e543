"""`zarish-obs alerts upload`: the catalog's rule groups into Mimir's ruler, its Alertmanager config into Mimir's
Alertmanager, for one tenant."""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer

from zarish_obs.alerts import mimir
from zarish_obs.alerts.alertmanager import build_alertmanager_config, receivers_from_env
from zarish_obs.cliutil import CatalogOpt, FormatOpt, TableOrJson, catalog, err
from zarish_obs.errors import ExitCode, ZarishError

UPLOAD_HELP = (
    "Upload the rule groups (one ruler namespace each, see README) and the Alertmanager config to Grafana Mimir "
    "for one tenant (X-Scope-OrgID), through <prefix>/config/v1/rules and /api/v1/alerts. Idempotent: unchanged "
    "groups are not sent; groups this catalog uploaded and no longer generates are deleted; groups without the "
    "zarish-obs marker (made by someone else) are never touched, even when one has the name of ours (reported, "
    "exit 1). Every change is planned before the first is made. Credentials, for a proxy in front of Mimir: "
    f"{mimir.ENV_PREFIX}_TOKEN(_FILE), or {mimir.ENV_PREFIX}_USER with {mimir.ENV_PREFIX}_PASSWORD(_FILE). Exit "
    "codes: 0 done (or nothing to do), 1 partial (the applied changes and anything left alone are named; "
    "re-run), 64 usage, credentials refused or wrong URL/prefix, 65 bad catalog or Mimir refused our input, "
    "69 Mimir unreachable or failing (nothing changed)."
)
HEAD = ("KIND", "NAMESPACE", "NAME", "ACTION", "RESULT", "DETAIL")
ACTIONS = ("create", "update", "delete", "unchanged", "conflict")
RESULTS = ("created", "updated", "deleted", "unchanged", "skipped", "failed", "not-run")


def _table(items: list[mimir.Item], dry_run: bool) -> str:
    rows = [(i.kind, i.namespace or "-", i.name, i.action, "(dry run)" if dry_run else i.result, i.detail)
            for i in items]
    widths = [max(len(r[c]) for r in [HEAD, *rows]) for c in range(len(HEAD) - 1)]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1] for r in [HEAD, *rows]]
    if dry_run:
        counts = {a: sum(i.action == a for i in items) for a in ACTIONS}
        summary = (f"{counts['create']} to create, {counts['update']} to update, {counts['delete']} to delete, "
                   f"{counts['unchanged']} unchanged, {counts['conflict']} left alone (dry run: nothing changed)")
    else:
        done = {r: sum(i.result == r for i in items) for r in RESULTS}
        summary = ", ".join(f"{n} {r.replace('skipped', 'left alone').replace('-', ' ')}" for r, n in done.items()
                            if n or r in RESULTS[:4])
    return "\n".join(line.rstrip() for line in lines) + "\n" + summary


def upload(
    ruler_url: Annotated[str, typer.Option(
        "--ruler-url", envvar="ZARISH_MIMIR_URL", show_default=False,
        help="Mimir (or its gateway) base URL; the ruler config API is under --prometheus-prefix.")],
    tenant: Annotated[str, typer.Option("--tenant", envvar="ZARISH_MIMIR_TENANT", show_default=False,
                                        help="Tenant ID, sent as X-Scope-OrgID.")],
    path: CatalogOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan and change nothing.")] = False,
    fmt: FormatOpt = TableOrJson.table,
    alertmanager: Annotated[bool, typer.Option(
        "--alertmanager/--no-alertmanager", help="Also upload the Alertmanager config (/api/v1/alerts).")] = True,
    alertmanager_url: Annotated[str | None, typer.Option(
        "--alertmanager-url", show_default=False,
        help="Base URL of Mimir's Alertmanager API (default: --ruler-url).")] = None,
    prometheus_prefix: Annotated[str, typer.Option(
        "--prometheus-prefix", help="Mimir's -http.prometheus-http-prefix.")] = mimir.DEFAULT_PREFIX,
    replace_alertmanager_config: Annotated[bool, typer.Option(
        "--replace-alertmanager-config",
        help="Replace the tenant's Alertmanager config even when zarish-obs did not generate it for this "
             "catalog (rule groups of others are never touched).")] = False,
    webhook_url: Annotated[str | None, typer.Option(
        "--webhook-url", help="Webhook receiver URL (default: alerting.webhook_url of the catalog).")] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds per HTTP request.")] = 10.0,
) -> None:
    settings = mimir.settings_from_env(ruler_url, tenant, alertmanager_url, prometheus_prefix, timeout)
    cat = catalog(path)
    want = mimir.namespaces(cat)
    for line in mimir.dropped_fields(want):
        err(f"warning: Mimir does not store {line}; it is uploaded without it")
    am_body = None
    if alertmanager:
        config = build_alertmanager_config(cat, webhook_url, **receivers_from_env(cat, os.environ))
        if refs := mimir.file_references(config):
            raise ZarishError(f"Mimir's Alertmanager refuses file references and proxies in a tenant config "
                              f"({', '.join(refs)}): leave the e-mail authentication and Slack variables unset "
                              "for Mimir, or upload with --no-alertmanager", ExitCode.USAGE)
        am_body = mimir.alertmanager_body(cat, config)
    client = mimir.Client(settings)
    have = mimir.read("ruler", settings.ruler_url, client.rule_groups)
    items = mimir.plan_rules(want, have, cat.name)
    if am_body is not None:
        current = mimir.read("alertmanager", settings.alertmanager_url, client.alertmanager_config)
        items.append(mimir.plan_alertmanager(am_body, current, cat.name, replace_alertmanager_config))
    if not dry_run:
        mimir.apply(client, items)
    if fmt is TableOrJson.json:
        problem = None if dry_run else mimir.outcome(items, settings)
        am_url = settings.alertmanager_url + mimir.ALERTMANAGER_PATH if am_body is not None else None
        print(json.dumps({"ruler": settings.rules_url, "alertmanager": am_url, "tenant": settings.tenant,
                          "dry_run": dry_run,
                          "counts": {a: sum(i.action == a for i in items) for a in ACTIONS},
                          "items": [i.to_json() for i in items],
                          "exit_code": int(problem.exit_code) if problem else 0}, indent=2))
    else:
        print(_table(items, dry_run))
    if not dry_run and (problem := mimir.outcome(items, settings)) is not None:
        raise problem
