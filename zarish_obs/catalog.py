"""The service catalog: one validated description of ZARISH HIS that every component reads.

pydantic v2 does the type checking, so every problem comes back with its field path and the
loader can print one located line per problem instead of a traceback.
"""

from __future__ import annotations

import math
import re
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from zarish_obs.durations import parse_duration
from zarish_obs.errors import CatalogError

LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
METRIC_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
# Service, region and environment names end up in label values, Kubernetes names, file names and
# Grafana uids, so they are held to DNS-1123 labels: valid everywhere at once.
DNS_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def _duration(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a duration string like 5m, got {type(value).__name__}")
    parse_duration(value)
    return value


Duration = Annotated[str, Field(description="Prometheus duration, e.g. 5m, 1h, 30d")]


def _metric_name(value: str) -> str:
    if not METRIC_NAME_RE.match(value):
        raise ValueError(f"{value!r} is not a valid Prometheus metric name")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


def _dns_name(value: str) -> str:
    if not DNS_NAME_RE.match(value):
        raise ValueError(f"{value!r} must be lower-case letters, digits and '-' (a DNS label, max 63)")
    return value


class Region(_Model):
    name: str
    role: Literal["primary", "dr", "edge"]
    probes: list[str] = Field(default_factory=list, description="health endpoint URLs probed by blackbox")

    _name = field_validator("name")(_dns_name)

    @field_validator("probes")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        for url in value:
            if not re.match(r"^https?://[^\s/]+", url):
                raise ValueError(f"{url!r} is not an http(s) URL")
        return value


class Environment(_Model):
    name: str
    namespace: str

    _name = field_validator("name", "namespace")(_dns_name)


class Metrics(_Model):
    requests_total: str = "http_requests_total"
    latency_histogram: str = "http_request_duration_seconds"
    service_label: str = "service"
    status_label: str = "status"
    environment_label: str = "environment"
    error_status_regex: str = "5.."

    _metrics = field_validator("requests_total", "latency_histogram")(_metric_name)

    @field_validator("service_label", "status_label", "environment_label")
    @classmethod
    def _label(cls, value: str) -> str:
        if not LABEL_NAME_RE.match(value) or value.startswith("__"):
            raise ValueError(f"{value!r} is not a valid Prometheus label name")
        return value

    @field_validator("error_status_regex")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"{value!r} is not a valid regular expression: {exc}") from None
        return value


def _objective(value: float) -> float:
    if isinstance(value, bool) or not math.isfinite(value) or not 0 < value < 100:
        raise ValueError(f"objective {value!r} must be a percentage strictly between 0 and 100")
    return value


class AvailabilitySLO(_Model):
    objective: float
    window: str = "30d"

    _objective = field_validator("objective")(_objective)
    _window = field_validator("window", mode="before")(_duration)

    @property
    def window_seconds(self) -> float:
        return parse_duration(self.window)

    @property
    def error_budget(self) -> float:
        """Allowed fraction of bad events (0.001 for 99.9%)."""
        return round(1 - self.objective / 100, 12)


class LatencySLO(AvailabilitySLO):
    threshold_seconds: float

    @field_validator("threshold_seconds")
    @classmethod
    def _threshold(cls, value: float) -> float:
        if isinstance(value, bool) or not math.isfinite(value) or value <= 0:
            raise ValueError("threshold_seconds must be a positive number (a histogram bucket boundary)")
        return value


class SLOs(_Model):
    availability: AvailabilitySLO | None = None
    latency: LatencySLO | None = None


class Service(_Model):
    name: str
    port: int = Field(8080, ge=1, le=65535)
    metrics_port: int = Field(9090, ge=1, le=65535)
    description: str = ""
    tier: Literal["critical", "standard"] = "standard"
    slos: SLOs = Field(default_factory=SLOs)

    _name = field_validator("name")(_dns_name)

    def slo_items(self) -> list[tuple[str, AvailabilitySLO]]:
        """(kind, slo) pairs in a fixed order: availability first, then latency."""
        out: list[tuple[str, AvailabilitySLO]] = []
        if self.slos.availability:
            out.append(("availability", self.slos.availability))
        if self.slos.latency:
            out.append(("latency", self.slos.latency))
        return out


class ErrorRatioTrigger(_Model):
    threshold: float = 0.10
    for_: str = Field("5m", alias="for")
    environment: str = "production"

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    _for = field_validator("for_", mode="before")(_duration)

    @field_validator("threshold")
    @classmethod
    def _ratio(cls, value: float) -> float:
        if not 0 < value < 1:
            raise ValueError("threshold is a ratio strictly between 0 and 1 (0.10 = 10%)")
        return value


class ReplicationLagTrigger(_Model):
    metric: str = "pg_replication_lag_seconds"
    threshold: str = "5m"

    _threshold = field_validator("threshold", mode="before")(_duration)
    _metric = field_validator("metric")(_metric_name)


class RegionUnavailableTrigger(_Model):
    metric: str = "probe_success"
    for_: str = Field("30m", alias="for")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    _for = field_validator("for_", mode="before")(_duration)
    _metric = field_validator("metric")(_metric_name)


class ManualTrigger(_Model):
    metric: str = "zarish_dr_manual_trigger"

    _metric = field_validator("metric")(_metric_name)


class Backup(_Model):
    metric: str = "zarish_backup_last_success_timestamp_seconds"
    schedule: str = "0 2 * * *"
    grace: str = Field("2h", description="a backup counts as missed once its schedule's interval plus this has passed")
    retention: str = "30d"

    _retention = field_validator("retention", "grace", mode="before")(_duration)
    _metric = field_validator("metric")(_metric_name)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError(f"{value!r} is not a five-field cron schedule")
        return value


class DR(_Model):
    error_ratio: ErrorRatioTrigger = Field(default_factory=ErrorRatioTrigger)
    replication_lag: ReplicationLagTrigger = Field(default_factory=ReplicationLagTrigger)
    primary_region_unavailable: RegionUnavailableTrigger = Field(default_factory=RegionUnavailableTrigger)
    manual_trigger: ManualTrigger = Field(default_factory=ManualTrigger)
    backup: Backup = Field(default_factory=Backup)
    rpo: str = "1h"
    rto: str = "4h"
    failover_procedure: list[str] = Field(default_factory=list)
    failback_procedure: list[str] = Field(default_factory=list)

    _durations = field_validator("rpo", "rto", mode="before")(_duration)


class BurnTierSettings(_Model):
    enabled: bool = True
    for_: str | None = Field(None, alias="for")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("for_", mode="before")
    @classmethod
    def _for(cls, value: Any) -> Any:
        return None if value is None else _duration(value)


class Alerting(_Model):
    runbook_base_url: str = "https://runbooks.zarishsphere.com/zarish-his"
    grafana_url: str = "https://grafana.zarishsphere.com"
    min_events: int = Field(
        20, ge=0, description="SLO alerts need at least this many requests in the long window"
    )
    page_fast: BurnTierSettings = Field(default_factory=BurnTierSettings)
    page_slow: BurnTierSettings = Field(default_factory=BurnTierSettings)
    ticket_fast: BurnTierSettings = Field(default_factory=BurnTierSettings)
    ticket_slow: BurnTierSettings = Field(default_factory=BurnTierSettings)
    metrics_absent_for: str = "10m"
    targets_down_for: str = "5m"
    webhook_url: str = "http://zarish-alert-webhook.zarish-his-monitoring.svc:8080/alerts"

    _durations = field_validator("metrics_absent_for", "targets_down_for", mode="before")(_duration)


class RemoteWrite(_Model):
    url: str
    name: str | None = None
    basic_auth_username: str | None = None
    basic_auth_password_file: str | None = Field(
        None, description="path to a file with the password; the password itself never goes in the catalog"
    )
    bearer_token_file: str | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value


class PrometheusSettings(_Model):
    scrape_interval: str = "15s"
    evaluation_interval: str = "15s"
    scrape_timeout: str = "10s"
    rule_files: list[str] = Field(default_factory=lambda: ["/etc/prometheus/rules/*.yml"])
    alertmanagers: list[str] = Field(default_factory=lambda: ["alertmanager:9093"])
    blackbox_exporter: str = "blackbox-exporter:9115"
    blackbox_module: str = "http_2xx"
    pushgateway: str | None = "pushgateway:9091"
    remote_write: list[RemoteWrite] = Field(default_factory=list)

    _durations = field_validator("scrape_interval", "evaluation_interval", "scrape_timeout", mode="before")(
        _duration
    )

    @model_validator(mode="after")
    def _timeout(self) -> PrometheusSettings:
        if parse_duration(self.scrape_timeout) > parse_duration(self.scrape_interval):
            raise ValueError("scrape_timeout must not be longer than scrape_interval")
        return self


class GrafanaSettings(_Model):
    folder: str = "ZARISH HIS"
    datasource_uid: str = "zarish-prometheus"
    datasource_name: str = "Prometheus"

    @field_validator("datasource_uid")
    @classmethod
    def _uid(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z0-9_-]{1,40}$", value):
            raise ValueError("datasource_uid must be 1-40 characters of [A-Za-z0-9_-]")
        return value


class Catalog(_Model):
    version: Literal[1]
    name: str
    cluster: str = "zarish-his-prod"
    timezone: str = "Asia/Dhaka"
    monitoring_namespace: str = "zarish-his-monitoring"
    regions: list[Region]
    environments: list[Environment]
    metrics: Metrics = Field(default_factory=Metrics)
    services: list[Service]
    dr: DR = Field(default_factory=DR)
    alerting: Alerting = Field(default_factory=Alerting)
    prometheus: PrometheusSettings = Field(default_factory=PrometheusSettings)
    grafana: GrafanaSettings = Field(default_factory=GrafanaSettings)
    time_scale: float = Field(
        1.0,
        gt=0,
        le=1,
        description="compress every for:/trigger duration by this factor (demos and tests only)",
    )

    _names = field_validator("name", "cluster", "monitoring_namespace")(_dns_name)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        if value in ("browser", "utc"):
            return value
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. Asia/Dhaka)") from None
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> Catalog:
        problems: list[str] = []
        for field, items in (("regions", self.regions), ("environments", self.environments),
                             ("services", self.services)):
            if not items:
                problems.append(f"{field}: at least one entry is required")
            seen: set[str] = set()
            for item in items:
                if item.name in seen:
                    problems.append(f"{field}: duplicate name {item.name!r}")
                seen.add(item.name)
        namespaces = [e.namespace for e in self.environments]
        if len(set(namespaces)) != len(namespaces):
            problems.append("environments: two environments share a namespace")
        primaries = [r.name for r in self.regions if r.role == "primary"]
        if self.regions and len(primaries) != 1:
            problems.append(f"regions: exactly one region must have role primary, found {len(primaries)}")
        if self.environments and self.dr.error_ratio.environment not in {e.name for e in self.environments}:
            problems.append(
                f"dr.error_ratio.environment: {self.dr.error_ratio.environment!r} is not a declared environment"
            )
        for svc in self.services:
            for kind, slo in svc.slo_items():
                if slo.window_seconds < 86400:
                    problems.append(f"services.{svc.name}.slos.{kind}.window: SLO windows must be at least 1d")
                if slo.window_seconds % 300:
                    problems.append(f"services.{svc.name}.slos.{kind}.window: must be a whole number of 5m")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # Convenience accessors used by every builder.
    @property
    def primary_region(self) -> Region:
        return next(r for r in self.regions if r.role == "primary")

    @property
    def dr_regions(self) -> list[Region]:
        return [r for r in self.regions if r.role == "dr"]

    def environment(self, name: str) -> Environment:
        for env in self.environments:
            if env.name == name:
                return env
        raise KeyError(name)


DEFAULT_CATALOG_RESOURCE = "default_catalog.yaml"


def default_catalog_text() -> str:
    return resources.files("zarish_obs").joinpath("data", DEFAULT_CATALOG_RESOURCE).read_text("utf-8")


def _loc(loc: tuple[Any, ...], data: Any) -> str:
    """Field path with list indexes replaced by the item's name where it has one (services.patient-registry)."""
    parts: list[str] = []
    node = data
    for key in loc:
        if isinstance(key, int) and isinstance(node, list) and 0 <= key < len(node):
            item = node[key]
            name = item.get("name") if isinstance(item, dict) else None
            parts.append(str(name) if isinstance(name, str) and name else f"[{key}]")
            node = item
        else:
            parts.append("for" if key == "for_" else str(key))
            node = node.get(key) if isinstance(node, dict) else None
    return ".".join(parts).replace(".[", "[") or "(top level)"


def parse_catalog(text: str, source: str = "<catalog>") -> Catalog:
    """Parse and validate catalog YAML; raise CatalogError with one located line per problem."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CatalogError([f"{source}{where}: (yaml): not valid YAML: {reason}"]) from None
    except (ValueError, RecursionError) as exc:  # e.g. unicode errors, absurd nesting
        raise CatalogError([f"{source}: (yaml): cannot parse: {str(exc).splitlines()[0][:200]}"]) from None
    if not isinstance(data, dict):
        raise CatalogError([f"{source}: (top level): expected a mapping with version, name, services, ..."])
    if "version" not in data:
        raise CatalogError([f"{source}: version: missing; this tool reads catalog version 1"])
    if data.get("version") != 1:
        raise CatalogError([f"{source}: version: unsupported catalog version {data.get('version')!r}; expected 1"])
    try:
        return Catalog.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            path = _loc(tuple(err["loc"]), data)
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = "unknown field"
            elif msg.startswith("Value error, "):
                msg = msg[len("Value error, "):]
            elif msg.startswith("Assertion failed, "):
                msg = msg[len("Assertion failed, "):]
            msg = " ".join(msg.split())
            if path == "(top level)" and "; " in msg:
                problems.extend(f"{source}: {m.split(': ', 1)[0]}: {m.split(': ', 1)[-1]}" for m in msg.split("; "))
            else:
                problems.append(f"{source}: {path}: {msg}")
        raise CatalogError(problems) from None


def load_catalog(path: str | Path | None = None) -> Catalog:
    """The catalog at `path`, or the built-in ZARISH HIS catalog when `path` is None."""
    if path is None:
        return parse_catalog(default_catalog_text(), "<built-in catalog>")
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise CatalogError([f"{p}: (file): no such file"]) from None
    except IsADirectoryError:
        raise CatalogError([f"{p}: (file): is a directory, expected a YAML file"]) from None
    except OSError as exc:
        raise CatalogError([f"{p}: (file): cannot read: {exc.strerror}"]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CatalogError([f"{p}: (file): not UTF-8 text (byte {exc.start})"]) from None
    return parse_catalog(text, str(p))
