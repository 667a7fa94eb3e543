"""Where SREs already run jobs: a crontab line or a Kubernetes CronJob running `monitor check`. Pure.

The CronJob follows the DR plan's security section (non-root, no privilege escalation, ALL
capabilities dropped) and adds a read-only root filesystem; `concurrencyPolicy: Forbid` and a job
deadline shorter than the period keep runs from piling up, and the verdict goes to the Pushgateway
(the job itself exits 0 on any verdict via --exit-zero, so Kubernetes counts only real failures).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from zarish_obs import __version__
from zarish_obs.durations import parse_duration
from zarish_obs.errors import ExitCode, ZarishError
from zarish_obs.writers import configmap

if TYPE_CHECKING:  # the schedule only reads names and intervals
    from zarish_obs.catalog import Catalog


class ScheduleFormat(str, Enum):
    """Where a scheduled job runs: a crontab line or a Kubernetes CronJob."""

    crontab = "crontab"
    cronjob = "cronjob"


DEFAULT_IMAGE = f"ghcr.io/zarishsphere/zarish-obs:{__version__}"
RUN_AS = 1000
FS_GROUP = 2000
CATALOG_CONFIGMAP = "zarish-obs-catalog"
TOKEN_DIR = "/var/run/secrets/zarish-obs"
TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"


@dataclass(frozen=True)
class Spec:
    every: str = "5m"
    environment: str | None = None
    prometheus_url: str | None = None
    pushgateway: str | None = None
    image: str | None = None
    catalog_path: str = "/etc/zarish-obs/catalog.yaml"
    builtin_catalog: bool = True
    textfile: str | None = None
    token_secret: str | None = None


def period_seconds(every: str) -> int:
    try:
        seconds = parse_duration(every)
    except ValueError as exc:
        raise ZarishError(f"--every: {exc}", ExitCode.USAGE) from None
    return int(seconds)


def cron_expression(every: str) -> str:
    """A five-field schedule that runs exactly every `every` (it must divide an hour or a day)."""
    seconds = period_seconds(every)
    minutes, rest = divmod(seconds, 60)
    if rest == 0 and 1 <= minutes < 60 and 60 % minutes == 0:
        return "* * * * *" if minutes == 1 else f"*/{minutes} * * * *"
    hours, rest = divmod(seconds, 3600)
    if rest == 0 and 1 <= hours < 24 and 24 % hours == 0:
        return "0 * * * *" if hours == 1 else f"0 */{hours} * * *"
    raise ZarishError(f"--every {every}: use whole minutes dividing an hour (1m, 2m, 5m, 10m, 15m, 30m) or "
                      "whole hours dividing a day (1h, 2h, 3h, 4h, 6h, 8h, 12h)", ExitCode.USAGE)


def job_deadline(every: str) -> int:
    """activeDeadlineSeconds / `timeout`: 80% of the period, so a stuck run ends before the next one."""
    return int(period_seconds(every) * 0.8)


def check_deadline(every: str) -> int:
    """The check's own --deadline: 20 s, or less for very short periods."""
    return max(10, min(20, period_seconds(every) // 3))


def environment(catalog: Catalog, spec: Spec) -> str:
    env = spec.environment or catalog.dr.error_ratio.environment
    if env not in {e.name for e in catalog.environments}:
        raise ZarishError(f"--environment {env!r}: not in the catalog", ExitCode.USAGE)
    return env


def _pushgateway(catalog: Catalog, spec: Spec) -> str | None:
    if spec.pushgateway:
        return spec.pushgateway
    pg = catalog.prometheus.pushgateway
    if not pg:
        return None
    return pg if pg.startswith(("http://", "https://")) else f"http://{pg}"


def default_prometheus_url(catalog: Catalog) -> str:
    return f"http://prometheus.{catalog.monitoring_namespace}.svc:9090"


def check_args(catalog: Catalog, spec: Spec, prometheus_url: str, pushgateway: str | None,
               textfile: str | None) -> list[str]:
    args = ["monitor", "check", "--format", "json", "--environment", environment(catalog, spec),
            "--prometheus-url", prometheus_url, "--deadline", str(check_deadline(spec.every))]
    if not spec.builtin_catalog:
        args += ["--catalog", spec.catalog_path]
    if pushgateway:
        args += ["--pushgateway", pushgateway]
    if textfile:
        args += ["--textfile", textfile]
    return args


def crontab(catalog: Catalog, spec: Spec) -> str:
    """One crontab line: flock keeps runs from overlapping, timeout ends a stuck one before the next."""
    env = environment(catalog, spec)
    pushgateway = spec.pushgateway
    textfile = spec.textfile or (None if pushgateway else f"{TEXTFILE_DIR}/zarish_monitor_{env}.prom")
    url = spec.prometheus_url or "http://localhost:9090"
    args = check_args(catalog, spec, url, pushgateway, textfile)
    cmd = " ".join(shlex.quote(a) for a in ["zarish-obs", *args])
    lock = f"/tmp/zarish-obs-monitor-{env}.lock"
    return (f"{cron_expression(spec.every)} flock -n {lock} timeout {job_deadline(spec.every)} {cmd} "
            f">> /var/log/zarish-obs-monitor-{env}.log 2>&1")


Doc = dict[str, Any]


def job_parts(catalog: Catalog, spec: Spec, catalog_text: str | None, name: str, args: list[str],
              memory: str = "256Mi", extra_mounts: Sequence[Doc] = (), extra_volumes: Sequence[Doc] = ()
              ) -> tuple[list[Doc], Doc, list[Doc]]:
    """What every zarish-obs job runs with: the catalog ConfigMap (for a catalog file), the hardened
    container (non-root, read-only root, no capabilities) and its volumes."""
    mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": "/tmp"}, *extra_mounts]
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}},
                                     *extra_volumes]
    docs: list[dict[str, Any]] = []
    if not spec.builtin_catalog:
        if catalog_text is None:
            raise ValueError("a catalog file needs its text for the ConfigMap")
        filename = spec.catalog_path.rsplit("/", 1)[-1]
        docs.append(configmap(CATALOG_CONFIGMAP, catalog.monitoring_namespace, {filename: catalog_text}, labels={
            "app.kubernetes.io/name": "zarish-obs-monitor"}))
        mounts.append({"name": "catalog", "mountPath": spec.catalog_path.rsplit("/", 1)[0], "readOnly": True})
        volumes.append({"name": "catalog", "configMap": {"name": CATALOG_CONFIGMAP}})
    env_vars = [{"name": "PYTHONDONTWRITEBYTECODE", "value": "1"}, {"name": "HOME", "value": "/tmp"}]
    if spec.token_secret:
        env_vars.append({"name": "PROMETHEUS_TOKEN_FILE", "value": f"{TOKEN_DIR}/token"})
        mounts.append({"name": "prometheus-token", "mountPath": TOKEN_DIR, "readOnly": True})
        volumes.append({"name": "prometheus-token", "secret": {"secretName": spec.token_secret,
                                                               "defaultMode": 0o440}})
    container = {
        "name": name,
        "image": spec.image or DEFAULT_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "command": ["zarish-obs"],
        "args": args,
        "env": env_vars,
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": memory}},
        "securityContext": {
            "runAsNonRoot": True, "runAsUser": RUN_AS, "runAsGroup": RUN_AS, "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True, "privileged": False, "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": mounts,
    }
    return docs, container, volumes


def pod_spec(container: dict[str, Any], volumes: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": RUN_AS, "runAsGroup": RUN_AS,
                            "fsGroup": FS_GROUP, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
        "volumes": volumes,
    }


def cronjob(catalog: Catalog, spec: Spec, catalog_text: str | None = None) -> list[dict[str, Any]]:
    """The CronJob (and, for a catalog file, the ConfigMap it mounts) for the monitoring namespace."""
    env = environment(catalog, spec)
    pushgateway = _pushgateway(catalog, spec)
    if not pushgateway:
        raise ZarishError("the CronJob pushes its verdict to a Pushgateway: set prometheus.pushgateway in the "
                          "catalog or pass --pushgateway", ExitCode.USAGE)
    ns = catalog.monitoring_namespace
    name = f"zarish-obs-monitor-{env}"[:52]
    labels = {"app.kubernetes.io/name": "zarish-obs-monitor", "app.kubernetes.io/instance": name,
              "app.kubernetes.io/managed-by": "zarish-obs"}
    args = check_args(catalog, spec, spec.prometheus_url or default_prometheus_url(catalog), pushgateway, None)
    args.append("--exit-zero")
    docs, container, volumes = job_parts(catalog, spec, catalog_text, "monitor", args)
    period = period_seconds(spec.every)
    job = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {
            "schedule": cron_expression(spec.every),
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": max(10, period // 2),
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "metadata": {"labels": labels},
                "spec": {
                    "activeDeadlineSeconds": job_deadline(spec.every),
                    "backoffLimit": 0,
                    "ttlSecondsAfterFinished": max(600, 3 * period),
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": pod_spec(container, volumes),
                    },
                },
            },
        },
    }
    return [*docs, job]
