"""`zarish-obs import sloth`: Sloth specs (prometheus/v1 files and PrometheusServiceLevel resources) become
catalog ratio SLIs; each refused document of tests/data/sloth/refused gets exactly the lines it expects (its
first lines, `# expect: #DOC: path: reason`); fields the catalog has no place for are noted, refused under
--strict. The imported catalog validates, its rules pass promtool, and on a real Prometheus the 5-minute
increases its rules record (backfilled with `promtool tsdb create-blocks-from rules`) sum to the SLI the spec's
own queries give, at several instants and windows."""

from __future__ import annotations

import random
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import typer
import yaml
from typer.testing import CliRunner

from zarish_obs import conventions, openmetrics, procs, promql, promtool
from zarish_obs.alerts.recording import recording_groups
from zarish_obs.alerts.render import RECORDING_FILE, rule_files
from zarish_obs.catalog import Catalog, load_catalog, parse_catalog
from zarish_obs.durations import parse_duration
from zarish_obs.errors import ZarishError
from zarish_obs.sloth import import_texts
from zarish_obs.sloth_cli import app as import_app
from zarish_obs.sloth_cli import import_sloth
from zarish_obs.stack.main import main

DATA = Path(__file__).resolve().parent / "data" / "sloth"
REFUSED = sorted((DATA / "refused").glob("*.yaml"))
PAYMENTS, LEDGER = DATA / "payments.yaml", DATA / "ledger-k8s.yaml"


def _expected(path: Path) -> list[str]:
    lines = [ln for ln in path.read_text("utf-8").splitlines() if ln.startswith("# expect: ")]
    return [str(path) + ln.removeprefix("# expect: ").replace("{file}", str(path)) for ln in lines]


def _cli() -> typer.Typer:
    root = typer.Typer()
    root.add_typer(import_app, name="import")
    return root


@pytest.mark.parametrize("path", REFUSED, ids=lambda p: p.stem)
def test_refused_with_exact_lines(path: Path) -> None:
    result = import_texts([(str(path), path.read_text("utf-8"))], "service")
    assert result.problems == _expected(path)
    assert not result.services or result.problems


def test_every_refusal_kind_has_a_file() -> None:
    assert len(REFUSED) >= 15


def test_no_window_placeholder_is_refused_at_the_sloth_field() -> None:
    """The catalog model's own check (a `[{{window}}]` range is needed) lands on the Sloth field."""
    text = PAYMENTS.read_text("utf-8").replace("[{{ .window }}]", "[5m]", 1)
    problems = import_texts([("p.yaml", text)], "service").problems
    assert problems == ["p.yaml#0: slos[1].sli.events.error_query: no [{{window}}] range: the query must count its "
                        "events over the SLO's windows, e.g. increase(x[{{window}}])"]


def test_both_formats_into_one_catalog() -> None:
    result = import_texts([(str(PAYMENTS), PAYMENTS.read_text()), (str(LEDGER), LEDGER.read_text())], "service")
    assert result.problems == []
    services = {s["name"]: s["slos"]["ratios"] for s in result.services}
    assert list(services) == ["payments", "ledger"]
    assert [r["name"] for r in services["payments"]] == ["settlements", "card-authorisations", "refunds"]
    settlements = services["payments"][0]
    assert settlements == {
        "name": "settlements", "objective": 99.5, "window": "30d",
        "description": "Settlements confirmed by the bank.",
        "total_query": 'sum by (environment) (increase(ledger_settlements_total{service="payments"}[{{window}}]))',
        "bad_query": 'sum by (environment) (increase(ledger_settlements_total{service="payments", '
                     'result="failed"}[{{window}}]))'}
    cards = services["payments"][1]
    assert cards["objective"] == 99 and "description" not in cards
    assert cards["bad_query"] == ('sum(rate(card_authorisations_total{service="payments", '
                                  'outcome=~"error|timeout"}[{{window}}]))')
    assert services["ledger"][0]["bad_query"] == ('sum by (environment) (increase(ledger_postings_total'
                                                  '{service="ledger", status="rejected"}[{{window}}]))')


def test_notes_name_every_field_not_imported() -> None:
    result = import_texts([(str(PAYMENTS), PAYMENTS.read_text()), (str(LEDGER), LEDGER.read_text())], "service")
    alert = ("the catalog's burn-rate alerts are named, labelled and annotated the same way for every SLO (alerts "
             "are routed by severity, service and slo)")
    labels = ("the catalog's rules carry only their own labels (environment, service, slo), so extra rule labels "
              "have no place")
    p, k = str(PAYMENTS), str(LEDGER)
    assert result.notes == [
        f"{p}#0: labels: not imported: owner, tier: {labels}",
        f"{p}#0: slos[0].alerting.name: not imported: 'PaymentsSettlementsBudgetBurn': {alert}",
        f"{p}#0: slos[0].alerting.labels: not imported: category: {alert}",
        f"{p}#0: slos[0].alerting.annotations: not imported: runbook: {alert}",
        f"{p}#0: slos[0].alerting.page_alert.labels: not imported: severity: {alert}",
        f"{p}#0: slos[0].alerting.ticket_alert.disable: not imported: the catalog turns burn-rate tiers on and off "
        "for all SLOs together (alerting.ticket_fast.enabled, alerting.ticket_slow.enabled), so this SLO keeps its "
        "ticket alerts",
        f"{p}#0: slos[1].name: 'Card_Authorisations' imported as 'card-authorisations': catalog SLO names are "
        "lower-case DNS labels",
        f"{p}#0: slos[1].labels: not imported: category: {labels}",
        f"{p}#0: slos[1].alerting.name: not imported: 'PaymentsCardAuthorisationsBudgetBurn': {alert}",
        f"{k}#0: metadata.labels: not imported: Kubernetes metadata of the resource, not of its SLOs",
        f"{k}#1: spec.slos[0].alerting.ticketAlert.labels: not imported: severity: {alert}",
    ]


def test_service_label_of_the_base_catalog_is_required(tmp_path: Path) -> None:
    """With a base whose service label is `app`, the same specs lack the matcher the catalog needs."""
    result = import_texts([(str(LEDGER), LEDGER.read_text())], "app")
    assert len(result.problems) == 4 and all('lacks the matcher app="' in p for p in result.problems)


def test_cli_writes_a_catalog_that_validates(tmp_path: Path) -> None:
    out = tmp_path / "catalog.yaml"
    run = CliRunner().invoke(_cli(), ["import", "sloth", str(PAYMENTS), str(LEDGER), "--out", str(out)])
    assert run.exit_code == 0, run.output
    catalog = parse_catalog(out.read_text(), str(out))
    assert [s.name for s in catalog.services] == ["payments", "ledger"]
    assert [k for k, _ in catalog.services[0].slo_items()] == ["settlements", "card-authorisations", "refunds"]
    base = load_catalog()
    assert catalog.model_dump(exclude={"services"}) == base.model_dump(exclude={"services"})
    assert main(["catalog", "validate", "--catalog", str(out)]) == 0


def test_cli_stdout_notes_and_window(tmp_path: Path) -> None:
    run = CliRunner().invoke(_cli(), ["import", "sloth", str(PAYMENTS), "--window", "28d"])
    assert run.exit_code == 0, run.output
    catalog = parse_catalog(run.stdout, "stdout")
    assert {r.window for r in catalog.services[0].slos.ratios} == {"28d"}
    assert "not imported: owner, tier" in run.stderr and "not imported" not in run.stdout


def test_cli_strict_refuses_notes_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "catalog.yaml"
    out.write_text("untouched\n")
    with pytest.raises(ZarishError) as err:
        import_sloth([PAYMENTS, LEDGER], strict=True)
    assert err.value.exit_code == 65
    assert err.value.lines == import_texts([(str(PAYMENTS), PAYMENTS.read_text()),
                                            (str(LEDGER), LEDGER.read_text())], "service").notes
    run = CliRunner().invoke(_cli(), ["import", "sloth", str(PAYMENTS), "--strict", "--out", str(out)])
    assert isinstance(run.exception, ZarishError) and run.exception.exit_code == 65
    assert out.read_text() == "untouched\n" and list(tmp_path.iterdir()) == [out]


def test_cli_refusals_and_usage_errors(tmp_path: Path) -> None:
    out = tmp_path / "catalog.yaml"
    chosen = REFUSED[:3]
    with pytest.raises(ZarishError) as err:
        import_sloth([*chosen, PAYMENTS, tmp_path / "missing.yaml"])
    assert err.value.exit_code == 65
    assert err.value.lines == [f"{tmp_path / 'missing.yaml'}: (file): no such file",
                               *[ln for p in chosen for ln in _expected(p)]]
    with pytest.raises(ZarishError) as err:
        import_sloth([PAYMENTS], window="12h")
    assert err.value.exit_code == 64 and err.value.lines == ["--window '12h': SLO windows must be at least 1d"]
    assert not out.exists()


def test_base_sections_are_kept(tmp_path: Path) -> None:
    """--base keeps the base's other sections (its metrics names among them); its services are replaced."""
    base = tmp_path / "base.yaml"
    data = yaml.safe_load(load_catalog().model_dump_json())
    data["name"] = "payments-platform"
    base.write_text(yaml.safe_dump(data))
    text, _ = import_sloth([PAYMENTS], base=base)
    catalog = parse_catalog(text, "imported")
    assert catalog.name == "payments-platform" and [s.name for s in catalog.services] == ["payments"]


@pytest.mark.real
def test_generated_rules_pass_promtool(tmp_path: Path) -> None:
    text, _ = import_sloth([PAYMENTS, LEDGER])
    files = rule_files(parse_catalog(text, "imported"))
    for name, body in files.items():
        (tmp_path / name).write_text(body)
    checked = promtool.check_rules(*[tmp_path / n for n in files])
    assert checked.ok, checked.output
    recording = files[RECORDING_FILE]
    for kind in ("settlements", "card-authorisations", "refunds", "postings"):
        assert f"slo: {kind}" in recording


# -- real Prometheus: the imported rules against the spec's own queries ---------------------------------------
STEP = 15  # the catalog's scrape interval
HOURS = 8
SHORT_WINDOWS = ("5m", "30m", "1h", "2h", "6h")
KINDS = ("settlements", "card-authorisations")
EQUIVALENCE = DATA / "equivalence.yaml"


def _history(start: int, end: int) -> list[openmetrics.Family]:
    """Counters that are not http_requests_total, their error share drifting from hour to hour (2-12%), in two
    environments, plus another service's series the queries must not count."""
    rng = random.Random(13)
    settle = openmetrics.Family("ledger_settlements", "counter")
    cards = openmetrics.Family("card_authorisations", "counter")
    for env in ("production", "staging"):
        for svc in ("payments", "refunds-bot"):
            shares = [rng.uniform(0.02, 0.12) for _ in range(HOURS + 1)]
            for fam, outcomes in ((settle, ("ok", "failed")), (cards, ("approved", "error", "timeout"))):
                values = dict.fromkeys(outcomes, 0.0)
                series: dict[str, list[tuple[int, float]]] = {o: [] for o in outcomes}
                for t in range(start, end + 1, STEP):
                    if t > start:
                        n = rng.randint(12, 38)
                        bad = sum(rng.random() < shares[(t - start) // 3600] for _ in range(n))
                        values[outcomes[0]] += n - bad
                        for o in outcomes[1:]:
                            values[o] += bad / len(outcomes[1:])
                    for o in outcomes:
                        series[o].append((t, values[o]))
                label = "result" if fam is settle else "outcome"
                for o in outcomes:
                    fam.add(f"{fam.name}_total", {"environment": env, "service": svc, label: o}, series[o])
    return [settle, cards]


def _query(url: str, expr: str, at: float) -> dict[str, float]:
    r = requests.get(f"{url}/api/v1/query", params={"query": expr, "time": at}, timeout=60)
    assert r.status_code == 200, f"{expr[:200]}: HTTP {r.status_code} {r.text[:300]}"
    return {s["metric"].get("environment", ""): float(s["value"][1]) for s in r.json()["data"]["result"]}


def _error_ratio(url: str, bad: str, total: str, at: float) -> dict[str, float]:
    totals = _query(url, total, at)
    return {env: b / totals[env] for env, b in _query(url, bad, at).items()}


def _recorded_rules(text: str, kinds: set[str]) -> dict[str, Any]:
    """The generated recording rules of the imported SLOs (5-minute increases, ratios of windows under a day):
    those that read the raw counters, which is what promtool can backfill (the day-plus windows read these)."""
    groups = recording_groups(parse_catalog(text, "imported"))
    rules = [r for g in groups for r in g["rules"] if r.get("labels", {}).get(conventions.SLO_LABEL) in kinds]
    assert {r["record"] for r in rules} >= {conventions.SLO_REQUESTS_5M, conventions.SLO_ERRORS_5M,
                                            *map(conventions.slo_error_ratio, SHORT_WINDOWS)}
    return {"groups": [{"name": "imported-sloth", "rules": rules}]}


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """History of the counters, then the imported catalog's recording rules evaluated over it by promtool
    (every minute, as Prometheus would have) and both served by one Prometheus."""
    work = tmp_path_factory.mktemp("sloth-prom")
    text, _ = import_sloth([EQUIVALENCE])
    end = int(time.time()) // 3600 * 3600 - 2 * 3600
    start = end - HOURS * 3600
    data = work / "data"
    openmetrics.backfill(openmetrics.write(work / "history.om", _history(start, end)), data, "2400h")
    rules = work / "rules.yml"
    rules.write_text(yaml.safe_dump(_recorded_rules(text, set(KINDS))))
    config = work / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 15s\n  evaluation_interval: 15s\n")
    with procs.running(procs.start_prometheus(config, data)) as proc:
        out = work / "rule-blocks"
        made = subprocess.run([procs.binary("promtool"), "tsdb", "create-blocks-from", "rules", f"--url={proc.url}",
                               f"--start={start + 300}", f"--end={end}", "--eval-interval=60s",
                               f"--output-dir={out}", str(rules)], capture_output=True, text=True, timeout=600)
        assert made.returncode == 0, made.stderr[-2000:]
    for block in out.iterdir():
        shutil.move(str(block), data / block.name)
    with procs.running(procs.start_prometheus(config, data)) as proc:
        yield {"url": proc.url, "start": start, "end": end, "catalog": parse_catalog(text, "imported")}


def _specs_own(window: str) -> Iterator[tuple[str, str, str]]:
    """(SLO name, error query, total query) of the spec, its {{.window}} filled in the way Sloth fills it."""
    for slo in yaml.safe_load(EQUIVALENCE.read_text())["slos"]:
        events = slo["sli"]["events"]
        yield slo["name"], events["error_query"].replace("{{.window}}", window), \
            events["total_query"].replace("{{.window}}", window)


def _agree(ours: dict[str, float], theirs: dict[str, float], what: tuple[Any, ...], rel: float = 1e-3) -> int:
    """Both SLIs (1 - error ratio) per environment within `rel` (0.1%); the number of values compared."""
    assert theirs and set(ours) == set(theirs), (what, ours, theirs)
    for env, ratio in theirs.items():
        assert 1 - ours[env] == pytest.approx(1 - ratio, rel=rel), (*what, env, ours[env], ratio)
        assert ratio > 0.01  # a few percent of errors: not a comparison of two ones
    return len(theirs)


def _evaluated_at(url: str, series: str, at: float) -> float:
    """When the rule evaluation that `series` shows at `at` ran (Prometheus and promtool evaluate a group at
    an offset of its interval, not on the minute)."""
    stamps = set(_query(url, f"timestamp({series})", at).values())
    assert len(stamps) == 1, stamps
    return stamps.pop()


@pytest.mark.real
def test_recorded_short_windows_give_the_specs_own_sli(backfilled: dict[str, Any]) -> None:
    """Windows under a day (every burn tier's windows up to 6h) are recorded from the raw counters: at rule
    evaluations across the history they equal the SLI of the spec's own queries at that instant (required
    within 0.1%; measured equal to the last digit, so held to 1e-9)."""
    url, end = backfilled["url"], backfilled["end"]
    compared = 0
    for window in SHORT_WINDOWS:
        longest = HOURS * 3600 - parse_duration(window) - 600
        for kind, bad, total in _specs_own(window):
            recorded = f'{conventions.slo_error_ratio(window)}{{{conventions.SLO_LABEL}="{kind}"}}'
            for at in range(end - 120, end - longest, -2345):
                ran = _evaluated_at(url, recorded, at)
                compared += _agree(_query(url, recorded, ran), _error_ratio(url, bad, total, ran), (kind, window, at),
                                   rel=1e-9)
    assert compared >= 60


def _tiled(url: str, catalog: Catalog, kind: str, window: str, at: float) -> tuple[dict[str, float], float]:
    """The tiled ratio of one imported SLO at `at` (the long rules' own expression), and the end of its last
    tile: the evaluation of the 5-minute increase that the last 5-minute grid instant reads."""
    s = promql.signals(catalog)
    slo = promql.Matcher(conventions.SLO_LABEL, kind)
    ours = _query(url, s.slo_error_ratio_recorded(window, [slo]), at)
    grid = at // conventions.TILE_SECONDS * conventions.TILE_SECONDS
    return ours, _evaluated_at(url, promql.selector(conventions.SLO_REQUESTS_5M, [slo]), grid)


@pytest.mark.real
def test_tiled_windows_give_the_specs_own_sli(backfilled: dict[str, Any]) -> None:
    """Windows of a day or more are sums of the recorded 5-minute increases (`[w:5m]` tiles; the long rules'
    own expression, here over 6h, the longest window the history holds). Off the 5-minute grid, where the
    long group evaluates four times in five, the tiles cover the window that ends with the last tile, and
    the spec's own queries over that window give the same SLI within 0.1% (each tile extrapolates its edges,
    so the agreement grows with the number of tiles: 72 here, 288 and more in the real long windows)."""
    url, end, window = backfilled["url"], backfilled["end"], "6h"
    compared = 0
    for kind, bad, total in _specs_own(window):
        for at in range(end - 60, end - 7200 + 900, -370):
            if at % conventions.TILE_SECONDS == 0:
                continue
            ours, tiles_end = _tiled(url, backfilled["catalog"], kind, window, at)
            compared += _agree(ours, _error_ratio(url, bad, total, tiles_end), (kind, window, at))
    assert compared >= 30


@pytest.mark.real
@pytest.mark.parametrize("offset", [0, 60, 299])
def test_tiles_cover_exactly_the_window(backfilled: dict[str, Any], offset: int) -> None:
    url, end = backfilled["url"], backfilled["end"]
    tiles = promql.over_tiles("count", f'{conventions.SLO_REQUESTS_5M}{{{conventions.SLO_LABEL}="settlements"}}', "1h",
                              conventions.TILE)
    assert set(_query(url, tiles, end - 1800 + offset).values()) == {12.0}
