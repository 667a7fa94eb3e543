"""The catalog loader: located one-line errors, never a traceback (property-tested)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zarish_obs.catalog import default_catalog_text, load_catalog, parse_catalog
from zarish_obs.durations import format_duration, parse_duration
from zarish_obs.errors import CatalogError
from zarish_obs.stack.main import main


def _default() -> dict[str, Any]:
    return yaml.safe_load(default_catalog_text())


def test_default_catalog_describes_zarish_his() -> None:
    cat = load_catalog()
    assert cat.name == "zarish-his" and cat.timezone == "Asia/Dhaka"
    assert cat.primary_region.name == "dhaka" and [r.name for r in cat.dr_regions] == ["chittagong"]
    edges = {r.name for r in cat.regions if r.role == "edge"}
    assert edges == {"sylhet", "rajshahi", "khulna", "barishal", "rangpur", "mymensingh"}
    assert [e.namespace for e in cat.environments] == ["zarish-his-prod", "zarish-his-staging", "zarish-his-dev"]
    assert "patient-registry" in {s.name for s in cat.services} and len(cat.services) >= 5
    assert cat.dr.rto == "4h" and cat.dr.rpo == "1h" and len(cat.dr.failover_procedure) == 6
    assert cat.dr.failover_procedure[0] == "Verify DR cluster health" and len(cat.dr.failback_procedure) == 6
    assert cat.dr.error_ratio.threshold == 0.10 and parse_duration(cat.dr.replication_lag.threshold) == 300


def test_issue_example_shape_is_accepted() -> None:
    text = """
version: 1
name: zarish-his
timezone: Asia/Dhaka
monitoring_namespace: zarish-his-monitoring
regions:
  - {name: dhaka, role: primary}
  - {name: chittagong, role: dr}
environments:
  - {name: production, namespace: zarish-his-prod}
metrics:
  requests_total: http_requests_total
  latency_histogram: http_request_duration_seconds
  service_label: service
  status_label: status
  environment_label: environment
services:
  - name: patient-registry
    port: 8080
    metrics_port: 9090
    slos:
      availability: {objective: 99.9, window: 30d}
      latency: {objective: 99.0, threshold_seconds: 0.5, window: 30d}
dr:
  error_ratio: {threshold: 0.10, for: 5m}
  replication_lag: {metric: pg_replication_lag_seconds, threshold: 5m}
  primary_region_unavailable: {metric: probe_success, for: 30m}
  manual_trigger: {metric: zarish_dr_manual_trigger}
  backup: {metric: zarish_backup_last_success_timestamp_seconds, schedule: "0 2 * * *", retention: 30d}
  rpo: 1h
  rto: 4h
  failover_procedure: [a, b]
  failback_procedure: [c]
"""
    cat = parse_catalog(text, "x.yaml")
    assert cat.dr.error_ratio.for_ == "5m" and cat.services[0].slos.latency.threshold_seconds == 0.5


@pytest.mark.parametrize(
    ("mutate", "expected", "on_line"),
    [
        (lambda d: d.update(colour="red"), "colour: unknown field", "colour: red"),
        (lambda d: d["services"][0].update(colour="red"), "services.patient-registry.colour: unknown field",
         "colour: red"),
        (lambda d: d["services"][0]["slos"]["availability"].update(objective=100),
         "services.patient-registry.slos.availability.objective: objective 100 ", "objective: 100"),
        (lambda d: d["services"][0]["slos"]["availability"].update(objective=0), "from 50 up to (not including) 100",
         "objective: 0"),
        (lambda d: d["services"][0]["slos"]["availability"].update(objective=True),
         "availability.objective: expected a number, got true", "objective: true"),
        (lambda d: d["services"][0]["slos"]["availability"].update(window="30 days"),
         "services.patient-registry.slos.availability.window: '30 days' is not a duration", "window: 30 days"),
        (lambda d: d["services"][0]["slos"]["availability"].update(window="1h"), "SLO windows must be at least 1d",
         "window: 1h"),
        (lambda d: d["services"].append(dict(d["services"][0])), "services: duplicate name 'patient-registry'",
         "description: Patient master index"),
        (lambda d: d["regions"][1].update(role="primary"), "regions: exactly one region must have role primary, "
         "found 2", "name: chittagong"),
        (lambda d: d["services"][0].update(name='bad"name'), "services[0].name: 'bad\"name' must be",
         "name: bad\"name"),
        (lambda d: d["metrics"].update(service_label="bad-label"), "metrics.service_label: 'bad-label' is not a valid",
         "service_label: bad-label"),
        (lambda d: d["metrics"].update(requests_total="1bad"), "metrics.requests_total: '1bad' is not a valid",
         "requests_total: 1bad"),
        (lambda d: d["dr"]["error_ratio"].update({"for": "five minutes"}), "dr.error_ratio.for: 'five minutes'",
         "for: five minutes"),
        (lambda d: d["dr"]["error_ratio"].update(environment="prod"), "dr.error_ratio.environment: 'prod' is not a "
         "declared environment", "environment: prod"),
        (lambda d: d.update(version=2), "version: unsupported catalog version 2", "version: 2"),
        (lambda d: d.pop("services"), "services: Field required", "alerting:"),
        (lambda d: d.update(timezone="Mars/Base"), "timezone: 'Mars/Base' is not an IANA time zone",
         "timezone: Mars/Base"),
        (lambda d: d["services"][0].update(port=70000), "services.patient-registry.port: Input should be less",
         "port: 70000"),
        (lambda d: d["prometheus"].update(scrape_timeout="20s"), "prometheus.scrape_timeout: 20s must not be longer "
         "than scrape_interval (15s)", "scrape_timeout: 20s"),
    ],
)
def test_errors_are_located(mutate: Any, expected: str, on_line: str) -> None:
    """Each problem names its field and the line of the YAML it is about (the dump sorts keys, so a missing
    top-level field is reported at the first line of the document)."""
    data = _default()
    mutate(data)
    text = yaml.safe_dump(data)
    with pytest.raises(CatalogError) as info:
        parse_catalog(text, "f.yaml")
    lines = text.splitlines()
    hits = [p for p in info.value.problems if expected in p]
    assert len(hits) == 1, info.value.problems
    line = int(hits[0].split(":")[1])
    assert lines[line - 1].strip().removeprefix("- ").startswith(on_line), (hits[0], lines[line - 1])
    assert all(re.match(r"^f\.yaml:\d+: \S", p) and "\n" not in p for p in info.value.problems)


def test_cli_validate_reports_every_problem_one_line_each(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _default()
    data["services"][0]["slos"]["availability"]["objective"] = 150
    data["services"][1]["port"] = "http"
    data["extra"] = 1
    path = tmp_path / "cat.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["catalog", "validate", "--catalog", str(path)]) == 65
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3 and all(re.match(rf"^{re.escape(str(path))}:\d+: ", line) for line in lines)
    assert [int(line.split(":")[1]) for line in lines] == sorted(int(line.split(":")[1]) for line in lines)
    assert main(["catalog", "validate", "--catalog", str(tmp_path / "missing.yaml")]) == 65
    assert "no such file" in capsys.readouterr().err


def test_yaml_syntax_error_names_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("version: 1\nname: [unclosed\n")
    assert main(["catalog", "validate", "-c", str(path)]) == 65
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"{path}:") and "not valid YAML" in err and len(err.splitlines()) == 1


def test_show_prints_the_default_which_validates(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "show"]) == 0
    text = capsys.readouterr().out
    assert parse_catalog(text).name == "zarish-his"


def test_durations() -> None:
    assert parse_duration("1h30m") == 5400 and format_duration(5400) == "1h30m"
    for bad in ("", "5", "m5", "5x", "1m1h", "5m5m", "0s", "-5m", " 5m"):
        with pytest.raises(ValueError):
            parse_duration(bad)


# -- property tests -------------------------------------------------------------------------------------
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["5m", "30d", "primary", "dr", "99.9", "1h"]))
keys = st.one_of(st.sampled_from(["version", "name", "regions", "services", "slos", "availability",
                                  "objective", "window", "dr", "for", "metrics", "environments", "role",
                                  "threshold", "probes", "namespace"]), st.text(max_size=8))
trees = st.recursive(scalars, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                      st.dictionaries(keys, kids, max_size=5)), max_leaves=25)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees)
def test_random_structures_never_traceback(tree: Any) -> None:
    try:
        text = yaml.safe_dump(tree)
    except yaml.YAMLError:
        return
    _parse_or_located_error(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_random_text_never_tracebacks(text: str) -> None:
    _parse_or_located_error(text)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutated_default_catalog_never_tracebacks(data: st.DataObject) -> None:
    """Replace one random node of the real catalog with a random value."""
    doc = _default()
    node: Any = doc
    path: list[Any] = []
    for _ in range(data.draw(st.integers(1, 5))):
        if isinstance(node, dict) and node:
            key = data.draw(st.sampled_from(sorted(node, key=str)))
        elif isinstance(node, list) and node:
            key = data.draw(st.integers(0, len(node) - 1))
        else:
            break
        path.append(key)
        node = node[key]
    if not path:
        return
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = data.draw(trees)
    _parse_or_located_error(yaml.safe_dump(doc))


def _parse_or_located_error(text: str) -> None:
    try:
        parse_catalog(text, "p.yaml")
    except CatalogError as exc:
        assert exc.problems
        for line in exc.problems:
            assert re.match(r"^p\.yaml:\d+(:\d+)?: \S", line), line
            assert "\n" not in line
            assert "Traceback" not in line
