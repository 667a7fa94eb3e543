"""The rule files for the engines beyond one Prometheus: vmalert on VictoriaMetrics, Thanos Ruler, Mimir's ruler.

Every target starts from the Prometheus layout (`render.rule_groups`), which `--target prometheus` writes unchanged:

- vmalert evaluates the rules of a group one after another, but writes their results asynchronously (remote write),
  so a rule reading a series recorded in its own or another group sees it one evaluation round late. Its files
  hold the same groups, placed in dependency order, worked out from which recorded series each expression reads:
  every rule after the rules it reads in its group, every group after the groups it reads in its file, the
  recording file first (`-rule` order, which `vmalert -replay` follows group by group). The lag is then one round
  of the input's group plus at most one remote-write flush, which the generated flags keep below that round.
- Thanos Ruler: each group gets `partial_response_strategy`: `abort` for groups that page or hold a DR trigger
  (an alert decided on partial data can page falsely or resolve silently; a failed evaluation is itself visible),
  `warn` for the rest, recording groups included (partial data leaves some services' series out for a round
  instead of failing every service's).
- Mimir: one ruler namespace per component, named after its rule file (`zarish-slo-alerts`), holding that file's
  groups unchanged; `namespaces` is what the upload client sends.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from zarish_obs import conventions, promql_lexer
from zarish_obs.alerts.alertmanager import build_alertmanager_config
from zarish_obs.alerts.common import RECORDING_FILE
from zarish_obs.alerts.render import ALERTMANAGER_FILE, HEADER, render, rule_groups
from zarish_obs.catalog import Catalog
from zarish_obs.durations import format_duration, parse_duration
from zarish_obs.writers import to_yaml

TARGETS = ("prometheus", "vmalert", "thanos", "mimir")
VMALERT_FLAGS_FILE = "vmalert.flags"
RULE_SUFFIX = ".yml"

# What vmalert 1.79 accepts in a group and in a rule; it refuses a file with any other field.
VMALERT_GROUP_FIELDS = frozenset({"name", "interval", "limit", "concurrency", "type", "params", "headers", "labels",
                                  "rules"})
VMALERT_RULE_FIELDS = frozenset({"record", "alert", "expr", "for", "labels", "annotations"})
VMALERT_HEADER = ("# For vmalert: a rule reading a series recorded by a rule of this or another group sees it one "
                  "evaluation round late (results are written asynchronously); rules and groups are in dependency "
                  "order.\n")
# Placeholders for the addresses the catalog does not hold: VictoriaMetrics single node on its default port, as
# the in-cluster service the catalog's other addresses (alertmanager:9093) name. A cluster reads from
# vmselect (http://vmselect:8481/select/0/prometheus) and writes to vminsert (http://vminsert:8480/insert/0/prometheus).
DEFAULT_STORE_URL = "http://victoria-metrics:8428"
# VictoriaMetrics' -search.latencyOffset default: it answers a query for the newest 30 s as if asked 30 s earlier.
DEFAULT_LATENCY_OFFSET = "30s"
VMALERT_DEFAULT_FLUSH_SECONDS = 5.0

THANOS_FIELD = "partial_response_strategy"
ABORT = "abort"
WARN = "warn"
PAGING_SEVERITIES = frozenset({"page", "critical"})

# Our schema of a Thanos Ruler rule file as we write it: Prometheus 2.42's group fields plus the Thanos field,
# which Thanos reads case-insensitively and defaults to abort; we always write it, in lower case.
THANOS_RULE_FILE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Thanos Ruler rule file (as zarish-obs writes it)",
    "type": "object",
    "required": ["groups"],
    "additionalProperties": False,
    "properties": {
        "groups": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", THANOS_FIELD, "rules"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "interval": {"type": "string", "pattern": r"^(\d+(ms|s|m|h|d|w|y))+$"},
                    "limit": {"type": "integer", "minimum": 0},
                    THANOS_FIELD: {"type": "string", "enum": [WARN, ABORT]},
                    "rules": {"type": "array", "minItems": 1, "items": {"type": "object"}},
                },
            },
        },
    },
}


def namespaces(catalog: Catalog) -> dict[str, list[dict[str, Any]]]:
    """Mimir ruler namespace (the rule file's stem, e.g. `zarish-slo-alerts`) -> its rule groups, unchanged."""
    return {_stem(name): groups for name, groups in rule_groups(catalog).items()}


def _stem(file_name: str) -> str:
    return file_name.removesuffix(RULE_SUFFIX)


# --- which recorded series an expression reads ------------------------------------------------------------------

def _name_matches(matcher: promql_lexer.LabelMatcher, name: str) -> bool:
    if matcher.op == "=":
        return name == matcher.value
    if matcher.op == "!=":
        return name != matcher.value
    found = re.fullmatch(matcher.value, name) is not None
    return found if matcher.op == "=~" else not found


def records_read(expr: str, records: Iterable[str]) -> set[str]:
    """The names among `records` that some vector selector of `expr` can select (a selector without a metric name
    matcher counts as reading every one of them)."""
    names = set(records)
    out: set[str] = set()
    for selector in promql_lexer.lex(expr).selectors:
        picked = names
        for m in selector.matchers:
            if m.name == "__name__":
                picked = {n for n in picked if _name_matches(m, n)}
        out |= picked
    return out


def _stable_order(items: list[Any], after: Callable[[int], set[int]], what: Callable[[int], str]) -> list[Any]:
    """`items` reordered so that each comes after those `after(i)` names, otherwise in their own order."""
    placed: list[int] = []
    done: set[int] = set()
    while len(placed) < len(items):
        ready = next((i for i in range(len(items)) if i not in done and after(i) <= done), None)
        if ready is None:
            stuck = [what(i) for i in range(len(items)) if i not in done]
            raise ValueError(f"recording rules read each other in a cycle: {', '.join(stuck)}")
        placed.append(ready)
        done.add(ready)
    return [items[i] for i in placed]


def _records(rules: Iterable[dict[str, Any]]) -> set[str]:
    return {r["record"] for r in rules if "record" in r}


def _reads_of(rules: Iterable[dict[str, Any]], records: set[str]) -> set[str]:
    return set().union(*(records_read(r["expr"], records) for r in rules))


def _order_rules(group: dict[str, Any], every: set[str]) -> dict[str, Any]:
    rules = group["rules"]
    produced = [_records([r]) for r in rules]
    reads = [records_read(r["expr"], every) for r in rules]

    def after(i: int) -> set[int]:
        return {j for j in range(len(rules))
                if j != i and produced[j] & reads[i] and not produced[j] <= produced[i]}

    def what(i: int) -> str:
        return f"{group['name']}/{rules[i].get('record', rules[i].get('alert'))}"

    return {**group, "rules": _stable_order(rules, after, what)}


def _order_by_records(items: list[Any], rules_of: Callable[[Any], list[dict[str, Any]]], every: set[str],
                      what: Callable[[Any], str]) -> list[Any]:
    produced = [_records(rules_of(x)) for x in items]
    reads = [_reads_of(rules_of(x), every) - produced[i] for i, x in enumerate(items)]
    return _stable_order(items, lambda i: {j for j in range(len(items)) if j != i and produced[j] & reads[i]},
                         lambda i: what(items[i]))


def dependency_ordered(files: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """The same files, groups and rules, each placed after what it reads: rules within a group, groups within a
    file, and files (a rule reading its own record, a lag by design, imposes nothing)."""
    every = _records(r for groups in files.values() for g in groups for r in g["rules"])
    ordered = {name: _order_by_records([_order_rules(g, every) for g in groups], lambda g: g["rules"], every,
                                       lambda g: g["name"])
               for name, groups in files.items()}
    names = _order_by_records(list(ordered), lambda n: [r for g in ordered[n] for r in g["rules"]], every, str)
    return {n: ordered[n] for n in names}


# --- vmalert ----------------------------------------------------------------------------------------------------

def check_vmalert_fields(files: dict[str, list[dict[str, Any]]]) -> None:
    for file_name, groups in files.items():
        for g in groups:
            extra = set(g) - VMALERT_GROUP_FIELDS
            extra |= {k for r in g["rules"] for k in r if k not in VMALERT_RULE_FIELDS}
            if extra:
                raise ValueError(f"{file_name}: group {g['name']} has fields vmalert 1.79 refuses: "
                                 f"{', '.join(sorted(extra))}")


def vmalert_groups(catalog: Catalog) -> dict[str, list[dict[str, Any]]]:
    """Rule file name -> groups for vmalert, in dependency order (files in the order `-rule` lists them)."""
    files = dependency_ordered(rule_groups(catalog))
    check_vmalert_fields(files)
    return files


def group_intervals(catalog: Catalog, files: dict[str, list[dict[str, Any]]]) -> list[float]:
    """Seconds between evaluations of every group (its own interval, else the catalog's evaluation interval)."""
    default = parse_duration(catalog.prometheus.evaluation_interval)
    return [parse_duration(g["interval"]) if "interval" in g else default for gs in files.values() for g in gs]


@dataclass(frozen=True)
class VmalertSettings:
    """Where vmalert reads, writes and sends: the addresses the catalog does not hold."""

    rule_dir: str
    datasource_url: str = DEFAULT_STORE_URL
    remote_write_url: str | None = None  # default: the datasource
    remote_read_url: str | None = None  # default: the datasource
    notifier_urls: tuple[str, ...] = field(default_factory=tuple)  # default: the catalog's Alertmanagers
    latency_offset: str = DEFAULT_LATENCY_OFFSET  # the store's -search.latencyOffset ("0s" when it hides nothing)


def latency_seconds(offset: str) -> float:
    """Seconds of a latency offset; `0s` (a store that hides nothing) is allowed."""
    return 0.0 if re.fullmatch(r"0+(ms|s|m|h)?", offset) else parse_duration(offset)


def _http(address: str) -> str:
    return address if "://" in address else f"http://{address}"


def vmalert_flags(catalog: Catalog, settings: VmalertSettings) -> list[str]:
    """The command-line flags that run vmalert on the generated files, one per item.

    -datasource.lookback = the store's latency offset: VictoriaMetrics answers a query for its newest 30 s as if
    asked 30 s earlier, yet vmalert would stamp the answer with the time it asked; asking 30 s back itself stamps
    each recorded sample with the time it describes, so a chain of recording rules lags once, not 30 s per link.
    -remoteWrite.flushInterval under the shortest group interval, so the previous round's results are readable.
    -disableAlertgroupLabel: otherwise every recorded series and alert gains an `alertgroup` label, and `and`
    between series recorded in different groups (the ticket tiers' 1d and 2h ratios) never matches.
    """
    files = vmalert_groups(catalog)
    rule_dir = settings.rule_dir.rstrip("/") or "/"
    out = [f"-rule={rule_dir}/{name}" for name in files]
    out.append(f"-datasource.url={settings.datasource_url}")
    lookback = latency_seconds(settings.latency_offset)
    if lookback > 0:
        out.append(f"-datasource.lookback={format_duration(lookback)}")
    out.append(f"-remoteWrite.url={settings.remote_write_url or settings.datasource_url}")
    flush = min(VMALERT_DEFAULT_FLUSH_SECONDS, min(group_intervals(catalog, files)) / 2)
    out.append(f"-remoteWrite.flushInterval={format_duration(flush)}")
    out.append(f"-remoteRead.url={settings.remote_read_url or settings.datasource_url}")
    notifiers = settings.notifier_urls or tuple(_http(a) for a in catalog.prometheus.alertmanagers)
    out.extend(f"-notifier.url={url}" for url in notifiers)
    out.append(f"-evaluationInterval={catalog.prometheus.evaluation_interval}")
    out.append("-disableAlertgroupLabel")
    out.extend(f"-external.label={k}={v}" for k, v in conventions.external_labels(catalog).items())
    return out


# --- Thanos -----------------------------------------------------------------------------------------------------

def thanos_strategy(group: dict[str, Any]) -> str:
    """abort when an alert of the group pages or is a DR trigger, warn otherwise."""
    for rule in group["rules"]:
        labels = rule.get("labels") or {}
        if "alert" in rule and (labels.get(conventions.SEVERITY_LABEL) in PAGING_SEVERITIES
                                or conventions.DR_TRIGGER_LABEL in labels):
            return ABORT
    return WARN


def _with_strategy(group: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in group.items() if k != "rules"}
    out[THANOS_FIELD] = thanos_strategy(group)
    out["rules"] = group["rules"]
    return out


def thanos_groups(catalog: Catalog) -> dict[str, list[dict[str, Any]]]:
    """Rule file name -> groups, each with its partial_response_strategy."""
    return {name: [_with_strategy(g) for g in groups] for name, groups in rule_groups(catalog).items()}


def without_thanos_field(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The groups as Prometheus reads them (what promtool checks)."""
    return [{k: v for k, v in g.items() if k != THANOS_FIELD} for g in groups]


# --- files ------------------------------------------------------------------------------------------------------

def _alertmanager(catalog: Catalog, webhook_url: str | None, receivers: dict[str, Any] | None) -> str:
    return HEADER.format(name=catalog.name) + to_yaml(build_alertmanager_config(catalog, webhook_url,
                                                                                **(receivers or {})))


def render_target(catalog: Catalog, target: str, webhook_url: str | None = None,
                  receivers: dict[str, Any] | None = None, vmalert: VmalertSettings | None = None) -> dict[str, str]:
    """Relative path -> text for one engine; prometheus is exactly `render(catalog, "files")`.

    vmalert: its rule files, alertmanager.yml and vmalert.flags (one flag a line: `xargs -a vmalert.flags vmalert`);
    thanos: rule files with partial_response_strategy and alertmanager.yml; mimir: one file per ruler namespace in
    mimirtool's layout (`namespace:` and `groups:`) and alertmanager.yml. The promtool unit tests are the
    Prometheus layout's and come only with it.
    """
    if target == "prometheus":
        return render(catalog, "files", webhook_url, receivers)
    header = HEADER.format(name=catalog.name)
    files: dict[str, str] = {ALERTMANAGER_FILE: _alertmanager(catalog, webhook_url, receivers)}
    if target == "vmalert":
        settings = vmalert or VmalertSettings(rule_dir=".")
        for name, groups in vmalert_groups(catalog).items():
            files[name] = header + VMALERT_HEADER + to_yaml({"groups": groups})
        files[VMALERT_FLAGS_FILE] = "\n".join(vmalert_flags(catalog, settings)) + "\n"
    elif target == "thanos":
        for name, groups in thanos_groups(catalog).items():
            files[name] = header + to_yaml({"groups": groups})
    elif target == "mimir":
        for namespace, groups in namespaces(catalog).items():
            files[namespace + RULE_SUFFIX] = header + to_yaml({"namespace": namespace, "groups": groups})
    else:
        raise ValueError(f"unknown target {target!r}; expected one of {', '.join(TARGETS)}")
    return files


__all__ = ["ABORT", "DEFAULT_LATENCY_OFFSET", "DEFAULT_STORE_URL", "RECORDING_FILE", "TARGETS",
           "THANOS_FIELD", "THANOS_RULE_FILE_SCHEMA", "VMALERT_FLAGS_FILE", "WARN", "VmalertSettings",
           "dependency_ordered", "namespaces", "records_read", "render_target", "thanos_groups", "thanos_strategy",
           "vmalert_flags", "vmalert_groups", "without_thanos_field"]
