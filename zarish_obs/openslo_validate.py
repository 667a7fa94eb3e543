"""Validate OpenSLO v1 documents: our JSON Schema per kind, then the checks the specification implies but a
schema cannot state (references between documents, duplicate names, either-or fields, windows).

Every problem is one line, `FILE#DOC: field.path: reason` (DOC counts the YAML documents of FILE from 0), so
a file from another tool can be fixed without reading a traceback or a schema dump.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource

from zarish_obs.errors import ExitCode, ZarishError
from zarish_obs.openslo import API_VERSION, KINDS

_COMMON = "common.json"
_START_TIME = "%Y-%m-%d %H:%M:%S"
# Postfixes of a calendar length: a rolling window of "1M" has no fixed size.
_CALENDAR_POSTFIXES = ("M", "Q", "Y")
# metadata.labels keys and the name part of metadata.annotations keys: at most 63 characters, alphanumeric at
# both ends, '-', '_' and '.' between; an annotation key may have a DNS-subdomain prefix and '/'.
_KEY_NAME = re.compile(r"[A-Za-z0-9]([-_.A-Za-z0-9]{0,61}[A-Za-z0-9])?")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def _schema_text(name: str) -> str:
    return resources.files("zarish_obs").joinpath("data", "openslo", name).read_text("utf-8")


@functools.cache
def _validators() -> dict[str, Draft202012Validator]:
    common = json.loads(_schema_text(_COMMON))
    schemas = {kind: json.loads(_schema_text(f"{kind}.json")) for kind in KINDS}
    registry: Registry = Registry().with_resources(
        (s["$id"], Resource.from_contents(s)) for s in [common, *schemas.values()])
    return {kind: Draft202012Validator(schema, registry=registry) for kind, schema in schemas.items()}


# -- paths and reasons ------------------------------------------------------------------------------------------
def render_path(path: Iterable[Any]) -> str:
    out = ""
    for key in path:
        if isinstance(key, int):
            out += f"[{key}]"
        else:
            text = str(key)
            out += ("." if out else "") + (text if re.fullmatch(r"[A-Za-z0-9_-]+", text) else repr(text))
    return out or "(document)"


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _schema_problems(error: ValidationError) -> list[tuple[list[Any], str]]:
    """(path, reason) pairs for one schema error; `required` and `additionalProperties` name the field."""
    path = list(error.absolute_path)
    v, value, schema = error.validator, error.validator_value, error.schema
    instance = error.instance
    if v == "required" and isinstance(instance, dict):
        return [([*path, k], "missing required field") for k in value if k not in instance]
    if v == "additionalProperties" and isinstance(instance, dict) and isinstance(schema, dict):
        known = schema.get("properties", {})
        return [([*path, k], "unknown field") for k in sorted(map(str, instance)) if k not in known]
    if v == "pattern" and isinstance(schema, dict) and "x-reason" in schema:
        return [(path, schema["x-reason"])]
    reasons: dict[str, Any] = {
        "const": lambda: f"must be {value!r}",
        "enum": lambda: "must be one of " + ", ".join(map(str, value)),
        "type": lambda: "expected " + (" or ".join(value) if isinstance(value, list) else str(value)),
        "pattern": lambda: f"does not match {value}",
        "maxLength": lambda: f"must be at most {value} characters",
        "minLength": lambda: "must not be empty",
        "minimum": lambda: f"must be at least {_number(value)}",
        "maximum": lambda: f"must be at most {_number(value)}",
        "exclusiveMinimum": lambda: f"must be greater than {_number(value)}",
        "exclusiveMaximum": lambda: f"must be less than {_number(value)}",
        "minItems": lambda: f"must have at least {value} item{'s' if value != 1 else ''}",
        "maxItems": lambda: f"must have at most {value} item{'s' if value != 1 else ''}",
        "anyOf": lambda: "must be a positive number (minutes) or a duration-shorthand",
    }
    return [(path, reasons[v]() if v in reasons else f"is not valid ({v})")]


# -- documents ---------------------------------------------------------------------------------------------------
@dataclass
class Doc:
    source: str
    index: int
    data: Any
    problems: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{self.source}#{self.index}"

    def problem(self, path: Sequence[Any], reason: str) -> None:
        self.problems.append(f"{self.where}: {render_path(path)}: {reason}")

    @property
    def kind(self) -> str | None:
        kind = self.data.get("kind") if isinstance(self.data, dict) else None
        return kind if isinstance(kind, str) and kind in KINDS else None

    @property
    def name(self) -> str | None:
        meta = self.data.get("metadata") if isinstance(self.data, dict) else None
        name = meta.get("name") if isinstance(meta, dict) else None
        return name if isinstance(name, str) else None


def _plain(value: Any) -> Any:
    """YAML data as JSON data: dates (an unquoted startTime) as text, every key a string."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.strftime(_START_TIME)
    if isinstance(value, date):
        return value.isoformat()
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    return str(value)


def parse_documents(text: str, source: str) -> tuple[list[Doc], list[str]]:
    """The YAML documents of one file, and a problem line if the YAML itself is broken."""
    docs: list[Doc] = []
    try:
        for data in yaml.safe_load_all(text):
            docs.append(Doc(source, len(docs), _plain(data)))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return docs, [f"{source}#{len(docs)}{at}: (yaml): not valid YAML: {reason}"]
    except (ValueError, RecursionError, TypeError) as exc:
        first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        return docs, [f"{source}#{len(docs)}: (yaml): cannot parse: {first}"]
    return docs, []


def _check_shape(doc: Doc) -> bool:
    """apiVersion, kind and the kind's schema; False when the document is not one we can check further."""
    data = doc.data
    if not isinstance(data, dict):
        doc.problem((), "expected a mapping with apiVersion, kind, metadata and spec")
        return False
    if data.get("apiVersion") != API_VERSION:
        doc.problem(("apiVersion",), f"expected {API_VERSION}, got {data.get('apiVersion')!r}"
                    if "apiVersion" in data else "missing required field")
        return False
    if doc.kind is None:
        doc.problem(("kind",), "expected one of " + ", ".join(KINDS)
                    + (f", got {data['kind']!r}" if "kind" in data else ""))
        return False
    found = [p for e in _validators()[doc.kind].iter_errors(data) for p in _schema_problems(e)]
    for path, reason in sorted(found, key=lambda p: (render_path(p[0]), p[1])):
        doc.problem(path, reason)
    return True


# -- what the specification implies ----------------------------------------------------------------------------------
def annotation_key_problem(key: str) -> str | None:
    """Why `key` is not an OpenSLO annotation key (`[prefix/]name`), or None."""
    prefix, _, name = key.rpartition("/")
    if not _KEY_NAME.fullmatch(name):
        return ("the name part must be at most 63 characters, alphanumeric at both ends with '-', '_' or '.' "
                "between")
    if "/" in key and (len(prefix) > 253 or not all(_DNS_LABEL.fullmatch(p) for p in prefix.split("."))):
        return "the prefix before '/' must be a DNS subdomain (lowercase labels separated by '.', at most 253)"
    return None


def _check_metadata(doc: Doc, meta: Any, path: list[Any]) -> None:
    meta = _d(meta)
    for key in _d(meta.get("labels")):
        if not _KEY_NAME.fullmatch(key):
            doc.problem([*path, "labels", key], "a label key must be at most 63 characters, alphanumeric at both "
                        "ends with '-', '_' or '.' between")
    for key in _d(meta.get("annotations")):
        reason = annotation_key_problem(key)
        if reason:
            doc.problem([*path, "annotations", key], reason)


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


@dataclass
class Index:
    """Names defined per kind, with where each was first defined."""

    names: dict[str, dict[str, str]] = field(default_factory=lambda: {k: {} for k in KINDS})
    specs: dict[str, Any] = field(default_factory=dict)  # SLI name -> spec: an SLO's objectives depend on it

    def add(self, doc: Doc) -> None:
        if doc.kind is None or doc.name is None:
            return
        first = self.names[doc.kind].get(doc.name)
        if first is not None:
            doc.problem(("metadata", "name"), f"duplicate {doc.kind} name {doc.name!r} (first in {first})")
        else:
            self.names[doc.kind][doc.name] = doc.where

    def ref(self, doc: Doc, path: Sequence[Any], kind: str, name: Any) -> None:
        if isinstance(name, str) and name not in self.names[kind]:
            doc.problem(path, f"no {kind} named {name!r}")


def _either(doc: Doc, spec: dict[str, Any], path: Sequence[Any], a: str, b: str) -> None:
    if a in spec and b in spec:
        doc.problem([*path, b], f"give {a} or {b}, not both")
    elif a not in spec and b not in spec:
        doc.problem(path, f"needs {a} or {b}")


def _check_sources(doc: Doc, index: Index, metric: Any, path: list[Any]) -> None:
    source = _d(_d(metric).get("metricSource"))
    at = [*path, "metricSource"]
    if "metricSourceRef" in source:
        index.ref(doc, [*at, "metricSourceRef"], "DataSource", source["metricSourceRef"])
    elif source and "type" not in source:
        doc.problem(at, "needs type when it has no metricSourceRef")


def _check_sli(doc: Doc, index: Index, spec: dict[str, Any], path: list[Any]) -> None:
    _either(doc, spec, path, "ratioMetric", "thresholdMetric")
    if "thresholdMetric" in spec:
        _check_sources(doc, index, spec["thresholdMetric"], [*path, "thresholdMetric"])
    ratio = _d(spec.get("ratioMetric"))
    at = [*path, "ratioMetric"]
    if "raw" in ratio:
        mixed = [k for k in ("good", "bad", "total") if k in ratio]
        if mixed:
            doc.problem([*at, mixed[0]], "raw cannot be combined with good, bad or total")
        if "rawType" not in ratio:
            doc.problem([*at, "rawType"], "required with raw")
    elif "ratioMetric" in spec and isinstance(spec["ratioMetric"], dict):
        if "rawType" in ratio:
            doc.problem([*at, "rawType"], "only with raw")
        if "total" not in ratio:
            doc.problem([*at, "total"], "required with good or bad (or use raw)")
        _either(doc, ratio, at, "good", "bad")
    for key in ("good", "bad", "total", "raw"):
        if key in ratio:
            _check_sources(doc, index, ratio[key], [*at, key])


def _check_window(doc: Doc, window: Any, path: list[Any]) -> None:
    window = _d(window)
    calendar = window.get("calendar")
    rolling = window.get("isRolling", calendar is None)
    duration = window.get("duration")
    if rolling is True and calendar is not None:
        doc.problem([*path, "calendar"], "a rolling window (isRolling: true) has no calendar")
    elif rolling is False and calendar is None:
        doc.problem(path, "a calendar-aligned window needs calendar (startTime, timeZone); or set isRolling: true")
    if rolling is True and isinstance(duration, str) and duration.endswith(_CALENDAR_POSTFIXES):
        doc.problem([*path, "duration"], f"{duration!r}: a rolling window needs a fixed length in m, h, d or w "
                    "(M, Q and Y are calendar lengths)")
    cal = _d(calendar)
    zone = cal.get("timeZone")
    if isinstance(zone, str) and zone:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError, OSError, TypeError):
            doc.problem([*path, "calendar", "timeZone"], f"{zone!r} is not an IANA time zone")
    start = cal.get("startTime")
    if isinstance(start, str) and re.fullmatch(r"[0-9-]{10} [0-9:]{8}", start):
        try:
            datetime.strptime(start, _START_TIME)
        except ValueError:
            doc.problem([*path, "calendar", "startTime"], f"{start!r} is not a real date and time")


def _check_slo(doc: Doc, index: Index, spec: dict[str, Any]) -> None:
    at: list[Any] = ["spec"]
    index.ref(doc, [*at, "service"], "Service", spec.get("service"))
    _either(doc, spec, at, "indicator", "indicatorRef")
    if isinstance(spec.get("indicator"), dict):
        _check_metadata(doc, spec["indicator"].get("metadata"), [*at, "indicator", "metadata"])
    if "indicatorRef" in spec and "indicator" not in spec:
        index.ref(doc, [*at, "indicatorRef"], "SLI", spec["indicatorRef"])
    indicator = _d(_d(spec.get("indicator")).get("spec"))
    if "indicator" in spec and indicator:
        _check_sli(doc, index, indicator, [*at, "indicator", "spec"])
    for i, window in enumerate(_l(spec.get("timeWindow"))):
        _check_window(doc, window, [*at, "timeWindow", i])
    objectives = _l(spec.get("objectives"))
    timeslices = spec.get("budgetingMethod") == "Timeslices"
    referenced = _d(index.specs.get(spec.get("indicatorRef"))) if isinstance(spec.get("indicatorRef"), str) else {}
    threshold = "thresholdMetric" in (indicator or referenced)
    if threshold and len(objectives) > 1:
        doc.problem([*at, "objectives"], "an SLI with thresholdMetric allows exactly one objective")
    for i, obj in enumerate(objectives):
        if not isinstance(obj, dict):
            continue
        path = [*at, "objectives", i]
        _either(doc, obj, path, "target", "targetPercent")
        for key in ("timeSliceTarget", "timeSliceWindow"):
            if timeslices and key not in obj:
                doc.problem([*path, key], "required with budgetingMethod Timeslices")
            elif not timeslices and key in obj:
                doc.problem([*path, key], "only with budgetingMethod Timeslices")
        if threshold:
            for key in ("op", "value"):
                if key not in obj:
                    doc.problem([*path, key], "required with a thresholdMetric SLI")
    for i, policy in enumerate(_l(spec.get("alertPolicies"))):
        path = [*at, "alertPolicies", i]
        policy = _d(policy)
        if _inline_or_ref(doc, policy, path, "alertPolicyRef", "AlertPolicy"):
            index.ref(doc, [*path, "alertPolicyRef"], "AlertPolicy", policy["alertPolicyRef"])
        elif isinstance(policy.get("spec"), dict):
            _check_policy(doc, index, policy["spec"], [*path, "spec"])


def _inline_or_ref(doc: Doc, item: dict[str, Any], path: list[Any], ref: str, kind: str) -> bool:
    """True when the item is a reference; reports an item that is neither a reference nor inline, or both."""
    inline = [k for k in ("kind", "metadata", "spec") if k in item]
    if ref in item and inline:
        doc.problem([*path, inline[0]], f"give {ref} or an inline {kind}, not both")
    elif ref not in item and len(inline) < 3:
        doc.problem(path, f"needs {ref} or an inline {kind} (kind, metadata, spec)")
    return ref in item


def _check_policy(doc: Doc, index: Index, spec: dict[str, Any], at: list[Any]) -> None:
    for i, cond in enumerate(_l(spec.get("conditions"))):
        cond = _d(cond)
        if _inline_or_ref(doc, cond, [*at, "conditions", i], "conditionRef", "AlertCondition"):
            index.ref(doc, [*at, "conditions", i, "conditionRef"], "AlertCondition", cond["conditionRef"])
    for i, target in enumerate(_l(spec.get("notificationTargets"))):
        target = _d(target)
        if _inline_or_ref(doc, target, [*at, "notificationTargets", i], "targetRef", "AlertNotificationTarget"):
            index.ref(doc, [*at, "notificationTargets", i, "targetRef"], "AlertNotificationTarget",
                      target["targetRef"])


def check_documents(docs: list[Doc]) -> list[str]:
    """Every problem of a set of documents (references may cross files), in file and document order."""
    index = Index()
    shaped = [d for d in docs if _check_shape(d)]
    for doc in shaped:
        index.add(doc)
        if doc.kind == "SLI" and doc.name is not None:
            index.specs.setdefault(doc.name, _d(doc.data.get("spec")))
    for doc in shaped:
        _check_metadata(doc, doc.data.get("metadata"), ["metadata"])
        spec = doc.data.get("spec")
        if not isinstance(spec, dict):
            continue
        if doc.kind == "SLO":
            _check_slo(doc, index, spec)
        elif doc.kind == "SLI":
            _check_sli(doc, index, spec, ["spec"])
        elif doc.kind == "AlertPolicy":
            _check_policy(doc, index, spec, ["spec"])
    return [line for d in docs for line in d.problems]


def validate_texts(texts: Sequence[tuple[str, str]]) -> tuple[int, list[str]]:
    """(number of documents, problem lines) for (source, YAML text) pairs checked together."""
    docs: list[Doc] = []
    broken: dict[str, list[str]] = {}
    for source, text in texts:
        parsed, problems = parse_documents(text, source)
        docs += parsed
        broken[source] = problems
    check_documents(docs)
    return len(docs), [ln for source, _ in texts
                       for ln in [*(p for d in docs if d.source == source for p in d.problems), *broken[source]]]


def read_text(path: Path) -> tuple[str | None, str | None]:
    """(text, None) or (None, problem line)."""
    try:
        return path.read_bytes().decode("utf-8"), None
    except FileNotFoundError:
        return None, f"{path}: (file): no such file"
    except IsADirectoryError:
        return None, f"{path}: (file): is a directory, expected a YAML file"
    except UnicodeDecodeError as exc:
        return None, f"{path}: (file): not UTF-8 text (byte {exc.start})"
    except OSError as exc:
        return None, f"{path}: (file): cannot read: {exc.strerror}"


def read_texts(paths: Sequence[Path]) -> tuple[list[tuple[str, str]], list[str]]:
    """((file name, text) of each readable file, one located line per unreadable one): what the validator and
    both importers read, every file before any verdict."""
    texts: list[tuple[str, str]] = []
    unreadable: list[str] = []
    for path in paths:
        text, problem = read_text(path)
        if problem:
            unreadable.append(problem)
        else:
            texts.append((str(path), text or ""))
    return texts, unreadable


def validate_files(paths: Sequence[Path]) -> int:
    """The number of valid documents; raises ZarishError (exit 65) with one line per problem."""
    texts, unreadable = read_texts(paths)
    count, lines = validate_texts(texts)
    lines = unreadable + lines
    if lines:
        raise ZarishError(lines[0], ExitCode.DATAERR, lines)
    return count
