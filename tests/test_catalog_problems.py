"""Every catalog problem in one run, each on its YAML line; fields held to what the generated files demand.

The property test injects any combination of independent problems into the built-in catalog's text and
expects exactly those problems back, each under its field path and on the line it was injected at.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.catalog_mutations import mutated_catalogs
from zarish_obs import promtool
from zarish_obs.alerts.alertmanager import build_alertmanager_config
from zarish_obs.catalog import Catalog, default_catalog_text, load_catalog, parse_catalog
from zarish_obs.errors import CatalogError
from zarish_obs.fields import re2_problem
from zarish_obs.promql import Matcher, selector
from zarish_obs.scrape.config import build_prometheus_config
from zarish_obs.stack.main import main
from zarish_obs.yamlpos import Positions


def _run(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(args)
    return rc, out.getvalue(), err.getvalue()


def _line_of(problem: str) -> int:
    return int(problem.split(":")[1])


# -- the issue's example -----------------------------------------------------------------------------------
ISSUE_EXAMPLE = """\
version: 1
name: zarish-his
colour: teal
regions:
  - {name: dhaka, role: primary}
  - name: chittagong
    role: primary
environments:
  - {name: production, namespace: zarish-his-prod}
services:
  - name: patient-registry
    slos:
      availability: {objective: 120, window: 30d}
  - name: billing
  - name: patient-registry
"""


def test_issue_example_reports_all_four_problems_on_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "issue.yaml"
    path.write_text(ISSUE_EXAMPLE)
    rc, out, err = _run(["catalog", "validate", "--catalog", str(path)])
    assert rc == 65 and out == ""
    assert err.splitlines() == [
        f"{path}:3: colour: unknown field",
        f"{path}:6: regions: exactly one region must have role primary, found 2",
        f"{path}:13: services.patient-registry.slos.availability.objective: objective 120 must be a percentage "
        "from 50 up to (not including) 100",
        f"{path}:15: services: duplicate name 'patient-registry'",
    ]
    rc, out, _ = _run(["catalog", "validate", "--catalog", str(path), "--format", "json"])
    report = json.loads(out)
    assert rc == 65 and report["valid"] is False and report["file"] == str(path)
    assert report["problems"] == err.splitlines()


# -- injected problems -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Injection:
    """One problem put into the built-in catalog's text: replace (or, with `insert`, follow) the first line
    equal to `old` at or after the line equal to `after`. The problem must be reported under `path` on the
    changed line, or on the line equal to `mark` where it is about another line (the item, not its field)."""

    path: str
    old: str
    new: str
    after: str | None = None
    mark: str | None = None
    insert: bool = False


INJECTIONS = {
    "objective": Injection("services.patient-registry.slos.availability.objective",
                           "      availability: {objective: 99.9, window: 30d}",
                           "      availability: {objective: 120, window: 30d}", after="  - name: patient-registry"),
    "unknown-field": Injection("colour", "monitoring_namespace: zarish-his-monitoring", "colour: red", insert=True),
    "second-primary": Injection("regions", "    role: dr", "    role: primary", after="  - name: chittagong",
                                mark="  - name: chittagong"),
    "duplicate-service": Injection("services", "  - name: auth-gateway", "  - name: pharmacy"),
    "bad-duration": Injection("dr.rpo", "  rpo: 1h", "  rpo: 1 hour"),
    "webhook-url": Injection("alerting.webhook_url", "  webhook_url: http://zarish-alert-webhook.zarish-his-monitoring"
                             ".svc:8080/alerts", '  webhook_url: "-5m"'),
    "lookahead-regex": Injection("metrics.error_status_regex", '  error_status_regex: "5.."',
                                 '  error_status_regex: "5(?=0).."'),
    "alertmanager-no-port": Injection("prometheus.alertmanagers[0]", '  alertmanagers: ["alertmanager:9093"]',
                                      '  alertmanagers: ["alertmanager"]'),
    "scrape-timeout": Injection("prometheus.scrape_timeout", "  scrape_timeout: 10s", "  scrape_timeout: 20s"),
    "dr-environment": Injection("dr.error_ratio.environment",
                                "  error_ratio: {threshold: 0.10, for: 5m, environment: production}",
                                "  error_ratio: {threshold: 0.10, for: 5m, environment: prod}"),
    "shared-namespace": Injection("environments", "  - {name: staging, namespace: zarish-his-staging}",
                                  "  - {name: staging, namespace: zarish-his-prod}"),
    "probe-url": Injection("regions.dhaka.probes[1]", "      - https://patient-api.zarishsphere.com/health",
                           "      - patient-api/health"),
    "port": Injection("services.clinical-records.port", "    port: 8080", "    port: 70000",
                      after="  - name: clinical-records"),
    "cron": Injection("dr.backup.schedule", '  backup: {metric: zarish_backup_last_success_timestamp_seconds, '
                      'schedule: "0 2 * * *", retention: 30d}',
                      '  backup: {metric: zarish_backup_last_success_timestamp_seconds, schedule: "every day", '
                      'retention: 30d}'),
    "missing-field": Injection("environments.development.namespace", "  - {name: development, namespace: "
                               "zarish-his-dev}", "  - {name: development}"),
    "short-window": Injection("services.laboratory.slos.latency.window",
                              "      latency: {objective: 95.0, threshold_seconds: 1.0, window: 30d}",
                              "      latency: {objective: 95.0, threshold_seconds: 1.0, window: 1h}",
                              after="  - name: laboratory"),
    "timezone": Injection("timezone", "timezone: Asia/Dhaka", "timezone: Mars/Base"),
    "keyword-metric": Injection("dr.manual_trigger.metric", "  manual_trigger: {metric: zarish_dr_manual_trigger}",
                                "  manual_trigger: {metric: sum}"),
    "blackbox-url": Injection("prometheus.blackbox_exporter", "  blackbox_exporter: blackbox-exporter:9115",
                              "  blackbox_exporter: http://blackbox-exporter:9115"),
    "label-clash": Injection("metrics.status_label", "  status_label: status", "  status_label: service"),
    "nested-unknown-field": Injection("grafana.colour", "  folder: ZARISH HIS", "  colour: blue", insert=True),
    "duplicate-key": Injection("dr.rto", "  rto: 4h", "  rto: 8h", insert=True),
}


def _marker(kind: str) -> str:
    return f"  # injected: {kind}"


def _index(lines: list[str], wanted: str, after: str | None = None) -> int:
    start = lines.index(after) if after else 0
    return lines.index(wanted, start)


def inject(text: str, kinds: set[str]) -> str:
    lines = text.splitlines()
    for kind in sorted(kinds):
        inj = INJECTIONS[kind]
        i = _index(lines, inj.old, inj.after)
        if inj.insert:
            lines.insert(i + 1, inj.new)
            i += 1
        else:
            lines[i] = inj.new
        if inj.mark:
            i = _index(lines, inj.mark, inj.after)
        lines[i] += _marker(kind)
    return "\n".join(lines) + "\n"


def _expect_exactly(text: str, kinds: set[str], path: Path, problems: list[str]) -> None:
    lines = text.splitlines()
    expected = {}
    for kind in kinds:
        line = next(n for n, t in enumerate(lines, 1) if t.endswith(_marker(kind)))
        expected[kind] = f"{path}:{line}: {INJECTIONS[kind].path}: "
    missing = {k: e for k, e in expected.items() if not any(p.startswith(e) for p in problems)}
    assert not missing and len(problems) == len(kinds), (missing, problems)
    assert [_line_of(p) for p in problems] == sorted(_line_of(p) for p in problems)


def _validate(text: str) -> tuple[Path, int, list[str], str]:
    with tempfile.TemporaryDirectory(prefix="zarish-catalog-") as tmp:
        path = Path(tmp) / "catalog.yaml"
        path.write_text(text)
        rc, out, err = _run(["catalog", "validate", "--catalog", str(path), "--format", "json"])
    assert "Traceback" not in err and "internal error" not in err, err
    return path, rc, json.loads(out)["problems"] if rc == 65 else [], out


def test_the_pool_is_independent_problems_of_the_built_in_catalog() -> None:
    assert len(INJECTIONS) >= 10
    load_catalog()  # the base is valid
    for kind in INJECTIONS:
        assert inject(default_catalog_text(), {kind}) != default_catalog_text(), kind


@pytest.mark.parametrize("kind", sorted(INJECTIONS))
def test_each_injected_problem_alone_is_one_located_line(kind: str) -> None:
    text = inject(default_catalog_text(), {kind})
    path, rc, problems, out = _validate(text)
    assert rc == 65, out
    _expect_exactly(text, {kind}, path, problems)


def test_all_injected_problems_at_once() -> None:
    kinds = set(INJECTIONS)
    text = inject(default_catalog_text(), kinds)
    path, rc, problems, out = _validate(text)
    assert rc == 65, out
    _expect_exactly(text, kinds, path, problems)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sets(st.sampled_from(sorted(INJECTIONS)), min_size=1))
def test_any_combination_of_injected_problems_is_reported_in_one_run(kinds: set[str]) -> None:
    text = inject(default_catalog_text(), kinds)
    path, rc, problems, out = _validate(text)
    assert rc == 65, out
    _expect_exactly(text, kinds, path, problems)


# -- cross-field checks run on whatever parsed -----------------------------------------------------------
def test_cross_field_checks_run_next_to_field_problems_of_the_same_items() -> None:
    text = inject(default_catalog_text(), {"port"}).replace("  - name: pharmacy", "  - name: clinical-records")
    with pytest.raises(CatalogError) as info:
        parse_catalog(text, "c.yaml")
    found = [p.split(": ", 1)[1] for p in info.value.problems]
    assert found == ["services.clinical-records.port: Input should be less than or equal to 65535",
                     "services: duplicate name 'clinical-records'"]


def test_a_check_is_skipped_when_a_field_it_needs_failed() -> None:
    """A region whose role failed may be the primary: 'found 0 primaries' would be a guess."""
    text = default_catalog_text().replace("    role: primary", "    role: primay")
    with pytest.raises(CatalogError) as info:
        parse_catalog(text, "c.yaml")
    assert len(info.value.problems) == 1 and "regions.dhaka.role: Input should be" in info.value.problems[0]
    without = default_catalog_text().replace("    role: primary", "    role: edge")
    with pytest.raises(CatalogError) as info:
        parse_catalog(without, "c.yaml")
    assert [p.split(": ", 1)[1] for p in info.value.problems] == [
        "regions: exactly one region must have role primary, found 0"]


def test_programmatic_validation_rejects_cross_field_problems_too() -> None:
    data = yaml.safe_load(default_catalog_text())
    data["regions"][1]["role"] = "primary"
    data["prometheus"]["scrape_timeout"] = "1m"
    with pytest.raises(ValueError, match=r"regions: exactly one region.*prometheus.scrape_timeout: 1m must not"):
        Catalog.model_validate(data)


def test_missing_field_is_reported_at_the_mapping_that_lacks_it() -> None:
    text = default_catalog_text().replace("      latency: {objective: 99.0, threshold_seconds: 0.5, window: 30d}",
                                          "      latency:\n        objective: 99.0", 1)
    with pytest.raises(CatalogError) as info:
        parse_catalog(text, "c.yaml")
    (problem,) = info.value.problems
    line = text.splitlines()[_line_of(problem) - 1]
    assert "patient-registry.slos.latency.threshold_seconds: Field required" in problem
    assert line.strip() == "latency:"


# -- values the generated files cannot take -----------------------------------------------------------------
RW = {"url": "https://mimir.example.org/api/v1/push"}


@pytest.mark.parametrize(
    ("where", "value", "expected"),
    [
        (("alerting", "webhook_url"), "-5m", "alerting.webhook_url: '-5m' is not an absolute http(s) URL"),
        (("alerting", "webhook_url"), "http://a b/x", "is not an http(s) URL (no spaces"),
        (("alerting", "webhook_url"), "ftp://host/x", "is not an absolute http(s) URL"),
        (("alerting", "webhook_url"), "https://", "is not an absolute http(s) URL"),
        (("alerting", "webhook_url"), "http://host:99999/x", "the port is not a number from 1 to 65535"),
        (("alerting", "webhook_url"), "http://%zz/x", "is not a host name"),
        (("alerting", "webhook_url"), "http://host/%zz", "'%' must start a %XX escape"),
        (("alerting", "runbook_base_url"), "https://runbooks.example.org/{{ x }}", "no spaces, quotes, braces"),
        (("alerting", "grafana_url"), "grafana.example.org", "alerting.grafana_url: 'grafana.example.org' is not an "
         "absolute"),
        (("regions", 0, "probes", 0), "https://api.example.org/health check", "regions.dhaka.probes[0]: "),
        (("prometheus", "remote_write"), [{"url": "mimir:9009"}], "prometheus.remote_write[0].url: 'mimir:9009'"),
        (("prometheus", "alertmanagers"), ["http://alertmanager:9093"], "prometheus.alertmanagers[0]: "
         "'http://alertmanager:9093' is not host:port"),
        (("prometheus", "blackbox_exporter"), "blackbox", "prometheus.blackbox_exporter: 'blackbox' is not host:port"),
        (("prometheus", "pushgateway"), "pushgateway:0", "prometheus.pushgateway: 'pushgateway:0': the port"),
        (("prometheus", "pushgateway"), "[fe80::zz]:9091", "is not host:port"),
        (("prometheus", "rule_files"), ["/etc/*/rules.yml"], "prometheus.rule_files[0]: '/etc/*/rules.yml': "
         "Prometheus allows a '*' only in the last path element"),
        (("prometheus", "rule_files"), ["/etc/rules/[a.yml"], "is not a valid glob pattern"),
        (("prometheus", "rule_files"), [""], "prometheus.rule_files[0]: '' is not a file path"),
        (("prometheus", "remote_write"), [{**RW, "bearer_token_file": "a\nb"}], "bearer_token_file: 'a\\nb' is not"),
        (("prometheus", "blackbox_module"), "http 2xx", "prometheus.blackbox_module: 'http 2xx' must be non-empty"),
        (("prometheus", "scrape_interval"), "500ms", "prometheus.scrape_interval: '500ms' is not a whole number"),
        (("prometheus", "scrape_interval"), "5m", "prometheus.scrape_interval: '5m' must be shorter than 5m"),
        (("prometheus", "evaluation_interval"), "1d", "prometheus.evaluation_interval: '1d' must be shorter"),
        (("alerting", "page_slow"), {"for": "30d"}, "alerting.page_slow.for: 30d must be shorter than the tier's "
         "long window (6h)"),
        (("alerting", "metrics_absent_for"), "1h", "alerting.metrics_absent_for: 1h must be shorter than 1h, the "
         "page_fast tier's window"),
        (("alerting", "targets_down_for"), "30d", "alerting.targets_down_for: 30d must be shorter than 1h"),
        (("dr", "error_ratio", "for"), "4h", "dr.error_ratio.for: 4h must be shorter than dr.rto (4h)"),
        (("dr", "rto"), "20m", "dr.primary_region_unavailable.for: 30m must be shorter than dr.rto (20m)"),
        (("dr", "rpo"), "300y", "dr.rpo: '300y' is longer than Prometheus and Alertmanager can hold"),
        (("metrics", "error_status_regex"), "5(?=0)..", "lookaheads like (?=...) are not supported by Prometheus"),
        (("metrics", "error_status_regex"), "(5)\\1\\1", "backreferences (\\1) are not supported"),
        (("metrics", "error_status_regex"), "5\\d++", "possessive quantifiers"),
        (("metrics", "error_status_regex"), "5..\\Z", "the escape \\Z is not supported"),
        (("metrics", "error_status_regex"), "(?x) 5 . .", "the flag(s) x in (?x) are not supported"),
        (("metrics", "error_status_regex"), "4..", "matches no 5xx status code"),
        (("metrics", "error_status_regex"), "[2-5]..", "matches status 200: successful responses"),
        (("metrics", "requests_total"), "sum", "metrics.requests_total: 'sum' is a PromQL keyword"),
        (("dr", "replication_lag", "metric"), "Offset", "'Offset' is a PromQL keyword"),
        (("metrics", "service_label"), "slo", "metrics.service_label: 'slo' is a label zarish-obs or Prometheus sets"),
        (("metrics", "status_label"), "instance", "metrics.status_label: 'instance' is a label zarish-obs or"),
        (("metrics", "environment_label"), "service", "metrics.environment_label: 'service' is also "
         "metrics.service_label"),
        (("dr", "backup", "schedule"), "0 2 * *", "dr.backup.schedule: '0 2 * *' is not a five-field cron"),
        (("dr", "backup", "schedule"), "61 2 * * *", "is not a valid cron schedule"),
        (("dr", "backup", "schedule"), "0 2 30 2 *", "is not a valid cron schedule"),
        (("dr", "backup", "schedule"), "@daily", "is not a five-field cron schedule"),
        (("grafana", "folder"), "", "grafana.folder: '' must be non-empty text on one line"),
        (("grafana", "datasource_name"), "a\nb", "grafana.datasource_name: 'a\\nb' must be"),
        (("services", 0, "port"), True, "services.patient-registry.port: expected a number, got true"),
        (("services", 0, "name"), "records\n", "services[0].name: 'records\\n' must be lower-case"),
        (("prometheus", "remote_write"), [{**RW, "name": "a"}, {**RW, "name": "a"}],
         "prometheus.remote_write.a.name: duplicate remote_write name 'a'"),
        (("prometheus", "remote_write"), [{**RW, "basic_auth_username": "u", "bearer_token_file": "/t"}],
         "bearer_token_file: use basic_auth_username or bearer_token_file, not both"),
        (("prometheus", "remote_write"), [{**RW, "basic_auth_password_file": "/p"}],
         "basic_auth_password_file: needs basic_auth_username"),
    ],
)
def test_values_a_generated_file_cannot_take_are_rejected(where: tuple[Any, ...], value: Any, expected: str) -> None:
    data = yaml.safe_load(default_catalog_text())
    node = data
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    with pytest.raises(CatalogError) as info:
        parse_catalog(yaml.safe_dump(data), "c.yaml")
    assert any(expected in p for p in info.value.problems), info.value.problems
    assert len(info.value.problems) == 1, info.value.problems


def test_version_true_is_not_version_1() -> None:
    with pytest.raises(CatalogError, match="unsupported catalog version True"):
        parse_catalog(default_catalog_text().replace("version: 1", "version: true"), "c.yaml")


@pytest.mark.real
def test_the_rejected_values_really_break_the_files(tmp_path: Path) -> None:
    """What the checks above guard against, shown with the real tools on files built past validation."""
    cat = load_catalog()
    am = tmp_path / "alertmanager.yml"
    for url in ("-5m", "ftp://host/x", "https://", "http://a b/x", "http://%zz/x"):
        am.write_text(yaml.safe_dump(build_alertmanager_config(cat, webhook_url=url)))
        assert not promtool.check_alertmanager(am).ok, url
    clash = cat.model_copy(update={"metrics": cat.metrics.model_copy(update={"environment_label": "service"})})
    am.write_text(yaml.safe_dump(build_alertmanager_config(clash)))
    assert "duplicated label" in promtool.check_alertmanager(am).output
    prom = tmp_path / "prometheus.yml"
    for field, value in (("rule_files", ["/etc/*/rules.yml"]), ("alertmanagers", ["http://alertmanager:9093"])):
        broken = cat.model_copy(update={"prometheus": cat.prometheus.model_copy(update={field: value})})
        prom.write_text(yaml.safe_dump(build_prometheus_config(broken)))
        assert not promtool.check_config(prom).ok, field


# Patterns Python's re compiles; whether Prometheus (Go RE2) does too is asked of promtool itself.
REGEXES = ["5..", "5..|429", "(?i)5xx", "(?s:.)5", "[[:digit:]]{3}", "5\\d\\d", "(?P<x>5)..", "[^2-4]..", "5.{2}",
           "\\x35..", "a{2,1000}", "(?m)^5", "\\_5", "\\ 5", "[\\]]5", "(?-i:5)", "5(?=0)", "5(?!0)", "(?<=5)0",
           "(?<!5)0", "(5)\\1", "(?P<x>5)(?P=x)", "5*+", "5++", "5?+", "5{2}+", "(?>5)", "(?x)5", "(?a)5", "(?u)5",
           "(?#note)5", "(5)?(?(1)a|b)", "\\Z", "\\u0035", "\\U00000035", "\\N{DIGIT FIVE}", "[\\b]", "a{1001}",
           "\\é", "[[:foo:]]", "[[:^alpha:]]"]


@pytest.mark.real
def test_re2_check_agrees_with_promtool(tmp_path: Path) -> None:
    verdicts = {}
    for i, pattern in enumerate(REGEXES):
        rules = tmp_path / f"r{i}.yml"
        expr = selector("up", [Matcher("status", pattern, "=~")])
        rules.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [{"record": "x", "expr": expr}]}]}))
        verdicts[pattern] = (promtool.check_rules(rules).ok, re2_problem(pattern) is None)
    disagree = {p: v for p, v in verdicts.items() if v[0] != v[1]}
    assert not disagree, disagree
    assert sum(ok for ok, _ in verdicts.values()) >= 10 and sum(not ok for ok, _ in verdicts.values()) >= 10


def test_repeat_without_minimum_is_refused_because_re2_reads_it_literally() -> None:
    assert "literal" in (re2_problem("5{,2}") or "")


# -- odd YAML --------------------------------------------------------------------------------------------------
ODD = """\
base: &base
  port: 8080
  name: shared
list:
  - <<: *base
    name: first
  - {<<: *base}
again: 1
again: 2
1: one
? [a, b]
: complex
loop: &loop [*loop]
"""


def test_positions_on_odd_yaml() -> None:
    node = yaml.compose(ODD, Loader=yaml.SafeLoader)
    pos = Positions(node)
    assert pos.line(("list", 0, "name")) == 6  # explicit key beats the merged one
    assert pos.line(("list", 0, "port")) == 2  # merged: where the value is written
    assert pos.line(("list", 1, "port")) == 2
    assert pos.line(("again",)) == 9  # the loader keeps the last of repeated keys
    assert pos.line((1,)) == 10
    assert pos.line(("loop", 0, 0, 0, "x")) == 13
    assert pos.line(("nowhere", 3)) == 1
    assert pos.line(("list", 7)) == 4
    assert pos.duplicate_keys() == [(("again",), 9, 8)]
    assert Positions(None).line(("a",)) == 1


@settings(max_examples=60, deadline=None)
@given(mutated_catalogs(max_changes=3))
def test_mutated_catalogs_validate_or_fail_with_located_lines(mutation: Any) -> None:
    """The shared mutation strategy: never a traceback; every problem is `file:LINE: path: reason`."""
    try:
        parse_catalog(mutation.text, "m.yaml")
    except CatalogError as exc:
        assert exc.problems
        count = len(mutation.text.splitlines())
        for line in exc.problems:
            assert re.match(r"^m\.yaml:\d+: \S", line) and "\n" not in line, line
            assert 1 <= _line_of(line) <= count, line
