"""Sloth SLO specs as catalog services with ratio SLIs (`zarish-obs import sloth`).

Sloth (sloth.dev) reads two formats with the same content: `version: prometheus/v1` files (snake_case
fields) and the Kubernetes resource `apiVersion: sloth.slok.dev/v1, kind: PrometheusServiceLevel` (the same
under `spec`, camelCase fields). Only an `events` SLI has what a catalog ratio SLI needs, a bad and a total
event count; `raw` and `plugin` SLIs are refused. Neither format has a per-SLO window: Sloth takes it from its
`--default-slo-period` flag (30d unless given), so the importer takes it as a parameter too.

Every field of a document ends up in one of three places, never nowhere: the catalog (service, SLO name,
objective, description, queries), a note (`FILE#DOC: field.path: not imported: reason`: alerting names,
labels, annotations, disabled alerts, plugins, which the catalog has no place for), or a refusal
(`FILE#DOC: field.path: reason`). Pure: text in, service dicts and lines out.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from zarish_obs.catalog import MIN_OBJECTIVE, RatioSLO
from zarish_obs.fields import DNS_NAME_RE
from zarish_obs.openslo_validate import Doc, parse_documents, render_path
from zarish_obs.promql_lexer import PLACEHOLDER, LexError, from_sloth, lex

PROMETHEUS_VERSION = "prometheus/v1"
K8S_API_VERSION = "sloth.slok.dev/v1"
K8S_KIND = "PrometheusServiceLevel"
DEFAULT_WINDOW = "30d"  # Sloth's --default-slo-period when not given
RESERVED_NAMES = ("availability", "latency")  # the catalog's own SLO kinds
_TEMPLATE = re.compile(r"\{\{.*?\}\}", re.S)


@dataclass(frozen=True)
class Dialect:
    """The field names of one of Sloth's two formats."""

    name: str
    root: tuple[str, ...]  # where service, labels and slos live
    top: frozenset[str]  # fields of the document itself
    spec: frozenset[str]
    slo: frozenset[str]
    error_query: str
    total_query: str
    raw_query: str
    page_alert: str
    ticket_alert: str
    slo_plugins: str
    info_labels: str | None


PROMETHEUS = Dialect(
    name=f"Sloth {PROMETHEUS_VERSION} spec", root=(), top=frozenset(), spec=frozenset(
        {"version", "service", "labels", "slos", "slo_plugins"}),
    slo=frozenset({"name", "description", "objective", "labels", "infoLabels", "sli", "alerting", "interval",
                   "plugins"}),
    error_query="error_query", total_query="total_query", raw_query="error_ratio_query", page_alert="page_alert",
    ticket_alert="ticket_alert", slo_plugins="slo_plugins", info_labels="infoLabels")
KUBERNETES = Dialect(
    name=f"{K8S_KIND} resource", root=("spec",), top=frozenset({"apiVersion", "kind", "metadata", "spec", "status"}),
    spec=frozenset({"service", "labels", "slos", "sloPlugins"}),
    slo=frozenset({"name", "description", "objective", "labels", "sli", "alerting", "plugins"}),
    error_query="errorQuery", total_query="totalQuery", raw_query="errorRatioQuery", page_alert="pageAlert",
    ticket_alert="ticketAlert", slo_plugins="sloPlugins", info_labels=None)
_OTHER = {PROMETHEUS.name: KUBERNETES, KUBERNETES.name: PROMETHEUS}
# Kubernetes bookkeeping that names or tracks the resource, not the SLOs: nothing of it is lost.
_K8S_IDENTITY = frozenset({"name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
                           "managedFields", "selfLink", "ownerReferences", "finalizers", "generateName",
                           "deletionTimestamp", "deletionGracePeriodSeconds"})

_LABELS_REASON = ("the catalog's rules carry only their own labels (environment, service, slo), so extra rule "
                  "labels have no place")
_ALERT_REASON = ("the catalog's burn-rate alerts are named, labelled and annotated the same way for every SLO "
                 "(alerts are routed by severity, service and slo)")
_PLUGINS_REASON = "zarish-obs generates its own rules from the catalog; Sloth's SLO plugins do not apply"


@dataclass
class Imported:
    """What the documents give: service dicts for the catalog, refusal lines, note lines."""

    services: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # problems and notes together, in document order

    def problem(self, line: str) -> None:
        self.problems.append(line)
        self.lines.append(line)

    def note(self, line: str) -> None:
        self.notes.append(line)
        self.lines.append(line)

    def refusals(self, strict: bool) -> list[str]:
        """The lines that refuse the import: the problems, and with `strict` the notes too."""
        return self.lines if strict else self.problems


@dataclass
class _Slot:
    """An SLO name taken in a service, and where it came from (to name both sides of a clash)."""

    where: str
    path: str


@dataclass
class _Context:
    service_label: str
    window: str
    out: Imported
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    taken: dict[tuple[str, str], _Slot] = field(default_factory=dict)


class _DocRun:
    """Reading one document: its problems and notes go to the shared output, in document order."""

    def __init__(self, doc: Doc, dialect: Dialect, ctx: _Context):
        self.doc, self.d, self.ctx = doc, dialect, ctx
        self.refused = False

    def problem(self, path: Sequence[Any], reason: str) -> None:
        self.refused = True
        self.ctx.out.problem(f"{self.doc.where}: {render_path(path)}: {reason}")

    def note(self, path: Sequence[Any], reason: str, prefix: str = "not imported: ") -> None:
        self.ctx.out.note(f"{self.doc.where}: {render_path(path)}: {prefix}{reason}")

    def unknown(self, node: dict[str, Any], known: frozenset[str], path: Sequence[Any]) -> None:
        for key in node:
            if key in known:
                continue
            other = _OTHER[self.d.name]
            respelled = _respelled(key, other, self.d)
            hint = f" ({other.name} spelling; a {self.d.name} spells it {respelled})" if respelled else ""
            self.problem([*path, key], f"unknown field in a {self.d.name}{hint}")

    def mapping(self, node: dict[str, Any], key: str, path: Sequence[Any]) -> dict[str, Any] | None:
        """node[key] as a mapping; None (and a problem) when it is something else, None when absent."""
        value = node.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            self.problem([*path, key], f"expected a mapping, got {_kind(value)}")
            return None
        return value


def _kind(value: Any) -> str:
    return {list: "a list", dict: "a mapping", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "nothing"}.get(type(value), type(value).__name__)


def _respelled(key: str, source: Dialect, target: Dialect) -> str | None:
    """`target`'s name for a field that `source` calls `key` (the formats spell a few fields differently)."""
    for attr in ("error_query", "total_query", "raw_query", "page_alert", "ticket_alert", "slo_plugins"):
        if getattr(source, attr) == key:
            return str(getattr(target, attr))
    return None


def dns_label(name: str) -> str:
    """A Sloth SLO name as a catalog SLO name: lower case, runs of other characters as one '-', at most 63."""
    text = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return text[:63].rstrip("-")


def catalog_query(query: str) -> tuple[str, str | None]:
    """Sloth's `{{.window}}` as the catalog's `{{window}}`; the reason when another template remains."""
    converted = from_sloth(query)
    others = [m for m in _TEMPLATE.findall(converted) if m != PLACEHOLDER]
    if others:
        return converted, (f"uses the template {others[0]}: Sloth fills in only {{{{.window}}}}, the one "
                           "placeholder the catalog has ({{window}})")
    return converted, None


# -- documents ----------------------------------------------------------------------------------------------
def _dialect(doc: Doc, out: Imported) -> Dialect | None:
    """Which of Sloth's formats the document is, or None after refusing it."""
    data = doc.data

    def refuse(path: Sequence[Any], reason: str) -> None:
        out.problem(f"{doc.where}: {render_path(path)}: {reason}")

    expected = (f"expected version {PROMETHEUS_VERSION} (a Sloth spec) or apiVersion {K8S_API_VERSION} with kind "
                f"{K8S_KIND}")
    if not isinstance(data, dict):
        refuse([], f"expected a mapping (a Sloth spec), got {_kind(data)}")
        return None
    if "version" in data:
        if data["version"] != PROMETHEUS_VERSION:
            refuse(["version"], f"unsupported {data['version']!r}: {expected}")
            return None
        return PROMETHEUS
    if "apiVersion" in data:
        if data["apiVersion"] != K8S_API_VERSION:
            refuse(["apiVersion"], f"unsupported {data['apiVersion']!r}: {expected}")
            return None
        if data.get("kind") != K8S_KIND:
            refuse(["kind"], f"unsupported {data.get('kind')!r}: of {K8S_API_VERSION} only {K8S_KIND} is a "
                   "Sloth SLO resource")
            return None
        return KUBERNETES
    refuse([], f"no version or apiVersion: {expected}")
    return None


def _read_doc(run: _DocRun) -> None:
    d, data = run.d, run.doc.data
    if d is KUBERNETES:
        run.unknown(data, d.top, [])
        meta = run.mapping(data, "metadata", [])
        for key in sorted(meta or {}):
            if key not in _K8S_IDENTITY and meta and meta[key] not in (None, {}, []):
                run.note(["metadata", key], "Kubernetes metadata of the resource, not of its SLOs")
        spec = run.mapping(data, "spec", [])
        if spec is None:
            if "spec" not in data:
                run.problem(["spec"], "missing: the resource's SLOs live under spec")
            return
    else:
        spec = data
    root = list(d.root)
    run.unknown(spec, d.spec, root)

    service = spec.get("service")
    if not isinstance(service, str) or not service:
        run.problem([*root, "service"], "missing: the service the SLOs belong to" if service in (None, "")
                    else f"expected a string, got {_kind(service)}")
        service = None
    elif not DNS_NAME_RE.fullmatch(service):
        run.problem([*root, "service"], f"{service!r} cannot be a catalog service name (lower-case letters, digits "
                    "and '-', a DNS label of at most 63): it is not renamed, because every query must select "
                    "the service by its catalog name")
        service = None
    _note_map(run, spec, "labels", [*root, "labels"], _LABELS_REASON)
    _note_present(run, spec, d.slo_plugins, [*root, d.slo_plugins], _PLUGINS_REASON)

    slos = spec.get("slos")
    if not isinstance(slos, list) or not slos:
        run.problem([*root, "slos"], "missing: no SLOs to import" if slos in (None, [])
                    else f"expected a list, got {_kind(slos)}")
        return
    ratios = [_read_slo(run, slo, [*root, "slos", i], service) for i, slo in enumerate(slos)]
    if run.refused or service is None:
        return
    entry = run.ctx.services.get(service)
    if entry is None:
        entry = run.ctx.services[service] = {"name": service, "slos": {"ratios": []}}
        run.ctx.out.services.append(entry)
    entry["slos"]["ratios"] += [r for r in ratios if r is not None]


def _note_map(run: _DocRun, node: dict[str, Any], key: str, path: Sequence[Any], reason: str) -> None:
    """A note for a non-empty map of labels or annotations (an empty one loses nothing)."""
    value = node.get(key)
    if value in (None, {}):
        return
    if not isinstance(value, dict):
        run.problem(path, f"expected a mapping, got {_kind(value)}")
        return
    run.note(path, f"{', '.join(map(str, value))}: {reason}")


def _note_present(run: _DocRun, node: dict[str, Any], key: str, path: Sequence[Any], reason: str) -> None:
    if node.get(key) not in (None, {}, [], ""):
        run.note(path, reason)


def _read_slo(run: _DocRun, slo: Any, path: list[Any], service: str | None) -> dict[str, Any] | None:
    d = run.d
    if not isinstance(slo, dict):
        run.problem(path, f"expected a mapping (an SLO), got {_kind(slo)}")
        return None
    run.unknown(slo, d.slo, path)
    before = len(run.ctx.out.problems)
    name = _slo_name(run, slo, path, service)
    objective = _objective(run, slo.get("objective"), [*path, "objective"])
    description = slo.get("description")
    if description is not None and not isinstance(description, str):
        run.problem([*path, "description"], f"expected a string, got {_kind(description)}")
    _note_map(run, slo, "labels", [*path, "labels"], _LABELS_REASON)
    if d.info_labels:
        _note_map(run, slo, d.info_labels, [*path, d.info_labels], "the catalog has no SLO info series to carry "
                  "them")
    _note_present(run, slo, "interval", [*path, "interval"], "the catalog's rule groups are evaluated at "
                  "prometheus.evaluation_interval (and the long windows once a minute)")
    _note_present(run, slo, "plugins", [*path, "plugins"], _PLUGINS_REASON)
    queries = _sli(run, slo, [*path, "sli"], service)
    _alerting(run, slo, [*path, "alerting"])
    if len(run.ctx.out.problems) > before or name is None or objective is None or queries is None:
        return None
    ratio: dict[str, Any] = {"name": name, "objective": objective, "window": run.ctx.window}
    if description and description.strip():
        ratio["description"] = " ".join(description.split())
    ratio["total_query"], ratio["bad_query"] = queries[1], queries[0]
    return _checked(run, ratio, path)


def _slo_name(run: _DocRun, slo: dict[str, Any], path: list[Any], service: str | None) -> str | None:
    raw = slo.get("name")
    at = [*path, "name"]
    if not isinstance(raw, str) or not raw.strip():
        run.problem(at, "missing: every SLO needs a name" if raw in (None, "") else
                    f"expected a string, got {_kind(raw)}")
        return None
    name = dns_label(raw)
    if not name:
        run.problem(at, f"{raw!r} has no letters or digits to make a catalog SLO name from")
        return None
    if name in RESERVED_NAMES:
        run.problem(at, f"{raw!r} is the name of one of the catalog's own SLO kinds ({', '.join(RESERVED_NAMES)}): "
                    "rename the SLO")
        return None
    if service is not None:
        first = run.ctx.taken.get((service, name))
        if first is not None:
            same = f"{first.where}: {first.path}"
            run.problem(at, f"{raw!r} becomes the catalog SLO name {name!r}, which {same} already has for "
                        f"service {service!r}: rename one of them")
            return None
        run.ctx.taken[(service, name)] = _Slot(run.doc.where, render_path(at))
    if name != raw:
        run.note(at, f"{raw!r} imported as {name!r}: catalog SLO names are lower-case DNS labels", prefix="")
    return name


def _objective(run: _DocRun, value: Any, path: list[Any]) -> float | None:
    if value is None:
        run.problem(path, "missing: the SLO's target percentage")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        run.problem(path, f"expected a number (a percentage like 99.9), got {_kind(value)}")
        return None
    if not math.isfinite(value) or not MIN_OBJECTIVE <= value < 100:
        run.problem(path, f"{value:g} is outside the catalog's objectives, from {MIN_OBJECTIVE:g} up to (not "
                    "including) 100")
        return None
    return float(value) if isinstance(value, float) else value


def _alerting(run: _DocRun, slo: dict[str, Any], path: list[Any]) -> None:
    d = run.d
    alerting = run.mapping(slo, "alerting", path[:-1])
    if alerting is None:
        return
    run.unknown(alerting, frozenset({"name", "labels", "annotations", d.page_alert, d.ticket_alert}), path)
    if alerting.get("name") not in (None, ""):
        run.note([*path, "name"], f"{alerting['name']!r}: {_ALERT_REASON}")
    _note_map(run, alerting, "labels", [*path, "labels"], _ALERT_REASON)
    _note_map(run, alerting, "annotations", [*path, "annotations"], _ALERT_REASON)
    for key, tier in ((d.page_alert, "page"), (d.ticket_alert, "ticket")):
        alert = run.mapping(alerting, key, path)
        if alert is None:
            continue
        at = [*path, key]
        run.unknown(alert, frozenset({"disable", "labels", "annotations"}), at)
        disable = alert.get("disable")
        if disable is True:
            run.note([*at, "disable"], f"the catalog turns burn-rate tiers on and off for all SLOs together "
                     f"(alerting.{tier}_fast.enabled, alerting.{tier}_slow.enabled), so this SLO keeps its {tier} "
                     "alerts")
        elif disable not in (None, False):
            run.problem([*at, "disable"], f"expected true or false, got {_kind(disable)}")
        _note_map(run, alert, "labels", [*at, "labels"], _ALERT_REASON)
        _note_map(run, alert, "annotations", [*at, "annotations"], _ALERT_REASON)


def _sli(run: _DocRun, slo: dict[str, Any], path: list[Any], service: str | None) -> tuple[str, str] | None:
    """(bad query, total query) in the catalog's spelling, or None after a refusal."""
    d = run.d
    sli = run.mapping(slo, "sli", path[:-1])
    if sli is None:
        if "sli" not in slo:
            run.problem(path, "missing: the SLO's indicator (sli.events)")
        return None
    run.unknown(sli, frozenset({"events", "raw", "plugin"}), path)
    given = [k for k in ("events", "raw", "plugin") if sli.get(k) is not None]
    if len(given) != 1:
        run.problem(path, f"give exactly one of events, raw, plugin; got {', '.join(given) or 'none'}")
        return None
    if given == ["raw"]:
        run.problem([*path, "raw"], f"a raw SLI ({d.raw_query}) is an error ratio already computed: the catalog's "
                    "ratio SLI needs separate bad and total event counts (to add them up over windows and "
                    f"services); write it as sli.events with {d.error_query} and {d.total_query}")
        return None
    if given == ["plugin"]:
        plugin = sli["plugin"]
        ident = plugin.get("id") if isinstance(plugin, dict) else None
        named = f" {ident!r}" if isinstance(ident, str) else ""
        run.problem([*path, "plugin"], f"the SLI plugin{named} builds its queries inside Sloth, so there are no "
                    "separate bad and total event queries to import: write them out as sli.events with "
                    f"{d.error_query} and {d.total_query}")
        return None
    events = run.mapping(sli, "events", path)
    if events is None:
        return None
    at = [*path, "events"]
    run.unknown(events, frozenset({d.error_query, d.total_query}), at)
    queries: list[str] = []
    for key in (d.error_query, d.total_query):
        query = events.get(key)
        if not isinstance(query, str) or not query.strip():
            run.problem([*at, key], "missing: a PromQL query of event counts over {{.window}}" if query in (None, "")
                        else f"expected a string, got {_kind(query)}")
            continue
        converted, reason = catalog_query(query.strip())
        if reason:
            run.problem([*at, key], reason)
            continue
        if service is not None and _service_matcher_missing(run, converted, service, [*at, key]):
            continue
        queries.append(converted)
    return (queries[0], queries[1]) if len(queries) == 2 else None


def _service_matcher_missing(run: _DocRun, query: str, service: str, path: list[Any]) -> bool:
    label = run.ctx.service_label
    try:
        lexed = lex(query)
    except LexError as exc:
        run.problem(path, f"cannot read the query: {exc}")
        return True
    missing = [sel.text(query) for sel in lexed.selectors if not sel.pins(label, service)]
    if not missing:
        return False
    more = f" (and {len(missing) - 1} more selector{'s' if len(missing) > 2 else ''})" if len(missing) > 1 else ""
    run.problem(path, f"selector {missing[0]}{more} lacks the matcher {label}=\"{service}\" the catalog requires "
                "in every selector (so a query counts only its own service's events): add it to each selector, "
                "or relabel the metric at scrape time so its series carry it")
    return True


# Where each catalog ratio field came from, to name the Sloth field when the catalog model refuses it.
_FIELD_PATHS: dict[str, Callable[[Dialect], list[str]]] = {
    "name": lambda d: ["name"],
    "objective": lambda d: ["objective"],
    "description": lambda d: ["description"],
    "total_query": lambda d: ["sli", "events", d.total_query],
    "bad_query": lambda d: ["sli", "events", d.error_query],
}


def _checked(run: _DocRun, ratio: dict[str, Any], path: list[Any]) -> dict[str, Any] | None:
    """The ratio as the catalog model reads it; its refusals located at the Sloth field they came from."""
    try:
        RatioSLO.model_validate(ratio)
    except ValidationError as exc:
        for e in exc.errors(include_url=False):
            key = e["loc"][0] if e["loc"] else None
            where = _FIELD_PATHS[key](run.d) if isinstance(key, str) and key in _FIELD_PATHS else ["sli", "events"]
            reason = str(e["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
            run.problem([*path, *where], " ".join(reason.split()))
        return None
    return ratio


def import_texts(texts: Sequence[tuple[str, str]], service_label: str, window: str = DEFAULT_WINDOW) -> Imported:
    """Service dicts (in first-seen order, one per Sloth service, SLOs of several documents together) and the
    refusal and note lines of every document of every text."""
    out = Imported()
    ctx = _Context(service_label, window, out)
    for source, text in texts:
        docs, broken = parse_documents(text, source)
        for doc in docs:
            if doc.data is None:  # an empty document, e.g. after a trailing `---`
                continue
            dialect = _dialect(doc, out)
            if dialect is not None:
                _read_doc(_DocRun(doc, dialect, ctx))
        for line in broken:
            out.problem(line)
    return out
