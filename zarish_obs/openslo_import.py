"""OpenSLO v1 documents back into catalog services (`zarish-obs openslo import`).

Documents that `openslo export` wrote carry `zarish-obs/*` annotations and are restored exactly: tiers, ports,
SLO kinds, latency thresholds, ratio queries and window spellings. Other documents become ratio SLIs when
they say something the catalog can hold: an SLO with one objective, Occurrences budgeting and a rolling
window over a good/bad and total ratio of Prometheus queries. Everything else is refused with one line,
`FILE#DOC: field.path: reason`, never dropped: a catalog that silently lost an objective would alert on
something other than what its owners wrote down.

Pure: texts in, catalog text out (zarish_obs.openslo_cli reads and writes the files).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from zarish_obs import openslo, promql_lexer
from zarish_obs.catalog import Catalog, parse_catalog
from zarish_obs.catalog_import import merge
from zarish_obs.durations import parse_duration
from zarish_obs.errors import CatalogError, ExitCode, ZarishError
from zarish_obs.openslo_validate import Doc, check_documents, parse_documents, render_path

SOURCE = "<imported catalog>"  # how catalog problems that no document caused are located
_RANGE = re.compile(r"(?:[0-9]+(?:ms|s|m|h|d|w|y))+")
_KNOWN_ANNOTATIONS = {
    "Service": {openslo.TIER, openslo.PORT, openslo.METRICS_PORT},
    "SLI": {openslo.KIND, openslo.THRESHOLD, openslo.TOTAL_QUERY, openslo.BAD_QUERY, openslo.GOOD_QUERY},
    "SLO": {openslo.WINDOW},
}
_ALERT_KINDS = ("AlertPolicy", "AlertCondition", "AlertNotificationTarget")
_TIERS_REASON = ("the catalog's burn-rate alerts come from its alerting tiers (alerting.page_fast ... ticket_slow), "
                 "the same for every SLO")
_QUERY_ANNOTATIONS = {"total_query": openslo.TOTAL_QUERY, "bad_query": openslo.BAD_QUERY,
                      "good_query": openslo.GOOD_QUERY}


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Place:
    """A field of a document: where catalog problems about what it became are reported."""

    doc: Doc
    path: tuple[Any, ...]

    def line(self, reason: str) -> str:
        return f"{self.doc.where}: {render_path(self.path)}: {reason}"


@dataclass
class _Indicator:
    """An SLO's SLI, referenced or inline: its spec and where its fields are."""

    doc: Doc
    at: tuple[Any, ...]  # path of the SLI's metadata/spec parent: () for an SLI document
    metadata: dict[str, Any]
    spec: dict[str, Any]

    def place(self, *path: Any) -> Place:
        return Place(self.doc, (*self.at, *path))

    def annotation(self, key: str) -> Any:
        return _d(self.metadata.get("annotations")).get(key)


@dataclass
class _Run:
    problems: list[str] = field(default_factory=list)
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    origins: dict[str, Place] = field(default_factory=dict)  # catalog field path -> document field
    by_kind: dict[str, dict[str, Doc]] = field(default_factory=dict)
    used_slis: set[str] = field(default_factory=set)
    ours: list[tuple[str, str, _Indicator]] = field(default_factory=list)  # (service, SLO kind, its SLI)
    notes: list[str] = field(default_factory=list)  # what is deliberately not imported, one line each

    def refuse(self, place: Place, reason: str) -> None:
        self.problems.append(place.line(reason))

    def note(self, place: Place, reason: str) -> None:
        self.notes.append(place.line(f"not imported: {reason}"))

    def origin(self, loc: str, place: Place) -> None:
        self.origins.setdefault(loc, place)


# -- services ---------------------------------------------------------------------------------------------
def _int_text(value: Any) -> Any:
    """An annotation's number as a number; anything else as given, for the catalog to refuse in place."""
    return int(value) if isinstance(value, str) and re.fullmatch(r"[0-9]{1,6}", value) else value


def _unknown_annotations(run: _Run, doc: Doc, metadata: dict[str, Any], kind: str, at: tuple[Any, ...]) -> None:
    known = _KNOWN_ANNOTATIONS[kind]
    for key in _d(metadata.get("annotations")):
        if key.startswith(openslo.ANNOTATION_PREFIX) and key not in known:
            run.refuse(Place(doc, (*at, "metadata", "annotations", key)),
                       f"unknown zarish-obs annotation on a {kind} (known: {', '.join(sorted(known))})")


def _service(run: _Run, doc: Doc) -> None:
    name = doc.name or ""
    meta, spec = _d(doc.data.get("metadata")), _d(doc.data.get("spec"))
    notes = _d(meta.get("annotations"))
    _unknown_annotations(run, doc, meta, "Service", ())
    svc: dict[str, Any] = {"name": name}
    loc = f"services.{name}"
    run.origin(loc, Place(doc, ("metadata", "name")))
    if spec.get("description"):
        svc["description"] = spec["description"]
        run.origin(f"{loc}.description", Place(doc, ("spec", "description")))
    for key, note in (("tier", openslo.TIER), ("port", openslo.PORT), ("metrics_port", openslo.METRICS_PORT)):
        if note in notes:
            svc[key] = notes[note] if key == "tier" else _int_text(notes[note])
            run.origin(f"{loc}.{key}", Place(doc, ("metadata", "annotations", note)))
    svc["slos"] = {}
    run.services[name] = svc


# -- SLOs -------------------------------------------------------------------------------------------------
def _indicator(run: _Run, slo: Doc) -> _Indicator | None:
    spec = _d(slo.data.get("spec"))
    if isinstance(spec.get("indicator"), dict):
        inline = spec["indicator"]
        return _Indicator(slo, ("spec", "indicator"), _d(inline.get("metadata")), _d(inline.get("spec")))
    ref = spec.get("indicatorRef")
    sli = run.by_kind.get("SLI", {}).get(ref) if isinstance(ref, str) else None
    if sli is None or not isinstance(ref, str):
        run.refuse(Place(slo, ("spec", "indicatorRef")), f"no SLI named {ref!r}")
        return None
    run.used_slis.add(ref)
    return _Indicator(sli, (), _d(sli.data.get("metadata")), _d(sli.data.get("spec")))


def _window(run: _Run, slo: Doc) -> tuple[str, Place] | None:
    """The SLO's rolling window as a Prometheus duration, in the catalog's spelling when ours."""
    spec = _d(slo.data.get("spec"))
    windows = spec.get("timeWindow")
    if not isinstance(windows, list) or not windows:
        run.refuse(Place(slo, ("spec", "timeWindow")), "missing: the catalog needs each SLO's rolling window")
        return None
    window = _d(windows[0])
    at = ("spec", "timeWindow", 0)
    if "calendar" in window or window.get("isRolling") is False:
        key = "calendar" if "calendar" in window else "isRolling"
        run.refuse(Place(slo, (*at, key)), "a calendar-aligned window cannot be imported: the catalog's SLO "
                   "windows are rolling (the monthly report covers calendar periods)")
        return None
    duration = str(window.get("duration"))
    seconds = _seconds(duration)
    if seconds is None:
        run.refuse(Place(slo, (*at, "duration")), f"{duration!r} has no Prometheus duration (use m, h, d or w)")
        return None
    spelled = _d(_d(slo.data.get("metadata")).get("annotations")).get(openslo.WINDOW)
    if isinstance(spelled, str) and _seconds(spelled) == seconds:  # a stale spelling yields to timeWindow
        return spelled, Place(slo, ("metadata", "annotations", openslo.WINDOW))
    return duration, Place(slo, (*at, "duration"))


def _seconds(duration: str) -> float | None:
    try:
        return parse_duration(duration)
    except ValueError:
        return None


def _objective(run: _Run, slo: Doc) -> tuple[float, Place] | None:
    spec = _d(slo.data.get("spec"))
    objectives = spec.get("objectives") if isinstance(spec.get("objectives"), list) else []
    if len(objectives) > 1:
        run.refuse(Place(slo, ("spec", "objectives", 1)), "one objective per SLO: the catalog holds one objective "
                   "per SLI (several objectives make a composite SLO); split it into one SLO per objective")
        return None
    obj = _d(objectives[0]) if objectives else {}
    at = ("spec", "objectives", 0)
    if "target" in obj:
        return openslo.objective_from_target(float(obj["target"])), Place(slo, (*at, "target"))
    if "targetPercent" in obj:
        return float(obj["targetPercent"]), Place(slo, (*at, "targetPercent"))
    run.refuse(Place(slo, at), "needs target or targetPercent")
    return None


def _slo(run: _Run, slo: Doc) -> None:
    spec = _d(slo.data.get("spec"))
    service = spec.get("service")
    svc = run.services.get(service) if isinstance(service, str) else None
    if svc is None:
        run.refuse(Place(slo, ("spec", "service")), f"no Service named {service!r}")
        return
    _unknown_annotations(run, slo, _d(slo.data.get("metadata")), "SLO", ())
    method = spec.get("budgetingMethod")
    if method != openslo.BUDGETING_METHOD:
        run.refuse(Place(slo, ("spec", "budgetingMethod")), f"{method} budgeting cannot be imported: the catalog "
                   "counts events (Occurrences), not good time slices")
    indicator = _indicator(run, slo)
    window, objective = _window(run, slo), _objective(run, slo)
    if indicator is None or window is None or objective is None or method != openslo.BUDGETING_METHOD:
        return
    _unknown_annotations(run, indicator.doc, indicator.metadata, "SLI", indicator.at)
    kind = indicator.annotation(openslo.KIND)
    if kind is None:
        _foreign(run, slo, svc, indicator, window, objective)
    elif kind in openslo.BUILT_IN_KINDS:
        _built_in(run, slo, svc, indicator, kind, window, objective)
    elif kind == openslo.RATIO_KIND:
        _ours_ratio(run, slo, svc, indicator, window, objective)
    else:
        run.refuse(indicator.place("metadata", "annotations", openslo.KIND),
                   f"{kind!r}: expected one of {', '.join([*openslo.BUILT_IN_KINDS, openslo.RATIO_KIND])}")


Fields = tuple[dict[str, Any], dict[str, Place]]


def _base(slo: Doc, window: tuple[str, Place], objective: tuple[float, Place]) -> Fields:
    data = {"objective": objective[0], "window": window[0]}
    return data, {"": Place(slo, ("metadata", "name")), ".objective": objective[1], ".window": window[1]}


def _add(run: _Run, loc: str, places: dict[str, Place]) -> None:
    for suffix, place in places.items():
        run.origin(loc + suffix, place)


def _built_in(run: _Run, slo: Doc, svc: dict[str, Any], indicator: _Indicator, kind: str,
              window: tuple[str, Place], objective: tuple[float, Place]) -> None:
    """An availability or latency SLO we exported: the queries are the catalog's own, so only the objective,
    the window and (latency) the threshold are read."""
    if kind in svc["slos"]:
        run.refuse(Place(slo, ("metadata", "name")), f"a second {kind} SLO for service {svc['name']!r}")
        return
    data, places = _base(slo, window, objective)
    if kind == "latency":
        threshold = indicator.annotation(openslo.THRESHOLD)
        place = indicator.place("metadata", "annotations", openslo.THRESHOLD)
        try:
            data["threshold_seconds"] = float(threshold)
        except (TypeError, ValueError):
            run.refuse(place, "missing or not a number: a latency SLI needs its threshold in seconds")
            return
        places[".threshold_seconds"] = place
    svc["slos"][kind] = data
    _add(run, f"services.{svc['name']}.slos.{kind}", places)
    run.ours.append((svc["name"], kind, indicator))


def _ratio_name(slo: Doc, service: str) -> str:
    name = slo.name or ""
    return name.removeprefix(f"{service}-") or name


def _add_ratio(run: _Run, svc: dict[str, Any], data: dict[str, Any], places: dict[str, Place]) -> None:
    ratios = svc["slos"].setdefault("ratios", [])
    loc = f"services.{svc['name']}.slos.ratios"
    _add(run, f"{loc}.{data['name']}", places)
    _add(run, f"{loc}[{len(ratios)}]", places)
    ratios.append(data)


def _ours_ratio(run: _Run, slo: Doc, svc: dict[str, Any], indicator: _Indicator,
                window: tuple[str, Place], objective: tuple[float, Place]) -> None:
    """A ratio SLO we exported: its queries, verbatim, are in the SLI's annotations."""
    data, places = _base(slo, window, objective)
    data = {"name": _ratio_name(slo, svc["name"]), **data}
    places[".name"] = places[""]
    description = indicator.spec.get("description")
    if description:
        data["description"] = description
        places[".description"] = indicator.place("spec", "description")
    for key, note in _QUERY_ANNOTATIONS.items():
        if note in _d(indicator.metadata.get("annotations")):
            data[key] = indicator.annotation(note)
            places[f".{key}"] = indicator.place("metadata", "annotations", note)
    if "total_query" not in data:
        run.refuse(indicator.place("metadata", "annotations"), f"a ratio SLI needs {openslo.TOTAL_QUERY}")
        return
    _add_ratio(run, svc, data, places)
    run.ours.append((svc["name"], data["name"], indicator))


# -- foreign documents ------------------------------------------------------------------------------------
def _foreign(run: _Run, slo: Doc, svc: dict[str, Any], indicator: _Indicator,
             window: tuple[str, Place], objective: tuple[float, Place]) -> None:
    """An SLO from another tool: a ratio SLI, when its indicator is a ratio of Prometheus event counts."""
    spec = _d(slo.data.get("spec"))
    if spec.get("alertPolicies"):
        run.note(Place(slo, ("spec", "alertPolicies")), _TIERS_REASON)
    if "thresholdMetric" in indicator.spec:
        run.refuse(indicator.place("spec", "thresholdMetric"), "a threshold SLI cannot be imported: the catalog's "
                   "SLIs are ratios of good (or bad) to total events")
        return
    ratio = _d(indicator.spec.get("ratioMetric"))
    if "raw" in ratio:
        run.refuse(indicator.place("spec", "ratioMetric", "raw"), "a precomputed ratio cannot be imported: the "
                   "catalog adds up bad and total event counts over windows; give good or bad and total")
        return
    data, places = _base(slo, window, objective)
    data = {"name": _ratio_name(slo, svc["name"]), **data}
    places[".name"] = places[""]
    description = spec.get("description") or indicator.spec.get("description")
    if description:
        data["description"] = description
        places[".description"] = (Place(slo, ("spec", "description")) if spec.get("description")
                                  else indicator.place("spec", "description"))
    counter = ratio.get("counter") is True
    for part, key in (("total", "total_query"), ("good", "good_query"), ("bad", "bad_query")):
        if part not in ratio:
            continue
        at = ("spec", "ratioMetric", part, "metricSource")
        query = _prometheus_query(run, indicator, _d(_d(ratio[part]).get("metricSource")), at)
        if query is None:
            continue
        converted = _windowed(query, counter)
        if isinstance(converted, _Refusal):
            run.refuse(indicator.place(*at, "spec", "query"), converted.reason)
            continue
        data[key] = converted
        places[f".{key}"] = indicator.place(*at, "spec", "query")
    if "total_query" in data and ("good_query" in data or "bad_query" in data):
        _add_ratio(run, svc, data, places)


def _prometheus_query(run: _Run, indicator: _Indicator, source: dict[str, Any], at: tuple[Any, ...]) -> str | None:
    ref = source.get("metricSourceRef")
    datasource = run.by_kind.get("DataSource", {}).get(ref) if isinstance(ref, str) else None
    kind = source.get("type") or (_d(datasource.data.get("spec")).get("type") if datasource else None)
    if not isinstance(kind, str) or kind.lower() != openslo.DATASOURCE_TYPE.lower():
        where = "type" if "type" in source else "metricSourceRef"
        run.refuse(indicator.place(*at, where), f"data source type {kind!r} cannot be imported: the catalog's "
                   "SLIs are Prometheus queries")
        return None
    spec = _d(source.get("spec"))
    extra = sorted(k for k in spec if k != "query")
    if extra:
        run.refuse(indicator.place(*at, "spec", extra[0]), "has no counterpart in the catalog (a Prometheus "
                   "source gives only query)")
        return None
    query = spec.get("query")
    if not isinstance(query, str) or not query.strip():
        run.refuse(indicator.place(*at, "spec", "query"), "missing: a PromQL query of event counts")
        return None
    return query


@dataclass(frozen=True)
class _Refusal:
    reason: str


def _windowed(query: str, counter: bool) -> str | _Refusal:
    """The query with the catalog's `[{{window}}]` where its one range length was; a raw counter selector
    (`counter: true`) becomes `increase(selector[{{window}}])`."""
    query = promql_lexer.from_sloth(query)
    if promql_lexer.PLACEHOLDER in query:
        return query
    try:
        lexed = promql_lexer.lex(query)
    except promql_lexer.LexError:
        return query  # the catalog's own check refuses it, located at this field
    ranges = [(a, b, query[a + 1:b - 1].strip()) for a, b in lexed.ranges]
    if not ranges:
        selectors = lexed.selectors
        if counter and len(selectors) == 1 and selectors[0].text(query) == query.strip():
            return f"increase({query.strip()}{promql_lexer.RANGE_PLACEHOLDER})"
        return _Refusal("no range selector to count events over the SLO window: write it with [{{window}}] "
                        "(e.g. sum(increase(x[{{window}}]))), or a bare counter selector with counter: true")
    subquery = next((inside for _, _, inside in ranges if ":" in inside), None)
    if subquery is not None:
        return _Refusal(f"subquery [{subquery}]: only plain range selectors can become [{{{{window}}}}]")
    odd = next((inside for _, _, inside in ranges if not _RANGE.fullmatch(inside)), None)
    if odd is not None:
        return _Refusal(f"[{odd}] is not a range duration")
    lengths = sorted({inside for _, _, inside in ranges}, key=parse_duration)
    if len({parse_duration(x) for x in lengths}) > 1:
        return _Refusal(f"range selectors of different lengths ({', '.join(lengths)}): only a query whose ranges "
                        "all share one length can have it replaced by the SLO window; write [{{window}}] yourself")
    for start, end, _ in reversed(ranges):
        query = query[:start] + promql_lexer.RANGE_PLACEHOLDER + query[end:]
    return query


def _in_base_order(services: list[dict[str, Any]], base: Catalog) -> list[dict[str, Any]]:
    """Services, and each one's ratio SLIs, in the base's order where it has them (file names do not carry
    it), the others after them in document order."""
    known = {svc.name: svc for svc in base.services}
    order = {name: i for i, name in enumerate(known)}
    for svc in services:
        ratios = svc["slos"].get("ratios")
        if ratios and svc["name"] in known:
            names = {r.name: i for i, r in enumerate(known[svc["name"]].slos.ratios)}
            ratios.sort(key=lambda r: names.get(r["name"], len(names)))
    return sorted(services, key=lambda svc: order.get(svc["name"], len(order)))


def _edited(run: _Run, catalog: Catalog) -> None:
    """SLIs whose queries are no longer the ones the annotations stand for: restoring from the annotations
    would silently drop the edit."""
    services = {svc.name: svc for svc in catalog.services}
    for name, kind, indicator in run.ours:
        expected = openslo.sli(catalog, services[name], kind)["spec"]["ratioMetric"]
        given = _d(indicator.spec.get("ratioMetric"))
        for part in ("total", "bad", "good"):
            want = _d(_d(_d(expected.get(part)).get("metricSource")).get("spec")).get("query")
            have = _d(_d(_d(given.get(part)).get("metricSource")).get("spec")).get("query")
            if want != have:
                run.refuse(indicator.place("spec", "ratioMetric", part), "differs from the query zarish-obs "
                           f"generates for this {kind} SLI of {name!r} with the base catalog's metrics (edited, or "
                           f"exported from another catalog?); remove the {openslo.KIND} annotation to import it as a "
                           "ratio SLI from its queries")
                break


# -- the whole import -------------------------------------------------------------------------------------
def _catalog_line(line: str, run: _Run) -> str:
    """A catalog problem about an imported field, told at the document field it came from."""
    found = re.match(rf"{re.escape(SOURCE)}:[0-9]+: (\S+): (.*)$", line)
    if not found:
        return line
    loc, reason = found.groups()
    for key in sorted(run.origins, key=len, reverse=True):
        if loc == key or loc.startswith((f"{key}.", f"{key}[")):
            return run.origins[key].line(reason)
    return line


@dataclass(frozen=True)
class Imported:
    text: str  # the catalog
    notes: list[str]  # `FILE#DOC: field.path: not imported: reason`, one per field left out on purpose


def import_texts(texts: Sequence[tuple[str, str]], base: Catalog) -> str:
    """The catalog text of `import_openslo` without its notes, for callers that only need the catalog."""
    return import_openslo(texts, base).text


def _alert_notes(run: _Run, docs: list[Doc], catalog: Catalog) -> None:
    """Alert documents that are not the ones the resulting catalog exports (its tiers): noted, never silent."""
    exported = [d for d in openslo.documents(catalog) if d["kind"] in _ALERT_KINDS]
    for doc in docs:
        if doc.kind in _ALERT_KINDS and doc.data not in exported:
            run.note(Place(doc, ("metadata", "name")), _TIERS_REASON)


def import_openslo(texts: Sequence[tuple[str, str]], base: Catalog, strict: bool = False) -> Imported:
    """Catalog YAML: `base` with the services of the OpenSLO documents in `texts` ((source, text) pairs) in its
    place, in the base's order where it has them (_in_base_order), and notes on what was left out on purpose
    (alert policies and conditions: the catalog's tiers decide its alerts); `strict` refuses those instead.

    Raises ZarishError (exit 65) with one `FILE#DOC: field.path: reason` line per problem: the validator's
    first, then what cannot be imported, then what the catalog refuses, each at the document field it came from.
    """
    docs: list[Doc] = []
    broken: list[str] = []
    for source, text in texts:
        parsed, problems = parse_documents(text, source)
        docs += parsed
        broken += problems
    lines = check_documents(docs) + broken
    if lines:
        raise ZarishError(lines[0], ExitCode.DATAERR, lines)
    run = _Run()
    for doc in docs:
        if doc.kind and doc.name:
            run.by_kind.setdefault(doc.kind, {}).setdefault(doc.name, doc)
    for doc in docs:
        if doc.kind == "Service":
            _service(run, doc)
    for doc in docs:
        if doc.kind == "SLO":
            _slo(run, doc)
    for name, doc in run.by_kind.get("SLI", {}).items():
        if name not in run.used_slis:
            run.refuse(Place(doc, ("metadata", "name")), "no SLO uses this SLI: the catalog holds an SLI only with "
                       "its objective")
    _fail(run.problems)
    services = _in_base_order(list(run.services.values()), base)
    try:
        text = merge(base, services, SOURCE)
    except CatalogError as exc:
        _fail([_catalog_line(line, run) for line in exc.problems])
        raise
    result = parse_catalog(text, SOURCE)
    _edited(run, result)
    _fail(run.problems)
    _alert_notes(run, docs, result)
    if strict:
        _fail(run.notes)
    return Imported(text, run.notes)


def _fail(problems: list[str]) -> None:
    """Exit 65 with each problem once (an SLI that several SLOs use is read once per SLO)."""
    if problems:
        unique = list(dict.fromkeys(problems))
        raise ZarishError(unique[0], ExitCode.DATAERR, unique)
