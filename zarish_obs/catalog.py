"""The service catalog: one validated description of ZARISH HIS that every component reads.

pydantic v2 does the type checking, so every problem comes back with its field path; the loader adds
the YAML line of each and reports them all in one run, field-level and cross-field alike. The field types
(`fields.py`) hold each field to what the files generated from it demand, so a catalog that validates
cannot yield a file that a validator rejects.
"""

from __future__ import annotations

import math
import re
import types
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from zarish_obs import conventions, promql_lexer
from zarish_obs.catalog_base import (
    BUILT_IN_CATALOG,
    BUILT_IN_SOURCE,
    CatalogBase,
    MaintenanceWindowBase,
    RatioSLOBase,
    ServiceBase,
    SLOBase,
    read_catalog,
)
from zarish_obs.durations import parse_duration
from zarish_obs.errors import CatalogError
from zarish_obs.fields import (
    LOOKBACK_SECONDS,
    PROMETHEUS_LABELS,
    Count,
    DnsName,
    Duration,
    FilePath,
    HostPort,
    HttpUrl,
    LabelName,
    MetricName,
    Number,
    OneLine,
    Port,
    RuleFile,
    Word,
    cron_schedule,
    error_status_pattern,
)
from zarish_obs.yamlpos import Positions


# -- the model -----------------------------------------------------------------------------------------------
class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class Region(_Model):
    name: DnsName
    role: Literal["primary", "dr", "edge"]
    probes: list[HttpUrl] = Field(default_factory=list, description="health endpoint URLs probed by blackbox")


class Environment(_Model):
    name: DnsName
    namespace: DnsName


class Metrics(_Model):
    requests_total: MetricName = "http_requests_total"
    latency_histogram: MetricName = "http_request_duration_seconds"
    service_label: LabelName = "service"
    status_label: LabelName = "status"
    environment_label: LabelName = "environment"
    error_status_regex: Annotated[str, AfterValidator(error_status_pattern)] = "5.."

    @field_validator("service_label", "status_label", "environment_label")
    @classmethod
    def _not_ours(cls, value: str) -> str:
        reserved = {*conventions.OWN_LABELS, *PROMETHEUS_LABELS}
        if value in reserved:
            raise ValueError(f"{value!r} is a label zarish-obs or Prometheus sets itself "
                             f"({', '.join(sorted(reserved))})")
        return value


MIN_OBJECTIVE = 50.0  # below it the error budget is most requests and no burn-rate tier means anything


def _objective(value: float) -> float:
    if not math.isfinite(value) or not MIN_OBJECTIVE <= value < 100:
        raise ValueError(f"objective {value:g} must be a percentage from {MIN_OBJECTIVE:g} up to (not including) 100")
    return value


def _slo_window(value: str) -> str:
    seconds = parse_duration(value)
    if seconds < 86400:
        raise ValueError("SLO windows must be at least 1d")
    if seconds % 300:
        raise ValueError("must be a whole number of 5m")
    return value


class AvailabilitySLO(SLOBase, _Model):
    objective: Annotated[Number, AfterValidator(_objective)]
    window: Annotated[Duration, AfterValidator(_slo_window)] = "30d"


def _threshold_seconds(value: float) -> float:
    if not math.isfinite(value) or value <= 0:
        raise ValueError("threshold_seconds must be a positive number (a histogram bucket boundary)")
    return value


class LatencySLO(AvailabilitySLO):
    threshold_seconds: Annotated[Number, AfterValidator(_threshold_seconds)]


def _ratio_name(value: str) -> str:
    if value in conventions.SLO_KINDS:
        raise ValueError(f"{value!r} is the name of a built-in SLO kind (slos.{value}); choose another")
    return value


def _ratio_query(value: str) -> str:
    """What a query shows on its own: readable, with `[{{window}}]` where the windows go and no `@`."""
    try:
        lexed = promql_lexer.lex(value)
    except promql_lexer.LexError as exc:
        raise ValueError(f"cannot read the query: {exc}") from None
    problems = promql_lexer.placement_problems(lexed)
    if problems:
        raise ValueError(problems[0])
    return value


RatioQuery = Annotated[str, AfterValidator(_ratio_query)]


class RatioSLO(RatioSLOBase, AvailabilitySLO):
    """A custom ratio SLI: user PromQL counting total and bad (or good) events over `[{{window}}]`, for
    services that do not expose the catalog's request metrics. Its `name` is its SLO kind (the `slo` label)."""

    name: Annotated[DnsName, AfterValidator(_ratio_name)]
    description: OneLine | None = None
    total_query: RatioQuery
    bad_query: RatioQuery | None = None
    good_query: RatioQuery | None = None

    @model_validator(mode="after")
    def _bad_or_good(self) -> RatioSLO:
        if (self.bad_query is None) == (self.good_query is None):
            given = "both" if self.bad_query is not None else "neither"
            raise ValueError(f"give exactly one of bad_query or good_query (bad = total - good); got {given}")
        return self


class SLOs(_Model):
    availability: AvailabilitySLO | None = None
    latency: LatencySLO | None = None
    ratios: tuple[RatioSLO, ...] = Field((), description="custom ratio SLIs over user PromQL")


class Service(ServiceBase, _Model):
    name: DnsName
    port: Port = 8080
    metrics_port: Port = 9090
    description: str = ""
    tier: Literal["critical", "standard"] = "standard"
    slos: SLOs = Field(default_factory=SLOs)


def _ratio(value: float) -> float:
    if not 0 < value < 1:
        raise ValueError("threshold is a ratio strictly between 0 and 1 (0.10 = 10%)")
    return value


class ErrorRatioTrigger(_Model):
    threshold: Annotated[Number, AfterValidator(_ratio)] = 0.10
    for_: Duration = Field("5m", alias="for")
    environment: str = "production"

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ReplicationLagTrigger(_Model):
    metric: MetricName = "pg_replication_lag_seconds"
    threshold: Duration = "5m"


class RegionUnavailableTrigger(_Model):
    metric: MetricName = "probe_success"
    for_: Duration = Field("30m", alias="for")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ManualTrigger(_Model):
    metric: MetricName = "zarish_dr_manual_trigger"


class Backup(_Model):
    metric: MetricName = "zarish_backup_last_success_timestamp_seconds"
    schedule: Annotated[str, AfterValidator(cron_schedule)] = "0 2 * * *"
    grace: Duration = Field(
        "2h", description="a backup counts as missed once its schedule's interval plus this has passed")
    retention: Duration = "30d"


class DR(_Model):
    error_ratio: ErrorRatioTrigger = Field(default_factory=ErrorRatioTrigger)
    replication_lag: ReplicationLagTrigger = Field(default_factory=ReplicationLagTrigger)
    primary_region_unavailable: RegionUnavailableTrigger = Field(default_factory=RegionUnavailableTrigger)
    manual_trigger: ManualTrigger = Field(default_factory=ManualTrigger)
    backup: Backup = Field(default_factory=Backup)
    rpo: Duration = "1h"
    rto: Duration = "4h"
    failover_procedure: list[str] = Field(default_factory=list)
    failback_procedure: list[str] = Field(default_factory=list)


class BurnTierSettings(_Model):
    enabled: bool = True
    for_: Duration | None = Field(None, alias="for")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Alerting(_Model):
    runbook_base_url: HttpUrl = "https://runbooks.zarishsphere.com/zarish-his"
    grafana_url: HttpUrl = "https://grafana.zarishsphere.com"
    min_events: Count = Field(20, description="SLO alerts need at least this many requests in the long window")
    page_fast: BurnTierSettings = Field(default_factory=BurnTierSettings)
    page_slow: BurnTierSettings = Field(default_factory=BurnTierSettings)
    ticket_fast: BurnTierSettings = Field(default_factory=BurnTierSettings)
    ticket_slow: BurnTierSettings = Field(default_factory=BurnTierSettings)
    metrics_absent_for: Duration = "10m"
    targets_down_for: Duration = "5m"
    webhook_url: HttpUrl = "http://zarish-alert-webhook.zarish-his-monitoring.svc:8080/alerts"


class Policy(_Model):
    """The error-budget policy the compliance report applies (defaults: the SRE Workbook's example policy)."""

    release_freeze: bool = Field(True, description="budget exhausted over the SLO window: freeze releases except "
                                 "P0 and security fixes until the service is back within its SLO")
    postmortem_budget_percent: Number = Field(20, gt=0, le=100, description="one incident that consumed more "
                                              "than this share of the period's budget requires a postmortem")
    escalate_after: Count = Field(3, ge=2, description="this many breach incidents of the same SLO within one "
                                  "calendar quarter escalate to the team's quarterly planning")
    incident_min_budget_percent: Number = Field(1, ge=0, lt=100, description="stretches of burn above 1 that "
                                                "consumed less of the period's budget are counted as blips, not "
                                                "listed as incidents")
    incident_merge_gap: Duration = Field("15m", description="burn stretches closer than this are one incident")
    minimum_coverage_percent: Number = Field(99, gt=0, le=100, description="a period whose scrape coverage is "
                                             "below this is reported incomplete, never met")


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_LOCAL_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_LOCAL_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]([01]\d|2[0-3]):[0-5]\d$")
MAX_RECURRING_SECONDS = 86400


def _local_time(value: str) -> str:
    if not isinstance(value, str) or not _LOCAL_TIME.match(value):
        raise ValueError(f"{value!r} is not a local time HH:MM (00:00 to 23:59)")
    return value


def _local_datetime(value: Any) -> str:
    from datetime import datetime

    text = value.isoformat(timespec="minutes") if hasattr(value, "isoformat") else value
    if not isinstance(text, str) or not _LOCAL_DATETIME.match(text):
        raise ValueError(f"{value!r} is not a local date and time YYYY-MM-DDTHH:MM (in the catalog's timezone, "
                         "no offset)")
    try:
        datetime.fromisoformat(text.replace(" ", "T"))
    except ValueError:
        raise ValueError(f"{text!r} is not a date that exists") from None
    return text.replace(" ", "T")


LocalTime = Annotated[str, BeforeValidator(_local_time)]
LocalDateTime = Annotated[str, BeforeValidator(_local_datetime)]


class MaintenanceWindow(MaintenanceWindowBase, _Model):
    """A planned maintenance window, in the catalog's time zone: one-off (`start`/`end`), or recurring as a
    cron schedule with a duration, or as weekdays with local `from`/`to` times (`to` before `from` ends the
    next day). Recurring windows last under 24 hours."""

    name: DnsName
    reason: OneLine
    services: list[DnsName] | None = Field(None, description="default: every service")
    environments: list[DnsName] | None = Field(None, description="default: the DR environment (production)")
    start: LocalDateTime | None = None
    end: LocalDateTime | None = None
    schedule: Annotated[str, AfterValidator(cron_schedule)] | None = None
    duration: Duration | None = None
    weekdays: list[Literal[WEEKDAYS]] | None = None  # type: ignore[valid-type]
    from_: LocalTime | None = Field(None, alias="from")
    to: LocalTime | None = None
    exclude_from_slo: bool = True
    suppress_dr: bool = Field(False, description="only for windows over every service: a forgotten window must "
                              "never hide a failover decision")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one_form(self) -> MaintenanceWindow:
        forms = {"start/end": (self.start, self.end), "schedule/duration": (self.schedule, self.duration),
                 "weekdays/from/to": (self.weekdays, self.from_, self.to)}
        given = [name for name, values in forms.items() if any(v is not None for v in values)]
        if len(given) != 1:
            raise ValueError("give exactly one of start/end (one-off), schedule/duration (cron) or "
                             f"weekdays/from/to (weekly); got {', '.join(given) or 'none'}")
        missing = [name for name, values in forms.items() if name in given and any(v is None for v in values)]
        if missing:
            raise ValueError(f"{missing[0]}: all of these are needed together")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError(f"end {self.end} is not after start {self.start}")
        if self.duration is not None and parse_duration(self.duration) >= MAX_RECURRING_SECONDS:
            raise ValueError(f"duration {self.duration}: a recurring window lasts under 24h")
        if self.weekdays is not None and not self.weekdays:
            raise ValueError("weekdays: name at least one day")
        if self.from_ is not None and self.from_ == self.to:
            raise ValueError(f"from and to are both {self.to}: a window needs a length under 24h")
        if self.suppress_dr and self.services is not None:
            raise ValueError("suppress_dr: only a window over every service (no services list) may hide DR triggers")
        return self


class RemoteWrite(_Model):
    url: HttpUrl
    name: OneLine | None = None
    basic_auth_username: OneLine | None = None
    basic_auth_password_file: FilePath | None = Field(
        None, description="path to a file with the password; the password itself never goes in the catalog"
    )
    bearer_token_file: FilePath | None = None


def _within_lookback(value: str) -> str:
    if parse_duration(value) >= LOOKBACK_SECONDS:
        raise ValueError(f"{value!r} must be shorter than 5m: Prometheus looks back 5m for the latest sample, so "
                         "series would vanish between scrapes or evaluations")
    return value


class PrometheusSettings(_Model):
    scrape_interval: Annotated[Duration, AfterValidator(_within_lookback)] = "15s"
    evaluation_interval: Annotated[Duration, AfterValidator(_within_lookback)] = "15s"
    scrape_timeout: Duration = "10s"
    rule_files: list[RuleFile] = Field(default_factory=lambda: ["/etc/prometheus/rules/*.yml"])
    alertmanagers: list[HostPort] = Field(default_factory=lambda: ["alertmanager:9093"])
    blackbox_exporter: HostPort = "blackbox-exporter:9115"
    blackbox_module: Word = "http_2xx"
    pushgateway: HostPort | None = "pushgateway:9091"
    remote_write: list[RemoteWrite] = Field(default_factory=list)


def _datasource_uid(value: str) -> str:
    if not re.fullmatch(r"^[A-Za-z0-9_-]{1,40}$", value):
        raise ValueError("datasource_uid must be 1-40 characters of [A-Za-z0-9_-]")
    return value


class GrafanaSettings(_Model):
    folder: OneLine = "ZARISH HIS"
    datasource_uid: Annotated[str, AfterValidator(_datasource_uid)] = "zarish-prometheus"
    datasource_name: OneLine = "Prometheus"


def _version(value: Any) -> Any:
    if isinstance(value, bool) or value != 1:
        raise ValueError(f"unsupported catalog version {value!r}; expected 1")
    return value


def _timezone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if value in ("browser", "utc"):
        return value
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA time zone (e.g. Asia/Dhaka)") from None
    return value


class Catalog(CatalogBase, _Model):
    version: Annotated[Literal[1], BeforeValidator(_version)]
    name: DnsName
    cluster: DnsName = "zarish-his-prod"
    timezone: Annotated[str, AfterValidator(_timezone)] = "Asia/Dhaka"
    monitoring_namespace: DnsName = "zarish-his-monitoring"
    regions: list[Region]
    environments: list[Environment]
    metrics: Metrics = Field(default_factory=Metrics)
    services: list[Service]
    dr: DR = Field(default_factory=DR)
    alerting: Alerting = Field(default_factory=Alerting)
    prometheus: PrometheusSettings = Field(default_factory=PrometheusSettings)
    grafana: GrafanaSettings = Field(default_factory=GrafanaSettings)
    policy: Policy = Field(default_factory=Policy)
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)
    time_scale: Number = Field(
        1.0,
        gt=0,
        le=1,
        description="compress every for:/trigger duration by this factor (demos and tests only)",
    )

    @model_validator(mode="after")
    def _cross_checks(self) -> Catalog:
        problems = cross_field_problems(_Values(self))
        if problems:
            raise CrossFieldError(problems, self.model_dump(by_alias=True))
        return self


# -- cross-field checks ----------------------------------------------------------------------------------------
Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One cross-field problem: the field path it is reported under, why, and the path whose line to show."""

    field: Loc
    reason: str
    at: Loc | None = None


class CrossFieldError(ValueError):
    """Raised by the model's cross-field validator; carries the problems so the loader can locate each."""

    def __init__(self, problems: list[Problem], data: Any):
        super().__init__("; ".join(f"{_loc(p.field, data)}: {p.reason}" for p in problems))
        self.problems = problems


FAILED: Any = object()  # a value that did not validate: checks that need it are skipped, not guessed


class _Values:
    """What the cross-field checks read, from a validated Catalog or from raw data that partly failed:
    validated values, model defaults for absent fields, and FAILED for fields with a problem of their own."""

    def __init__(self, root: Any, failed: Sequence[Loc] = ()):
        self.root = root
        self.failed = [tuple(f) for f in failed]

    def _failed(self, path: Loc, inside: bool) -> bool:
        return any(path[:len(f)] == f or (inside and f[:len(path)] == path) for f in self.failed)

    def _walk(self, path: Loc) -> Any:
        node: Any = self.root
        ann: Any = Catalog
        for step in path:
            if isinstance(node, BaseModel):
                name = _field_name(type(node), step)
                node, ann = (getattr(node, name), None) if name else (FAILED, None)
            elif isinstance(node, dict):
                model = _model_in(ann)
                name = _field_name(model, step) if model else None
                if not name:
                    return FAILED
                field = model.model_fields[name]  # type: ignore[union-attr]
                if step in node:
                    node, ann = node[step], field.annotation
                elif field.is_required():
                    return FAILED
                else:
                    node, ann = field.get_default(call_default_factory=True), field.annotation
            elif isinstance(node, list | tuple) and isinstance(step, int) and 0 <= step < len(node):
                node, ann = node[step], _item_of(ann)
            else:
                return FAILED
        return node

    def get(self, *path: str | int) -> Any:
        """The value at `path`, or FAILED if it (or anything in it) did not validate."""
        value = FAILED if self._failed(path, inside=True) else self._walk(path)
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else value  # as pydantic reads !!binary

    def indexes(self, *path: str | int) -> range | None:
        """The item indexes of the list at `path` (items may have failed on their own), or None."""
        if self._failed(path, inside=False):
            return None
        items = self._walk(path)
        return range(len(items)) if isinstance(items, list | tuple) else None


def _field_name(model: type[BaseModel] | None, key: Any) -> str | None:
    for name, field in (model.model_fields if model else {}).items():
        if key in (name, field.alias):
            return name
    return None


def _model_in(ann: Any) -> type[BaseModel] | None:
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    if get_origin(ann) in (Union, types.UnionType, Annotated):
        for arg in get_args(ann):
            found = _model_in(arg)
            if found:
                return found
    return None


def _item_of(ann: Any) -> Any:
    return get_args(ann)[0] if get_origin(ann) in (list, tuple) and get_args(ann) else None


def _duplicates(v: _Values, field: str, key: str, message: str) -> list[Problem]:
    """A problem at each item whose `key` repeats an earlier item's."""
    out: list[Problem] = []
    seen: set[Any] = set()
    for i in v.indexes(field) or ():
        value = v.get(field, i, key)
        if value is FAILED:
            continue
        if value in seen:
            out.append(Problem((field,), message.format(value=value), at=(field, i)))
        seen.add(value)
    return out


def cross_field_problems(v: _Values) -> list[Problem]:
    """The checks that relate fields to each other; each runs on whatever parts of the catalog validated."""
    problems: list[Problem] = []
    for field in ("regions", "environments", "services"):
        items = v.indexes(field)
        if items is not None and not items:
            problems.append(Problem((field,), "at least one entry is required"))
        problems += _duplicates(v, field, "name", "duplicate name {value!r}")
    problems += _duplicates(v, "environments", "namespace", "two environments share the namespace {value!r}")

    regions = v.indexes("regions") or range(0)
    roles = [v.get("regions", i, "role") for i in regions]
    primaries = [i for i, role in zip(regions, roles, strict=True) if role == "primary"]
    found = f"exactly one region must have role primary, found {len(primaries)}"
    problems += [Problem(("regions",), found, at=("regions", i)) for i in primaries[1:]]
    if regions and not primaries and FAILED not in roles:
        problems.append(Problem(("regions",), found))

    env = v.get("dr", "error_ratio", "environment")
    names = [v.get("environments", i, "name") for i in v.indexes("environments") or ()]
    if env is not FAILED and names and FAILED not in names and env not in names:
        problems.append(Problem(("dr", "error_ratio", "environment"),
                                f"{env!r} is not a declared environment ({', '.join(names)})"))

    timeout, interval = v.get("prometheus", "scrape_timeout"), v.get("prometheus", "scrape_interval")
    if FAILED not in (timeout, interval) and parse_duration(timeout) > parse_duration(interval):
        problems.append(Problem(("prometheus", "scrape_timeout"),
                                f"{timeout} must not be longer than scrape_interval ({interval})"))

    labels = ("service_label", "status_label", "environment_label")
    for j, key in enumerate(labels):
        value = v.get("metrics", key)
        earlier = [k for k in labels[:j] if value is not FAILED and v.get("metrics", k) == value]
        if earlier:
            problems.append(Problem(("metrics", key),
                                    f"{value!r} is also metrics.{earlier[0]}; the three labels must differ"))

    return (problems + _slow_trigger_problems(v) + _remote_write_problems(v) + _maintenance_problems(v)
            + _ratio_problems(v))


def _ratio_problems(v: _Values) -> list[Problem]:
    """Ratio SLIs: names unique within the service, and every selector of every query pinned to the service
    by the catalog's service label (so a query cannot read, nor record events as, another service's)."""
    problems: list[Problem] = []
    label = v.get("metrics", "service_label")
    for i in v.indexes("services") or ():
        ratios = v.indexes("services", i, "slos", "ratios") or ()
        seen: set[str] = set()
        service = v.get("services", i, "name")
        for j in ratios:
            at = ("services", i, "slos", "ratios", j)
            name = v.get(*at, "name")
            if isinstance(name, str):
                if name in seen:
                    problems.append(Problem((*at, "name"), f"duplicate ratio SLI name {name!r} in this service"))
                seen.add(name)
            if FAILED in (label, service):
                continue
            for key in ("total_query", "bad_query", "good_query"):
                query = v.get(*at, key)
                if not isinstance(query, str):
                    continue
                for reason in promql_lexer.service_problems(promql_lexer.lex(query), label, service):
                    problems.append(Problem((*at, key), reason))
    return problems


def _maintenance_problems(v: _Values) -> list[Problem]:
    """Windows must name declared services and environments, one line per unknown name."""
    problems = _duplicates(v, "maintenance", "name", "duplicate maintenance window name {value!r}")
    known = {"services": [v.get("services", i, "name") for i in v.indexes("services") or ()],
             "environments": [v.get("environments", i, "name") for i in v.indexes("environments") or ()]}
    for i in v.indexes("maintenance") or ():
        for field, names in known.items():
            listed = v.get("maintenance", i, field)
            if listed is FAILED or not listed or FAILED in names:
                continue
            for j, name in enumerate(listed):
                if name not in names:
                    problems.append(Problem(("maintenance", i, field, j), f"{name!r} is not a declared "
                                            f"{field[:-1]} ({', '.join(names)})"))
    return problems


def _slow_trigger_problems(v: _Values) -> list[Problem]:
    """A `for:` as long as what it guards defeats the alert: a burn tier's long window already averages the
    burn, a blind or unscraped service must be noticed within the fastest page window, and a DR trigger that
    waits the whole RTO cannot start a failover in time."""
    problems: list[Problem] = []
    for tier in conventions.TIERS:
        value = v.get("alerting", tier.name, "for")
        if isinstance(value, str) and parse_duration(value) >= parse_duration(tier.long_window):
            problems.append(Problem(("alerting", tier.name, "for"), f"{value} must be shorter than the tier's long "
                                    f"window ({tier.long_window}), which already averages the burn"))
    shortest = min(conventions.TIERS, key=lambda t: parse_duration(t.long_window))
    for key in ("metrics_absent_for", "targets_down_for"):
        value = v.get("alerting", key)
        if value is not FAILED and parse_duration(value) >= parse_duration(shortest.long_window):
            problems.append(Problem(("alerting", key), f"{value} must be shorter than {shortest.long_window}, the "
                                    f"{shortest.name} tier's window: longer, and a service can go unwatched for a "
                                    "whole page window unnoticed"))
    rto = v.get("dr", "rto")
    for trigger in ("error_ratio", "primary_region_unavailable"):
        value = v.get("dr", trigger, "for")
        if FAILED not in (rto, value) and parse_duration(value) >= parse_duration(rto):
            problems.append(Problem(("dr", trigger, "for"), f"{value} must be shorter than dr.rto ({rto}): a "
                                    "trigger that waits that long cannot start a failover in time"))
    return problems


def _remote_write_problems(v: _Values) -> list[Problem]:
    """Prometheus refuses two remote_write entries with one name, and basic auth next to a bearer token."""
    problems: list[Problem] = []
    seen: set[str] = set()
    for i in v.indexes("prometheus", "remote_write") or ():
        at = ("prometheus", "remote_write", i)
        name = v.get(*at, "name")
        if isinstance(name, str) and name:
            if name in seen:
                problems.append(Problem((*at, "name"), f"duplicate remote_write name {name!r}"))
            seen.add(name)
        user, password, token = (v.get(*at, k) for k in ("basic_auth_username", "basic_auth_password_file",
                                                          "bearer_token_file"))
        if user and token and FAILED not in (user, token):
            problems.append(Problem((*at, "bearer_token_file"), "use basic_auth_username or bearer_token_file, "
                                    "not both (Prometheus allows one kind of authorization)"))
        if password and password is not FAILED and user is None:
            problems.append(Problem((*at, "basic_auth_password_file"), "needs basic_auth_username"))
    return problems


# -- loading ---------------------------------------------------------------------------------------------------
def default_catalog_text() -> str:
    return BUILT_IN_CATALOG.read_text("utf-8")


def _loc(loc: Sequence[Any], data: Any) -> str:
    """Field path with list indexes replaced by the item's name where it has one (services.patient-registry);
    keys and names that would blur the path (empty, spaces, dots) are quoted or left as indexes."""
    parts: list[str] = []
    node = data
    for key in loc:
        if isinstance(key, int) and isinstance(node, list) and 0 <= key < len(node):
            item = node[key]
            name = item.get("name") if isinstance(item, dict) else None
            parts.append(name if isinstance(name, str) and _PLAIN.fullmatch(name) else f"[{key}]")
            node = item
        else:
            text = "for" if key == "for_" else str(key)
            parts.append(text if _PLAIN.fullmatch(text) else repr(key))
            node = node.get(key) if isinstance(node, dict) else None
    return ".".join(parts).replace(".[", "[") or "(top level)"


_PLAIN = re.compile(r"^[^\s.\[\]'\"]+$")


def _reason(err: Any) -> str:
    msg = str(err["msg"])
    if err["type"] == "extra_forbidden":
        msg = "unknown field"
    elif err["type"] == "invalid_key":
        msg = "keys must be strings"
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    return " ".join(msg.split())


def _compose(text: str, source: str) -> tuple[yaml.Node | None, Any]:
    """The document's node tree (for line numbers) and its data, from one parse; YAML errors keep line:column."""
    loader = None
    try:
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
        return node, (loader.construct_document(node) if node is not None else None)
    except yaml.YAMLError as exc:
        raise CatalogError([f"{source}{_yaml_where(exc, text)}: (yaml): not valid YAML: {_yaml_reason(exc)}"]) from None
    except (ValueError, RecursionError) as exc:  # e.g. unicode errors, absurd nesting
        raise CatalogError([f"{source}:1: (yaml): cannot parse: {str(exc).splitlines()[0][:200]}"]) from None
    finally:
        if loader is not None:
            loader.dispose()


def _yaml_where(exc: yaml.YAMLError, text: str) -> str:
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        return f":{mark.line + 1}:{mark.column + 1}"
    position = getattr(exc, "position", None)  # a ReaderError (unprintable character) has only an offset
    if isinstance(position, int):
        line_start = text.rfind("\n", 0, position) + 1
        return f":{text.count(chr(10), 0, position) + 1}:{position - line_start + 1}"
    return ":1"


def _yaml_reason(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.reader.ReaderError):
        return f"character #x{exc.character:04x} is not allowed in YAML"
    return str(getattr(exc, "problem", None) or str(exc).splitlines()[0])


def parse_catalog(text: str, source: str = "<catalog>") -> Catalog:
    """Parse and validate catalog YAML; raise CatalogError with every problem, one `file:LINE: path: reason`
    line each, sorted by line."""
    root, data = _compose(text, source)
    where = Positions(root)
    if not isinstance(data, dict):
        raise CatalogError([f"{source}:{where.line(())}: (top level): expected a mapping with version, name, "
                            "services, ..."])
    if "version" in data and (isinstance(data["version"], bool) or data["version"] != 1):
        # Another version is another schema: its fields would only be reported as noise.
        raise CatalogError([f"{source}:{where.line(('version',))}: version: unsupported catalog version "
                            f"{data['version']!r}; expected 1"])
    located = [(line, path, f"duplicate key: replaces the value on line {first}")
               for path, line, first in where.duplicate_keys()]
    try:
        catalog = Catalog.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        crossed = [e["ctx"]["error"] for e in errors if isinstance(e.get("ctx", {}).get("error"), CrossFieldError)]
        fields = [e for e in errors if not isinstance(e.get("ctx", {}).get("error"), CrossFieldError)]
        located += [(where.line(e["loc"]), tuple(e["loc"]), _reason(e)) for e in fields]
        problems = crossed[0].problems if crossed else cross_field_problems(_Values(data, [e["loc"] for e in fields]))
        located += [(where.line(p.at or p.field), p.field, p.reason) for p in problems]
    else:
        if not located:
            return catalog
    located.sort(key=lambda item: item[0])
    raise CatalogError(list(dict.fromkeys(f"{source}:{line}: {_loc(path, data)}: {reason}"
                                          for line, path, reason in located)))


def locate(path: str | Path | None, problems: Sequence[tuple[Loc, str]]) -> list[str]:
    """Problems found after loading (e.g. promtool's verdict on a ratio query) as the loader words its own:
    `file:LINE: field.path: reason`, sorted by line. `path` is a catalog that loaded, None the built-in one."""
    source = BUILT_IN_SOURCE if path is None else str(path)
    text = default_catalog_text() if path is None else Path(path).read_text("utf-8")
    root, data = _compose(text, source)
    where = Positions(root)
    located = sorted((where.line(loc), _loc(loc, data), reason) for loc, reason in problems)
    return [f"{source}:{line}: {field}: {reason}" for line, field, reason in located]


def load_catalog(path: str | Path | None = None) -> Catalog:
    """The catalog at `path`, or the built-in ZARISH HIS catalog when `path` is None."""
    return parse_catalog_bytes(*read_catalog(path))


def parse_catalog_bytes(raw: bytes, source: str) -> Catalog:
    """`parse_catalog` for a file's bytes, as `read_catalog` returns them."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CatalogError([f"{source}: (file): not UTF-8 text (byte {exc.start})"]) from None
    return parse_catalog(text, source)
