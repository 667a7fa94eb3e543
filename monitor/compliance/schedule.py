"""`report schedule --monthly`: the previous month's report, written on the 1st at 06:00 local time. Pure.

The job writes HTML for people and JSON for machines in one run (one set of queries) to a directory;
`{period}` in the file names becomes the month, so each month's report is kept beside the others.
"""

from __future__ import annotations

import shlex
from typing import Any

from zarish_obs import conventions
from zarish_obs.catalog import Catalog
from zarish_obs.monitor import schedule as monitor_schedule
from zarish_obs.monitor.schedule import Spec

MONTHLY = "0 6 1 * *"  # 06:00 on the 1st, in the catalog's time zone
REPORT_DIR = "/var/lib/zarish-obs/reports"
REPORT_PVC = "zarish-obs-reports"
JOB_DEADLINE = 3600
REPORT_DEADLINE = 1800
FORMATS = ("html", "json")


def out_paths(catalog: Catalog, environment: str, directory: str) -> list[str]:
    return [f"{directory}/{catalog.name}-{environment}-{{period}}.{fmt}" for fmt in FORMATS]


def report_args(catalog: Catalog, spec: Spec, prometheus_url: str, directory: str) -> list[str]:
    env = monitor_schedule.environment(catalog, spec)
    args = ["report", "--environment", env, "--prometheus-url", prometheus_url, "--deadline", str(REPORT_DEADLINE)]
    if not spec.builtin_catalog:
        args += ["--catalog", spec.catalog_path]
    for path in out_paths(catalog, env, directory):
        args += ["--out", path]
    return args


def timezone(catalog: Catalog) -> str:
    return str(conventions.report_timezone(catalog))


def crontab(catalog: Catalog, spec: Spec, directory: str = REPORT_DIR) -> str:
    """CRON_TZ (cronie, systemd-cron) runs the line at 06:00 in the catalog's zone; on a cron without it the
    machine's own zone applies, which the comment says."""
    env = monitor_schedule.environment(catalog, spec)
    args = report_args(catalog, spec, spec.prometheus_url or "http://localhost:9090", directory)
    cmd = " ".join(shlex.quote(a) for a in ["zarish-obs", *args])
    tz = timezone(catalog)
    return (f"# the previous month's SLO report, on the 1st at 06:00 {tz} (a cron without CRON_TZ uses the "
            f"machine's zone)\nCRON_TZ={tz}\n"
            f"{MONTHLY} flock -n /tmp/zarish-obs-report-{env}.lock timeout {JOB_DEADLINE} {cmd} "
            f">> /var/log/zarish-obs-report-{env}.log 2>&1")


def cronjob(catalog: Catalog, spec: Spec, catalog_text: str | None = None) -> list[dict[str, Any]]:
    """The CronJob (Kubernetes `timeZone`, stable since 1.27), the claim its reports are kept on and, for a
    catalog file, the ConfigMap it mounts. An incomplete report exits 1, so the Job shows as failed."""
    env = monitor_schedule.environment(catalog, spec)
    ns = catalog.monitoring_namespace
    name = f"zarish-obs-report-{env}"[:52]
    labels = {"app.kubernetes.io/name": "zarish-obs-report", "app.kubernetes.io/instance": name,
              "app.kubernetes.io/managed-by": "zarish-obs"}
    url = spec.prometheus_url or monitor_schedule.default_prometheus_url(catalog)
    docs, container, volumes = monitor_schedule.job_parts(
        catalog, spec, catalog_text, "report", report_args(catalog, spec, url, REPORT_DIR), memory="1Gi",
        extra_mounts=[{"name": "reports", "mountPath": REPORT_DIR}],
        extra_volumes=[{"name": "reports", "persistentVolumeClaim": {"claimName": REPORT_PVC}}])
    claim = {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": REPORT_PVC, "namespace": ns, "labels": labels},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    job = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {
            "schedule": MONTHLY,
            "timeZone": timezone(catalog),
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 6 * 3600,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "metadata": {"labels": labels},
                "spec": {
                    "activeDeadlineSeconds": JOB_DEADLINE,
                    "backoffLimit": 1,
                    "ttlSecondsAfterFinished": 7 * 86400,
                    "template": {"metadata": {"labels": labels},
                                 "spec": monitor_schedule.pod_spec(container, volumes)},
                },
            },
        },
    }
    return [*docs, claim, job]
