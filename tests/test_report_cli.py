"""`zarish-obs report`: periods in the catalog's zone, usage errors, the policy rules and the schedule.

The report's figures are proven on a real Prometheus in test_report_accuracy.py; here the edges."""

from __future__ import annotations

import itertools
import shlex
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from zarish_obs.catalog import Policy
from zarish_obs.errors import ExitCode, ZarishError
from zarish_obs.monitor.compliance import period, policy
from zarish_obs.procs import free_port
from zarish_obs.stack.main import main

DHAKA = ZoneInfo("Asia/Dhaka")
UTC = ZoneInfo("UTC")
NOW = datetime(2026, 12, 2, 7, 0, tzinfo=UTC).timestamp()


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(["report", *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


# -- periods ---------------------------------------------------------------------------------------------
def test_default_is_the_previous_month_in_dhaka() -> None:
    p = period.resolve(DHAKA, NOW)
    assert p.label == "2026-11"
    assert datetime.fromtimestamp(p.start, UTC) == datetime(2026, 10, 31, 18, 0, tzinfo=UTC)
    assert datetime.fromtimestamp(p.end, UTC) == datetime(2026, 11, 30, 18, 0, tzinfo=UTC)
    assert len(p.days()) == 30 and all(d.whole for d in p.days())


def test_just_after_local_midnight_on_the_first_the_previous_month_is_the_one_that_just_ended() -> None:
    # 2026-12-01 00:30 in Dhaka is still 30 November in UTC.
    at = datetime(2026, 12, 1, 0, 30, tzinfo=DHAKA).timestamp()
    assert period.resolve(DHAKA, at).label == "2026-11"


@settings(max_examples=60, deadline=None)
@given(year=st.integers(1990, 2025), month=st.integers(1, 12), zone=st.sampled_from(
    ["Asia/Dhaka", "UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata"]))
def test_a_month_is_its_local_days_midnight_to_midnight(year: int, month: int, zone: str) -> None:
    tz = ZoneInfo(zone)
    p = period.resolve(tz, NOW, month_text=f"{year:04d}-{month:02d}")
    days = p.days()
    assert days[0].start == p.start and days[-1].end == p.end
    assert [d.date.day for d in days] == list(range(1, len(days) + 1))
    assert all(a.end == b.start for a, b in itertools.pairwise(days))
    for d in days:
        local = datetime.fromtimestamp(d.start, tz)
        assert (local.hour, local.minute, local.date()) == (0, 0, d.date)
        assert 82800 <= d.seconds <= 90000  # 23 to 25 hours across a DST change
    assert (datetime.fromtimestamp(p.end, tz) - timedelta(days=1)).month == month


def test_range_days_are_cut_to_the_range() -> None:
    p = period.resolve(DHAKA, NOW, from_text="2026-11-03T12:00:00+06:00", to_text="2026-11-05T06:00:00+06:00")
    assert [(d.date.day, d.seconds / 3600) for d in p.days()] == [(3, 12), (4, 24), (5, 6)]


def test_a_date_is_its_local_midnight() -> None:
    p = period.resolve(DHAKA, NOW, from_text="2026-11-01", to_text="2026-11-02")
    assert datetime.fromtimestamp(p.start, DHAKA) == datetime(2026, 11, 1, tzinfo=DHAKA)


def test_a_period_running_into_the_future_is_cut_at_now_and_says_so() -> None:
    p = period.resolve(DHAKA, NOW, month_text="2026-12")
    assert p.truncated and p.end <= NOW and NOW - p.end < 60


def test_quarter_start() -> None:
    assert datetime.fromtimestamp(period.resolve(DHAKA, NOW, month_text="2026-11").quarter_start(), DHAKA) == \
        datetime(2026, 10, 1, tzinfo=DHAKA)
    assert datetime.fromtimestamp(period.resolve(DHAKA, NOW, month_text="2026-03").quarter_start(), DHAKA) == \
        datetime(2026, 1, 1, tzinfo=DHAKA)


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"month_text": "2026-13"}, "not a month"),
    ({"month_text": "November"}, "not a month"),
    ({"month_text": "2027-01"}, "starts in the future"),
    ({"from_text": "2026-11-05", "to_text": "2026-11-01"}, "not before"),
    ({"from_text": "2026-11-05", "to_text": "2026-11-05"}, "not before"),
    ({"from_text": "2026-11-05"}, "go together"),
    ({"from_text": "yesterday", "to_text": "2026-11-05"}, "not a time"),
    ({"month_text": "2026-10", "last": "7d"}, "cannot be combined"),
    ({"last": "30s"}, "shorter than a minute"),
    ({"from_text": "2026-11-05T10:00:00Z", "to_text": "2026-11-05T10:00:30Z"}, "shorter than a minute"),
    ({"last": "seven days"}, "--last"),
])
def test_bad_periods_are_usage_errors(kwargs: dict[str, str], words: str) -> None:
    with pytest.raises(ZarishError) as exc:
        period.resolve(DHAKA, NOW, **kwargs)
    assert exc.value.exit_code == ExitCode.USAGE and words in exc.value.message and "\n" not in exc.value.message


@pytest.mark.parametrize("args", [["--month", "2026-13"], ["--from", "2030-01-01", "--to", "2030-02-01"],
                                  ["--from", "2026-11-05", "--to", "2026-11-01"]])
def test_cli_usage_errors_exit_64_in_one_line_before_any_query(capsys: pytest.CaptureFixture[str],
                                                               args: list[str]) -> None:
    rc, out, err = run(capsys, "--prometheus-url", f"http://127.0.0.1:{free_port()}", *args)
    assert rc == 64 and out == "" and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_cli_rejects_a_suffix_that_contradicts_the_format(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rc, _, err = run(capsys, "--month", "2026-10", "--format", "csv", "--out", str(tmp_path / "r.html"))
    assert rc == 64 and "suffix says html" in err and not (tmp_path / "r.html").exists()


def test_unreachable_prometheus_exits_69_and_leaves_the_old_file(capsys: pytest.CaptureFixture[str],
                                                                 tmp_path: Path) -> None:
    old = tmp_path / "report-2026-10.json"
    old.write_text("previous report\n")
    rc, out, err = run(capsys, "--month", "2026-10", "--prometheus-url", f"http://127.0.0.1:{free_port()}",
                       "--deadline", "5", "--out", str(tmp_path / "report-{period}.json"))
    assert rc == 69 and out == "" and len(err.strip().splitlines()) == 1, err
    assert old.read_text() == "previous report\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report-2026-10.json"]  # no temporary file left


# -- the error-budget policy ----------------------------------------------------------------------------------
def slo(name: str, spent: float | None) -> dict[str, Any]:
    return {"slo": name, "window": "30d", "window_budget_consumed": spent}


def incident(name: str, start: str, share: float) -> dict[str, Any]:
    return {"slo": name, "start": start, "end": start.replace("T10", "T11"), "budget_consumed": share}


def test_policy_ok_when_no_rule_applies() -> None:
    verdict = policy.evaluate(Policy(), [slo("availability", 0.9)], [incident("availability", "2026-11-02T10:00:00Z",
                                                                              0.2)], [])
    assert verdict == {"verdict": "ok", "reasons": []}  # exactly 20% is not "more than 20%"


def test_policy_postmortem_names_the_incident() -> None:
    costly = incident("latency", "2026-11-09T10:00:00Z", 0.35)
    verdict = policy.evaluate(Policy(), [slo("latency", 0.5)], [costly, incident("latency", "2026-11-02T10:00:00Z",
                                                                                   0.05)], [costly])
    assert verdict["verdict"] == "postmortem"
    [reason] = verdict["reasons"]
    assert reason["incident"] == {"start": costly["start"], "end": costly["end"]} and "35.0%" in reason["reason"]


def test_policy_freeze_outranks_escalate_and_postmortem() -> None:
    quarter = [incident("availability", f"2026-1{m}-0{d}T10:00:00Z", 0.05) for m, d in ((0, 3), (1, 4), (1, 5))]
    incidents = [*quarter[1:], incident("availability", "2026-11-20T10:00:00Z", 0.6)]
    verdict = policy.evaluate(Policy(), [slo("availability", 1.02)], incidents, [*quarter, incidents[-1]])
    assert verdict["verdict"] == "release_freeze"
    assert [r["rule"] for r in verdict["reasons"]] == ["release_freeze", "escalate", "postmortem"]
    assert verdict["reasons"][0]["incident"]["start"] == "2026-11-20T10:00:00Z"  # the costliest one


def test_policy_thresholds_come_from_the_catalog() -> None:
    strict = Policy(postmortem_budget_percent=5, escalate_after=2, release_freeze=False)
    incidents = [incident("availability", "2026-11-02T10:00:00Z", 0.06), incident("availability",
                                                                                  "2026-11-03T10:00:00Z", 0.01)]
    verdict = policy.evaluate(strict, [slo("availability", 3.0)], incidents, incidents)
    assert [r["rule"] for r in verdict["reasons"]] == ["escalate", "postmortem"]


# -- the schedule ---------------------------------------------------------------------------------------------
def test_crontab_runs_on_the_first_at_six_local(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "schedule", "--monthly")
    lines = out.strip().splitlines()
    assert rc == 0 and lines[1] == "CRON_TZ=Asia/Dhaka"
    when = " ".join(lines[2].split(" ")[:5])
    nxt = croniter(when, datetime(2026, 12, 2, 7, 0, tzinfo=DHAKA)).get_next(datetime)
    assert nxt == datetime(2027, 1, 1, 6, 0, tzinfo=DHAKA)
    words = shlex.split(lines[2].split(" >> ")[0])
    args = words[words.index("zarish-obs") + 1:]
    assert args[0] == "report" and "--month" not in args  # the default period is the previous month
    outs = [args[i + 1] for i, a in enumerate(args) if a == "--out"]
    assert sorted(Path(o).suffix for o in outs) == [".html", ".json"] and all("{period}" in o for o in outs)


def test_cronjob_uses_the_catalog_zone_and_keeps_reports_on_a_claim(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "schedule", "--monthly", "--format", "cronjob")
    docs = list(yaml.safe_load_all(out))
    assert rc == 0 and [d["kind"] for d in docs] == ["PersistentVolumeClaim", "CronJob"]
    job = docs[1]["spec"]
    assert job["schedule"] == "0 6 1 * *" and job["timeZone"] == "Asia/Dhaka"
    pod = job["jobTemplate"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["args"][0] == "report" and container["securityContext"]["readOnlyRootFilesystem"]
    claim = next(v for v in pod["volumes"] if v["name"] == "reports")["persistentVolumeClaim"]["claimName"]
    assert claim == docs[0]["metadata"]["name"]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "reports")["mountPath"]
    outs = [container["args"][i + 1] for i, a in enumerate(container["args"]) if a == "--out"]
    assert outs and all(o.startswith(mount + "/") for o in outs)


def test_schedule_needs_monthly(capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run(capsys, "schedule")
    assert rc == 64 and "--monthly" in err
