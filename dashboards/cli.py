"""`zarish-obs dashboards`: Grafana dashboards built with grafanalib, generated or uploaded."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import click
import typer

from zarish_obs.cliutil import CatalogOpt, FormatOpt, TableOrJson, catalog, err, new_app
from zarish_obs.dashboards.grafana_api import GrafanaClient, auth_from_env, check_url
from zarish_obs.errors import ExitCode, ZarishError
from zarish_obs.writers import to_yaml, write_files

app = new_app("dashboards", "Grafana dashboards: generate JSON/ConfigMaps or upload through Grafana's HTTP API.")


class DashFormat(str, Enum):
    json = "json"
    configmap = "configmap"


def _debug() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().params.get("debug"))


@app.command("generate")
def generate(
    path: CatalogOpt = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write into.")] = Path("out/dashboards"),
    fmt: Annotated[DashFormat, typer.Option("--format", help="json: one <uid>.json per dashboard; configmap: "
                                            "one ConfigMap per dashboard for Grafana's sidecar.")] = DashFormat.json,
    folder: Annotated[str | None, typer.Option("--folder", help="Grafana folder (grafana_folder annotation); "
                                               "default: the catalog's grafana.folder.")] = None,
) -> None:
    """Write the overview, SLO and DR dashboards. Every dashboard is checked against Grafana's dashboard
    schema first; a ConfigMap over 1 MiB is refused (exit 65). Other files in --out are left alone."""
    from zarish_obs.dashboards import generate as gen  # grafanalib and jsonschema load only when needed

    cat = catalog(path)
    dashboards = gen.build_all(cat)
    if fmt is DashFormat.json:
        files = gen.render_json(dashboards)
    else:
        cms = gen.configmaps(cat, dashboards, folder)
        for uid in gen.oversize_for_client_apply(cms):
            err(f"dashboards: warning: {uid} is over 256 KiB: apply it with `kubectl apply --server-side` "
                "(client-side apply copies it into an annotation limited to 256 KiB)")
        files = gen.render_configmaps(cms)
    for written in write_files(out, files):
        print(written)


@app.command("provisioning")
def provisioning(
    path: CatalogOpt = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write into.")] = Path("out/grafana"),
    dashboards_path: Annotated[str, typer.Option("--dashboards-path", help="Where Grafana reads the dashboard "
                                                 "JSON files (the provider's options.path).")]
    = "/var/lib/grafana/dashboards/zarish-obs",
    prometheus_url: Annotated[str | None, typer.Option("--prometheus-url", help="Prometheus URL as seen from "
                                                       "Grafana (default: http://prometheus.<monitoring "
                                                       "namespace>.svc:9090).")] = None,
    folder: Annotated[str | None, typer.Option("--folder", help="Grafana folder for the dashboards.")] = None,
) -> None:
    """Write Grafana file-provisioning YAML (dashboard provider + Prometheus datasource with the catalog's fixed
    uid) and the dashboards: provisioning/dashboards/<name>.yaml, provisioning/datasources/<name>.yaml,
    dashboards/<uid>.json."""
    from zarish_obs.dashboards import generate as gen
    from zarish_obs.dashboards import provisioning as prov

    cat = catalog(path)
    if prometheus_url:
        check_url(prometheus_url, "--prometheus-url")
    dashboards = gen.build_all(cat)
    files = {
        f"provisioning/dashboards/{cat.name}.yaml": to_yaml(prov.dashboard_provider(cat, dashboards_path, folder)),
        f"provisioning/datasources/{cat.name}.yaml": to_yaml(prov.datasource(cat, prometheus_url)),
        **{f"dashboards/{name}": text for name, text in gen.render_json(dashboards).items()},
    }
    for written in write_files(out, files):
        print(written)


@app.command("upload")
def upload(
    grafana_url: Annotated[str, typer.Option("--grafana-url", envvar="GRAFANA_URL", show_default=False,
                                             help="Grafana base URL, e.g. https://grafana.example.org "
                                             "(env GRAFANA_URL).")],
    path: CatalogOpt = None,
    folder: Annotated[str | None, typer.Option("--folder", help="Folder title (created if missing); default: the "
                                               "catalog's grafana.folder.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be created, changed (with a diff) "
                                          "or left alone; write nothing.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite dashboards changed in Grafana since our last "
                                        "upload (otherwise reported as conflicts and left alone).")] = False,
    token_file: Annotated[Path | None, typer.Option("--token-file", help="File holding a service-account token "
                                                    "(else GRAFANA_TOKEN, else GRAFANA_USER/GRAFANA_PASSWORD).")]
    = None,
    org_id: Annotated[int | None, typer.Option("--org-id", min=1, help="Grafana organisation id "
                                               "(X-Grafana-Org-Id).")] = None,
    ca_file: Annotated[Path | None, typer.Option("--ca-file", exists=True, dir_okay=False,
                                                 help="CA bundle to verify Grafana's TLS certificate.")] = None,
    insecure: Annotated[bool, typer.Option("--insecure", help="Do not verify TLS certificates (opt-in, "
                                           "not for production).")] = False,
    datasource: Annotated[str | None, typer.Option("--datasource", metavar="PROMETHEUS_URL",
                                                   help="Also create/update the Prometheus datasource (the "
                                                   "catalog's fixed uid) pointing at this URL.")] = None,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds to wait for each answer.")] = 10.0,
    retries: Annotated[int, typer.Option("--retries", min=0, max=10, help="Retries on connection errors, 429 "
                                         "and 5xx (exponential backoff from 0.5s).")] = 3,
    fmt: FormatOpt = TableOrJson.table,
) -> None:
    """Upload the dashboards through Grafana's HTTP API: health check, folder, optional datasource, then each
    dashboard. Idempotent (nothing changed -> no new version); a dashboard edited in Grafana since our last
    upload is reported as a conflict and left alone unless --force. Progress on stderr, summary on stdout.
    Exit 0 done, 1 some dashboards failed or conflicted (the others were uploaded), 64 bad option or
    credentials (HTTP 401/403), 65 bad catalog, 69 Grafana unreachable."""
    from zarish_obs.dashboards import generate as gen
    from zarish_obs.dashboards import upload as up

    if ca_file and insecure:
        raise ZarishError("--ca-file and --insecure exclude each other", ExitCode.USAGE)
    url = check_url(grafana_url)
    if datasource:
        check_url(datasource, "--datasource")
    cat = catalog(path)
    dashboards = gen.build_all(cat)
    auth = auth_from_env(token_file)
    verify: bool | str = False if insecure else (str(ca_file) if ca_file else True)
    if insecure:
        err("dashboards: warning: TLS verification disabled (--insecure)")
    client = GrafanaClient(url, auth, org_id=org_id, verify=verify, timeout=timeout, retries=retries,
                           debug=_debug(), log=err)
    try:
        err(f"dashboards: {url}: checking health, then planning {len(dashboards)} dashboards ({auth.describe()})")
        plan = up.plan(client, cat, dashboards, folder or cat.grafana.folder, force, datasource)
        if not dry_run:
            up.apply(client, plan, cat, datasource, progress=lambda line: err(f"dashboards: {line}"))
    finally:
        client.close()
    if fmt is TableOrJson.json:
        print(json.dumps(up.summary(plan, dry_run), indent=2))
    else:
        print(up.table(plan, dry_run), end="")
    code = up.exit_code(plan, dry_run)
    if code:
        raise typer.Exit(int(code))
