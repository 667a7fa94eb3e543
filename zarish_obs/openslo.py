"""OpenSLO v1 documents for a catalog: pure builders returning plain dicts, so other SLO tools can read the
same objectives, indicators and burn-rate policies that our rules and alerts enforce.

Queries come from promql.Signals and tiers, windows and `for:` durations from conventions, so an exported
SLI or AlertCondition cannot drift from the generated Prometheus rules.
"""

from __future__ import annotations

from typing import Any

from zarish_obs import conventions
from zarish_obs.catalog import AvailabilitySLO, Catalog, RatioSLO, Service
from zarish_obs.durations import parse_duration
from zarish_obs.promql import signals
from zarish_obs.writers import to_yaml, to_yaml_documents

API_VERSION = "openslo/v1"
# Export order: referenced objects before the objects that refer to them.
KINDS = ("DataSource", "Service", "SLI", "AlertNotificationTarget", "AlertCondition", "AlertPolicy", "SLO")
DATASOURCE_TYPE = "Prometheus"
BUDGETING_METHOD = "Occurrences"
NOTIFICATION_TARGET = "alertmanager"
SINGLE_FILE = "openslo.yaml"
BUILT_IN_KINDS = ("availability", "latency")
RATIO_KIND = "ratio"
# metadata.annotations carry what OpenSLO has no field for, so `openslo import` restores the catalog exactly.
# Keys are `prefix/name` as OpenSLO v1 requires (prefix a DNS subdomain), values strings.
ANNOTATION_PREFIX = "zarish-obs/"
TIER, PORT, METRICS_PORT = "zarish-obs/tier", "zarish-obs/port", "zarish-obs/metrics-port"
KIND, THRESHOLD = "zarish-obs/kind", "zarish-obs/threshold-seconds"
TOTAL_QUERY, BAD_QUERY, GOOD_QUERY = "zarish-obs/total-query", "zarish-obs/bad-query", "zarish-obs/good-query"
WINDOW = "zarish-obs/window"
# OpenSLO's duration-shorthand postfixes that are whole multiples of a minute and exact (months, quarters
# and years are calendar lengths, so a Prometheus duration never converts to them).
_SHORTHAND_UNITS = (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60))


def shorthand(duration: str) -> str:
    """A Prometheus duration as an OpenSLO duration-shorthand (one number, one postfix); OpenSLO has no
    seconds, so a duration that is not whole minutes is rounded up to the next minute."""
    minutes = max(1, -(-round(parse_duration(duration)) // 60))
    seconds = minutes * 60
    unit, size = next((u, s) for u, s in _SHORTHAND_UNITS if seconds % s == 0)
    return f"{seconds // size}{unit}"


# -- names ------------------------------------------------------------------------------------------------
def datasource_name(catalog: Catalog) -> str:
    return f"{catalog.name}-prometheus"


def sli_name(service: Service, kind: str) -> str:
    return f"{service.name}-{kind}"


def slo_name(service: Service, kind: str) -> str:
    return f"{service.name}-{kind}"


def target_name(catalog: Catalog, severity: str) -> str:
    return f"{catalog.name}-{severity}"


def condition_name(tier: conventions.BurnTier, slo_window: str) -> str:
    """One per tier and SLO window: the burn-rate factor depends on the window."""
    return f"{tier.name.replace('_', '-')}-{shorthand(slo_window).lower()}"


def policy_name(tier: conventions.BurnTier, slo_window: str) -> str:
    return condition_name(tier, slo_window)


def number_text(value: float) -> str:
    """A catalog number as an annotation value that parses back to the same float."""
    return repr(float(value))


def sli_kind(kind: str) -> str:
    """The `zarish-obs/kind` annotation of an SLO kind: a ratio SLO's kind is its own name."""
    return kind if kind in BUILT_IN_KINDS else RATIO_KIND


def _doc(kind: str, name: str, spec: dict[str, Any], display: str | None = None,
         annotations: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if display:
        meta["displayName"] = display
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": meta, "spec": spec}


# -- builders ---------------------------------------------------------------------------------------------
def datasource(catalog: Catalog) -> dict[str, Any]:
    return _doc("DataSource", datasource_name(catalog), {
        "description": f"Prometheus of {catalog.cluster}, which evaluates the zarish-obs rules",
        "type": DATASOURCE_TYPE,
        "connectionDetails": {"cluster": catalog.cluster, "namespace": catalog.monitoring_namespace},
    })


def service(svc: Service) -> dict[str, Any]:
    spec = {"description": svc.description} if svc.description else {}
    return _doc("Service", svc.name, spec, annotations={
        TIER: svc.tier, PORT: str(svc.port), METRICS_PORT: str(svc.metrics_port)})


def _source(catalog: Catalog, query: str) -> dict[str, Any]:
    return {"metricSource": {"metricSourceRef": datasource_name(catalog), "type": DATASOURCE_TYPE,
                             "spec": {"query": query}}}


def sli(catalog: Catalog, svc: Service, kind: str) -> dict[str, Any]:
    """A bad/total ratio of 5-minute event increases (not raw counters, hence `counter: false`), the same
    events the recording rules count; a ratio SLO's own queries, verbatim, ride along as annotations."""
    s = signals(catalog)
    annotations = {KIND: sli_kind(kind)}
    spec: dict[str, Any] = {"description": f"{kind} events of {svc.name}: bad and total over {conventions.TILE}"}
    ratio = svc.ratio(kind) if kind not in BUILT_IN_KINDS else None
    if kind == "latency" and svc.slos.latency is not None:
        annotations[THRESHOLD] = number_text(svc.slos.latency.threshold_seconds)
    if ratio is not None:
        annotations.update(_ratio_annotations(ratio))
        spec = {"description": ratio.description} if ratio.description else {}
    bad = s.slo_bad(kind, [svc], conventions.TILE)
    total = s.slo_total(kind, [svc], conventions.TILE)
    if bad is None or total is None:
        raise ValueError(f"service {svc.name} has no {kind} SLO")
    spec["ratioMetric"] = {"counter": False, "bad": _source(catalog, bad), "total": _source(catalog, total)}
    return _doc("SLI", sli_name(svc, kind), spec, annotations=annotations)


def _ratio_annotations(ratio: RatioSLO) -> dict[str, str]:
    out = {TOTAL_QUERY: ratio.total_query}
    if ratio.bad_query is not None:
        out[BAD_QUERY] = ratio.bad_query
    if ratio.good_query is not None:
        out[GOOD_QUERY] = ratio.good_query
    return out


def slo(catalog: Catalog, svc: Service, kind: str, objective: AvailabilitySLO) -> dict[str, Any]:
    window = conventions.normalise(objective.window)
    spec: dict[str, Any] = {
        "description": f"{kind} of {svc.name} over a rolling {window}",
        "service": svc.name,
        "indicatorRef": sli_name(svc, kind),
        "timeWindow": [{"duration": shorthand(window), "isRolling": True}],
        "budgetingMethod": BUDGETING_METHOD,
        "objectives": [{"displayName": f"{kind} {objective.objective}%", "target": target(objective.objective)}],
    }
    policies = [{"alertPolicyRef": policy_name(t, window)} for t in conventions.enabled_tiers(catalog)]
    if policies:
        spec["alertPolicies"] = policies
    annotations = {WINDOW: objective.window} if shorthand(objective.window) != objective.window else None
    return _doc("SLO", slo_name(svc, kind), spec, annotations=annotations)


def target(objective: float) -> float:
    """An objective percentage as OpenSLO's target fraction, without float noise (0.999, not
    0.9990000000000001)."""
    return round(objective / 100, 12)


def objective_from_target(value: float) -> float:
    """The shortest percentage whose target is `value`: the catalog's own spelling for any objective with at
    most 10 decimals."""
    for digits in range(16):
        candidate = round(value * 100, digits)
        if target(candidate) == value:
            return candidate
    return value * 100


def notification_target(catalog: Catalog, severity: str) -> dict[str, Any]:
    return _doc("AlertNotificationTarget", target_name(catalog, severity), {
        "description": f"Alertmanager, routed by {conventions.SEVERITY_LABEL}={severity}",
        "target": NOTIFICATION_TARGET,
    })


def alert_condition(catalog: Catalog, tier: conventions.BurnTier, slo_window: str) -> dict[str, Any]:
    """The tier's long window and factor; its short window has no OpenSLO field and stays in our rules."""
    return _doc("AlertCondition", condition_name(tier, slo_window), {
        "description": f"{tier.name}: {tier.budget_share:.0%} of a {slo_window} error budget spent within "
                       f"{tier.long_window}",
        "severity": tier.severity,
        "condition": {
            "kind": "burnrate",
            "threshold": tier.factor(slo_window),
            "lookbackWindow": shorthand(tier.long_window),
            "alertAfter": shorthand(conventions.timings(catalog).tier_for[tier.name]),
        },
    })


def alert_policy(catalog: Catalog, tier: conventions.BurnTier, slo_window: str) -> dict[str, Any]:
    return _doc("AlertPolicy", policy_name(tier, slo_window), {
        "description": f"{tier.severity} when the {tier.name} burn rate of a {slo_window} SLO is exceeded",
        "alertWhenBreaching": True,
        "alertWhenResolved": False,
        "alertWhenNoData": False,
        "conditions": [{"conditionRef": condition_name(tier, slo_window)}],
        "notificationTargets": [{"targetRef": target_name(catalog, tier.severity)}],
    })


def documents(catalog: Catalog) -> list[dict[str, Any]]:
    """Every OpenSLO document of the catalog, in KINDS order, each kind in catalog order."""
    tiers = conventions.enabled_tiers(catalog)
    items = [(svc, kind, obj) for svc in catalog.services for kind, obj in svc.slo_items()]
    severities = [sev for sev in conventions.SEVERITIES if any(t.severity == sev for t in tiers)] if items else []
    windows = conventions.slo_windows(catalog)
    return [
        datasource(catalog),
        *(service(svc) for svc in catalog.services),
        *(sli(catalog, svc, kind) for svc, kind, _ in items),
        *(notification_target(catalog, sev) for sev in severities),
        *(alert_condition(catalog, t, w) for w in windows for t in tiers),
        *(alert_policy(catalog, t, w) for w in windows for t in tiers),
        *(slo(catalog, svc, kind, obj) for svc, kind, obj in items),
    ]


def file_name(doc: dict[str, Any]) -> str:
    return f"{doc['kind'].lower()}-{doc['metadata']['name']}.yaml"


def files(catalog: Catalog, single_file: bool = False) -> dict[str, str]:
    """Relative file name -> YAML text: one file per kind and name, or one multi-document file."""
    docs = documents(catalog)
    if single_file:
        return {SINGLE_FILE: to_yaml_documents(docs)}
    return {file_name(d): to_yaml(d) for d in docs}
