"""`monitor schedule`: the crontab line and the Kubernetes CronJob, checked structurally and by running
the command they contain through the real CLI."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import catalog_file
from tests.test_monitor_failures import EMPTY, fake_server
from zarish_obs.stack.main import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(["monitor", "schedule", *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def check_args_of_crontab(line: str) -> list[str]:
    fields = line.split(" ", 5)
    words = shlex.split(fields[5].split(" >> ")[0])
    return words[words.index("zarish-obs") + 1:]


def test_crontab_line(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys)
    assert rc == 0 and out.count("\n") == 1
    line = out.strip()
    assert line.split(" ")[:5] == ["*/5", "*", "*", "*", "*"]
    words = shlex.split(line.split(" >> ")[0])
    assert words[5:8] == ["flock", "-n", "/tmp/zarish-obs-monitor-production.lock"]  # no overlapping runs
    assert words[8] == "timeout" and int(words[9]) < 300  # a stuck run ends before the next one starts
    args = check_args_of_crontab(line)
    assert args[:4] == ["monitor", "check", "--format", "json"]
    assert "--textfile" in args and "--catalog" not in args  # built-in catalog, no Pushgateway given


@pytest.mark.parametrize(("every", "cron"), [("1m", "* * * * *"), ("15m", "*/15 * * * *"), ("1h", "0 * * * *"),
                                             ("6h", "0 */6 * * *")])
def test_periods(capsys: pytest.CaptureFixture[str], every: str, cron: str) -> None:
    rc, out, _ = run(capsys, "--every", every)
    assert rc == 0 and out.startswith(cron + " ")


@pytest.mark.parametrize("every", ["7m", "90s", "5d", "soon"])
def test_periods_that_cron_cannot_keep(capsys: pytest.CaptureFixture[str], every: str) -> None:
    rc, out, err = run(capsys, "--every", every)
    assert rc == 64 and out == "" and "--every" in err


def test_crontab_command_runs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The printed command is a valid `monitor check` invocation (run here against a stub server)."""
    textfile = tmp_path / "monitor.prom"
    with fake_server(lambda r: (200, EMPTY)) as (url, fake):
        rc, out, _ = run(capsys, "--catalog", str(catalog_file("minimal.yaml")), "--prometheus-url", url,
                         "--textfile", str(textfile))
        assert rc == 0
        args = check_args_of_crontab(out.strip())
        assert args[args.index("--catalog") + 1] == str(catalog_file("minimal.yaml").resolve())
        capsys.readouterr()
        code = main([*args, "--at", "1795000000"])
        report = json.loads(capsys.readouterr().out)
    assert code == 3 and report["catalog"] == "clinic-lite" and fake.requests
    assert textfile.exists()


def cronjob_docs(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    rc, out, err = run(capsys, "--format", "cronjob", *args)
    assert rc == 0, err
    return list(yaml.safe_load_all(out))


def test_cronjob_is_locked_down(capsys: pytest.CaptureFixture[str]) -> None:
    docs = cronjob_docs(capsys)
    assert [d["kind"] for d in docs] == ["CronJob"]
    job = docs[0]
    assert job["apiVersion"] == "batch/v1" and job["metadata"]["namespace"] == "zarish-his-monitoring"
    spec = job["spec"]
    assert spec["schedule"] == "*/5 * * * *" and spec["concurrencyPolicy"] == "Forbid"
    jspec = spec["jobTemplate"]["spec"]
    assert 0 < jspec["activeDeadlineSeconds"] < 300 and jspec["backoffLimit"] == 0
    pod = jspec["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]} and sc["runAsNonRoot"] is True and sc["privileged"] is False
    assert container["image"] == "ghcr.io/zarishsphere/zarish-obs:0.1.0"
    args = container["args"]
    assert container["command"] == ["zarish-obs"] and args[:2] == ["monitor", "check"]
    assert args[args.index("--pushgateway") + 1] == "http://pushgateway:9091"
    assert args[args.index("--prometheus-url") + 1] == "http://prometheus.zarish-his-monitoring.svc:9090"
    assert "--exit-zero" in args and int(args[args.index("--deadline") + 1]) < jspec["activeDeadlineSeconds"]
    assert {m["mountPath"] for m in container["volumeMounts"]} == {"/tmp"}  # the only writable place
    assert container["resources"]["limits"]["memory"]


def test_cronjob_with_catalog_file_image_and_token(capsys: pytest.CaptureFixture[str]) -> None:
    path = catalog_file("custom-labels.yaml")
    docs = cronjob_docs(capsys, "--catalog", str(path), "--every", "10m", "--image", "registry.local/zobs:1",
                        "--pushgateway", "http://pgw.observability.svc:9091", "--token-secret", "prom-token")
    assert [d["kind"] for d in docs] == ["ConfigMap", "CronJob"]
    cm, job = docs
    assert cm["data"]["catalog.yaml"] == path.read_text() and cm["metadata"]["namespace"] == "observability"
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    args = container["args"]
    assert container["image"] == "registry.local/zobs:1" and job["spec"]["schedule"] == "*/10 * * * *"
    assert args[args.index("--catalog") + 1] == "/etc/zarish-obs/catalog.yaml"
    assert args[args.index("--environment") + 1] == "prod"
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["catalog"]["mountPath"] == "/etc/zarish-obs" and mounts["catalog"]["readOnly"] is True
    assert {"name": "PROMETHEUS_TOKEN_FILE", "value": "/var/run/secrets/zarish-obs/token"} in container["env"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["prometheus-token"]["secret"]["secretName"] == "prom-token"
    assert volumes["catalog"]["configMap"]["name"] == cm["metadata"]["name"]


def test_cronjob_needs_a_pushgateway(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run(capsys, "--format", "cronjob", "--catalog", str(catalog_file("custom-labels.yaml")))
    assert rc == 64 and out == "" and "Pushgateway" in err


def test_cronjob_command_runs_and_exit_zero_keeps_the_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    with fake_server(lambda r: (200, EMPTY)) as (url, _):
        docs = cronjob_docs(capsys, "--prometheus-url", url, "--pushgateway", url)
        args = docs[0]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
        capsys.readouterr()
        rc = main([*args, "--at", "1795000000", "--dry-run"])
        captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert rc == 0 and report["status"] == "unknown" and report["exit_code"] == 3
    assert 'zarish_monitor_status{environment="production"} 3' in captured.err  # --dry-run: metrics, no push


def test_golden_schedule_outputs(capsys: pytest.CaptureFixture[str]) -> None:
    from tests.golden import assert_golden

    assert_golden("monitor/crontab.txt", run(capsys)[1])
    assert_golden("monitor/cronjob.yaml", run(capsys, "--format", "cronjob")[1])
