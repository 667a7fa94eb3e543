"""Maintenance windows in Alertmanager: recurring ones as time intervals that mute routes, one-off ones as
silences kept in step with the catalog; checked with amtool and a real Alertmanager."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
import yaml
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from tests.webhook import Hook
from zarish_obs import maintenance, procs, promtool
from zarish_obs.alerts import maintenance as am_maintenance
from zarish_obs.alerts import silences
from zarish_obs.alerts.alertmanager import build_alertmanager_config
from zarish_obs.catalog import WEEKDAYS, Catalog, default_catalog_text, parse_catalog
from zarish_obs.errors import ZarishError
from zarish_obs.stack.main import main
from zarish_obs.writers import to_yaml

DHAKA = ZoneInfo("Asia/Dhaka")
BASE = yaml.safe_load(default_catalog_text())
MONTHS = am_maintenance.MONTHS


def with_windows(windows: list[dict[str, Any]], **extra: Any) -> Catalog:
    return parse_catalog(yaml.safe_dump({**BASE, "maintenance": windows, **extra}), "<test>")


def write_catalog(path: Path, windows: list[dict[str, Any]], **extra: Any) -> Path:
    path.write_text(yaml.safe_dump({**BASE, "maintenance": windows, **extra}))
    return path


def local(at: datetime) -> str:
    return at.astimezone(DHAKA).strftime("%Y-%m-%dT%H:%M")


# -- the time intervals, against the windows' own occurrences ---------------------------------------------------
def _in(value: int, items: list[str]) -> bool:
    for item in items:
        a, _, b = item.partition(":")
        if int(a) <= value <= int(b or a):
            return True
    return False


def entry_matches(entry: dict[str, Any], at: float) -> bool:
    """Alertmanager's reading of one time_interval entry at an instant (all given fields must match)."""
    t = datetime.fromtimestamp(at, ZoneInfo(entry["location"]))
    minute = t.hour * 60 + t.minute

    def hhmm(text: str) -> int:
        h, m = text.split(":")
        return int(h) * 60 + int(m)

    return ((WEEKDAYS[t.weekday()] in entry.get("weekdays", WEEKDAYS))
            and ("days_of_month" not in entry or _in(t.day, entry["days_of_month"]))
            and (MONTHS[t.month - 1] in entry.get("months", MONTHS))
            and any(hhmm(r["start_time"]) <= minute < hhmm(r["end_time"]) for r in entry["times"]))


def _cron_field(draw: st.DrawFn, low: int, high: int) -> str:
    kind = draw(st.sampled_from(["*", "one", "list", "range", "step"]))
    if kind == "*":
        return "*"
    if kind == "one":
        return str(draw(st.integers(low, high)))
    if kind == "list":
        return ",".join(str(v) for v in sorted(draw(st.sets(st.integers(low, high), min_size=2, max_size=4))))
    a = draw(st.integers(low, high - 1))
    if kind == "range":
        return f"{a}-{draw(st.integers(a + 1, high))}"
    return f"{a}-{high}/{draw(st.integers(2, 5))}"


@st.composite
def recurring_windows(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.booleans()):
        f, t = draw(st.integers(0, 1439)), draw(st.integers(0, 1439))
        assume(f != t)
        return {"name": "w", "reason": "x", "weekdays": sorted(draw(st.sets(st.sampled_from(WEEKDAYS), min_size=1)),
                                                                key=WEEKDAYS.index),
                "from": f"{f // 60:02d}:{f % 60:02d}", "to": f"{t // 60:02d}:{t % 60:02d}"}
    minute = draw(st.sampled_from([str(draw(st.integers(0, 59))), "0,30", "*/20", "45"]))
    hour = draw(st.sampled_from([str(draw(st.integers(0, 23))), "22,23", _cron_field(draw, 0, 23)]))
    schedule = (f"{minute} {hour} {_cron_field(draw, 1, 31)} {_cron_field(draw, 1, 12)} "
                f"{_cron_field(draw, 0, 6)}")
    return {"name": "w", "reason": "x", "schedule": schedule,
            "duration": f"{draw(st.integers(1, 23 * 60 + 59))}m"}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(recurring_windows(), st.integers(0, 3 * 365 * 86400), st.sampled_from(["Asia/Dhaka", "utc"]))
@example({"name": "w", "reason": "x", "schedule": "0 23 30,31 * *", "duration": "2h"}, 0, "Asia/Dhaka")
@example({"name": "w", "reason": "x", "schedule": "45 22 31 1-6 *", "duration": "3h"}, 0, "Asia/Dhaka")
@example({"name": "w", "reason": "x", "schedule": "0 23 * 12 sun", "duration": "90m"}, 25920000, "Asia/Dhaka")
@example({"name": "w", "reason": "x", "schedule": "15 20 1,15 * fri", "duration": "5h"}, 0, "Asia/Dhaka")
@example({"name": "w", "reason": "x", "schedule": "*/20 23 * * *", "duration": "61m"}, 0, "Asia/Dhaka")
@example({"name": "w", "reason": "x", "weekdays": ["sunday"], "from": "23:00", "to": "01:00"}, 0, "utc")
def test_time_intervals_open_exactly_when_the_window_does(window: dict[str, Any], offset: int, zone: str) -> None:
    try:
        cat = with_windows([window], timezone=zone)
    except ZarishError:
        assume(False)
        raise
    w = cat.maintenance[0]
    try:
        entries = am_maintenance.window_entries(cat, w)
    except ZarishError as exc:
        assert exc.exit_code == 65 and "maintenance.w: schedule" in exc.message and "February" in exc.message
        return
    start = datetime(2025, 1, 1, tzinfo=DHAKA).timestamp() + offset // 60 * 60
    ahead = maintenance.occurrences(cat, w, start, start + 40 * 86400)[:12] or \
        maintenance.occurrences(cat, w, start, start + 800 * 86400)[:12]
    edges = [t + d for o in ahead for t in (o.start, o.end) for d in (-60, 0)]  # both sides of every edge
    for at in [start + k * 60 * 37 for k in range(40)] + edges:
        want = bool(maintenance.occurrences(cat, w, at, at + 1))
        assert any(entry_matches(e, at) for e in entries) == want, (w.schedule or (w.weekdays, w.from_, w.to),
                                                                   datetime.fromtimestamp(at, DHAKA), entries)


@pytest.mark.parametrize(("schedule", "why"), [
    ("0 23 28 * *", "February 28"),
    ("0 0 L * *", "'L' and 'W'"),
    ("0 2 * * 1#2", "n-th weekday"),
])
def test_a_cron_alertmanager_cannot_express_is_one_named_line(schedule: str, why: str) -> None:
    cat = with_windows([{"name": "odd", "reason": "x", "schedule": schedule, "duration": "90m"}])
    with pytest.raises(ZarishError) as info:
        build_alertmanager_config(cat)
    assert info.value.exit_code == 65
    assert info.value.message.startswith("maintenance.odd: schedule") and why in info.value.message
    assert "\n" not in info.value.message


def test_the_built_in_catalog_config_is_unchanged(default_catalog: Catalog) -> None:
    config = build_alertmanager_config(default_catalog)
    assert "time_intervals" not in config
    assert not any("mute_time_intervals" in r for r in config["route"]["routes"])
    one_off = with_windows([{"name": "db", "reason": "x", "start": "2030-01-01T01:00", "end": "2030-01-01T02:00"}])
    assert build_alertmanager_config(one_off) == config


WINDOWS = [
    {"name": "nightly", "reason": "backups", "services": ["billing"], "schedule": "30 23 * * 1-5", "duration": "90m"},
    {"name": "patching", "reason": "OS patches", "weekdays": ["saturday"], "from": "22:00", "to": "02:00",
     "suppress_dr": True},
    {"name": "month-end", "reason": "closing", "schedule": "0 23 30,31 1-6 *", "duration": "2h",
     "environments": ["staging"], "services": ["billing", "pharmacy"]},
    {"name": "or-days", "reason": "x", "services": ["laboratory"], "schedule": "15 4 1,15 * fri", "duration": "1h"},
    {"name": "db", "reason": "migration", "start": "2030-01-01T01:00", "end": "2030-01-01T02:00"},
]


def test_amtool_accepts_configs_with_windows(tmp_path: Path) -> None:
    cat = with_windows(WINDOWS)
    config = build_alertmanager_config(cat)
    assert [t["name"] for t in config["time_intervals"]] == ["nightly", "patching", "month-end", "or-days"]
    routes = config["route"]["routes"]
    assert routes[0]["receiver"] == "zarish-dr" and routes[0]["mute_time_intervals"] == ["patching"]
    muted = {(m[1], m[2]): r["mute_time_intervals"] for r in routes if "routes" in r for m in [r["matchers"]]}
    assert muted[('environment="production"', 'service=~"billing"')] == ["nightly", "patching"]
    assert muted[('environment="staging"', 'service=~"pharmacy|billing"')] == ["month-end"]
    for r in routes:
        for child in r.get("routes", []):
            assert child["mute_time_intervals"] == r["mute_time_intervals"]
    path = tmp_path / "alertmanager.yml"
    path.write_text(to_yaml(config))
    result = promtool.check_alertmanager(path)
    assert result.ok, result.output


# -- a real Alertmanager -----------------------------------------------------------------------------------------


def burn(service: str, environment: str = "production") -> dict[str, Any]:
    labels = {"alertname": "SLOErrorBudgetBurn", "service": service, "environment": environment,
              "severity": "page", "slo": "availability"}
    return {"labels": labels, "startsAt": datetime.now(DHAKA).isoformat()}


DR_ALERT = {"labels": {"alertname": "DRErrorRatioHigh", "dr_trigger": "error_ratio", "severity": "critical"}}


def post_alerts(url: str, alerts: list[dict[str, Any]]) -> None:
    r = requests.post(f"{url}/api/v2/alerts", json=alerts, timeout=5)
    assert r.status_code == 200, r.text


def weekly_around_now(name: str, services: list[str], before: timedelta, after: timedelta) -> dict[str, Any]:
    """A weekly window from now-`before` to now+`after` local time, on the weekday it starts."""
    now = datetime.now(DHAKA)
    start, end = now - before, now + after
    return {"name": name, "reason": "test", "services": services, "weekdays": [WEEKDAYS[start.weekday()]],
            "from": start.strftime("%H:%M"), "to": end.strftime("%H:%M")}


@pytest.mark.real
def test_real_alertmanager_mutes_a_recurring_window_in_local_time(tmp_path: Path, hook: Hook) -> None:
    windows = [weekly_around_now("open-now", ["billing"], timedelta(hours=1), timedelta(hours=1)),
               weekly_around_now("later", ["laboratory"], -timedelta(hours=3), timedelta(hours=4))]
    cat = with_windows(windows, time_scale=0.01)
    config = tmp_path / "alertmanager.yml"
    config.write_text(to_yaml(build_alertmanager_config(cat, webhook_url=hook.url)))
    assert promtool.check_alertmanager(config).ok
    with procs.running(procs.start_alertmanager(config, tmp_path / "am-data")) as am:
        post_alerts(am.url, [burn("billing"), burn("laboratory"), burn("pharmacy"), burn("billing", "staging")])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(hook.alerts) < 3:
            time.sleep(0.2)
        time.sleep(2)  # every group has the same group_wait: billing's would have come with the others
        delivered = {(a["labels"]["service"], a["labels"]["environment"]) for a in hook.alerts}
    assert delivered == {("laboratory", "production"), ("pharmacy", "production"), ("billing", "staging")}


def our_live(url: str) -> list[dict[str, Any]]:
    return [s for s in requests.get(f"{url}/api/v2/silences", timeout=5).json()
            if s["status"]["state"] != "expired" and s["createdBy"] == "zarish-obs"]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = main(["maintenance", *args])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.real
def test_silences_are_idempotent_exact_and_leave_people_alone(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    now = datetime.now(DHAKA)
    db = {"name": "db", "reason": "database migration", "services": ["billing", "pharmacy"],
          "start": local(now - timedelta(hours=1)), "end": local(now + timedelta(hours=2))}
    future = {"name": "future", "reason": "lab upgrade", "services": ["laboratory"],
              "start": local(now + timedelta(days=1)), "end": local(now + timedelta(days=1, hours=1))}
    weekly = weekly_around_now("weekly", ["auth-gateway"], timedelta(hours=1), timedelta(hours=1))
    first = write_catalog(tmp_path / "first.yaml", [db, future, weekly])
    config = tmp_path / "alertmanager.yml"
    config.write_text(to_yaml(build_alertmanager_config(with_windows([]))))
    with procs.running(procs.start_alertmanager(config, tmp_path / "am-data")) as am:
        url = am.url
        ends = (datetime.now(DHAKA) + timedelta(hours=3)).isoformat()
        people = [{"matchers": [{"name": "service", "value": "patient-registry", "isRegex": False}],
                   "startsAt": datetime.now(DHAKA).isoformat(), "endsAt": ends, "createdBy": "alice",
                   "comment": "deploy"},
                  {"matchers": [{"name": "service", "value": "billing", "isRegex": False}],
                   "startsAt": datetime.now(DHAKA).isoformat(), "endsAt": ends, "createdBy": "zarish-obs",
                   "comment": "db [zarish-obs catalog=another-his window=db part=services]"}]
        people_ids = {requests.post(f"{url}/api/v2/silences", json=s, timeout=5).json()["silenceID"] for s in people}

        rc, out, _ = run(capsys, "silence", "-c", str(first), "--alertmanager-url", url, "--dry-run", "-f", "json")
        assert rc == 0
        plan = json.loads(out)
        assert plan["dry_run"] and [(c["action"], c["window"]) for c in plan["changes"]] == [("create", "db"),
                                                                                           ("create", "future")]
        assert plan["recurring_windows"] == ["weekly"]
        assert len(our_live(url)) == 1  # only the other catalog's

        rc, out, _ = run(capsys, "silence", "-c", str(first), "--alertmanager-url", url)
        assert rc == 0 and "2 created, 0 updated, 0 expired, 0 unchanged" in out
        mine = {s["id"]: s for s in our_live(url) if s["id"] not in people_ids}
        assert len(mine) == 2 and {s["status"]["state"] for s in mine.values()} == {"active", "pending"}

        post_alerts(url, [burn("billing"), burn("pharmacy"), burn("laboratory"), burn("auth-gateway"),
                          burn("billing", "staging"), DR_ALERT])
        db_id = next(i for i, s in mine.items() if "window=db " in s["comment"])
        silenced = {(a["labels"].get("service"), a["labels"].get("environment")): set(a["status"]["silencedBy"])
                    for a in requests.get(f"{url}/api/v2/alerts", timeout=5).json()}
        assert {k for k, ids in silenced.items() if db_id in ids} == {("billing", "production"),
                                                                       ("pharmacy", "production")}
        assert silenced[("laboratory", "production")] == set() and silenced[(None, None)] == set()

        rc, out, _ = run(capsys, "silence", "-c", str(first), "--alertmanager-url", url)
        assert rc == 0 and "0 created, 0 updated, 0 expired, 2 unchanged" in out
        assert set(mine) | people_ids == {s["id"] for s in requests.get(f"{url}/api/v2/silences", timeout=5).json()}

        # db removed, future moved, a DR-suppressing window added
        moved = {**future, "end": local(now + timedelta(days=1, hours=2))}
        quiet = {"name": "quiet", "reason": "region work", "start": local(now - timedelta(minutes=5)),
                 "end": local(now + timedelta(hours=1)), "suppress_dr": True}
        second = write_catalog(tmp_path / "second.yaml", [moved, quiet])
        rc, out, _ = run(capsys, "silence", "-c", str(second), "--alertmanager-url", url, "-f", "json")
        assert rc == 0
        actions = sorted((c["action"], c["window"], c["part"]) for c in json.loads(out)["changes"])
        assert actions == [("create", "quiet", "dr"), ("create", "quiet", "services"), ("expire", "db", "services"),
                           ("update", "future", "services")]
        live = our_live(url)
        assert sorted(s["comment"].split("window=")[1].split(" ")[0] for s in live
                      if f"catalog={BASE['name']} " in s["comment"]) == ["future", "quiet", "quiet"]
        assert all(s["id"] != db_id for s in live)
        states = {s["id"]: s["status"]["state"] for s in requests.get(f"{url}/api/v2/silences", timeout=5).json()}
        assert all(states[i] == "active" for i in people_ids)
        dr = next(a for a in requests.get(f"{url}/api/v2/alerts", timeout=5).json()
                  if a["labels"]["alertname"] == "DRErrorRatioHigh")
        assert dr["status"]["state"] == "suppressed" and dr["status"]["silencedBy"]


# -- a failing Alertmanager -----------------------------------------------------------------------------------
class FakeAlertmanager:
    """Answers GET /api/v2/silences with [] (or 500) and fails POSTs after the first `ok_posts`."""

    def __init__(self, get_status: int = 200, ok_posts: int = 0) -> None:
        self.posts: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                auth = self.headers.get("Authorization", "")
                self._answer(get_status, [] if get_status == 200 else f"internal error (saw {auth})")

            def do_POST(self) -> None:
                fake.posts.append(json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0)))))
                if len(fake.posts) <= ok_posts:
                    self._answer(200, {"silenceID": f"id-{len(fake.posts)}"})
                else:
                    self._answer(500, "failed to create silence")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake() -> Iterator[Callable[..., FakeAlertmanager]]:
    made: list[FakeAlertmanager] = []

    def make(**kwargs: Any) -> FakeAlertmanager:
        made.append(FakeAlertmanager(**kwargs))
        return made[-1]

    try:
        yield make
    finally:
        for f in made:
            f.close()


def two_windows(tmp_path: Path) -> Path:
    now = datetime.now(DHAKA)
    return write_catalog(tmp_path / "c.yaml", [
        {"name": f"w{i}", "reason": "x", "services": ["billing"], "start": local(now + timedelta(hours=i)),
         "end": local(now + timedelta(hours=i + 1))} for i in (1, 2)])


def test_an_alertmanager_answering_500_is_one_line_and_changes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], fake: Callable[..., FakeAlertmanager],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERTMANAGER_TOKEN", "s3cret-token")
    path = two_windows(tmp_path)
    broken = fake(get_status=500)
    rc, out, err = run(capsys, "silence", "-c", str(path), "--alertmanager-url", broken.url)
    assert rc == 69 and out == "" and len(err.strip().splitlines()) == 1
    assert "GET /api/v2/silences answered HTTP 500" in err and "nothing was changed" in err
    assert "s3cret-token" not in err and not broken.posts

    refusing = fake(ok_posts=0)
    rc, _, err = run(capsys, "silence", "-c", str(path), "--alertmanager-url", refusing.url)
    assert rc == 69 and len(err.strip().splitlines()) == 1 and "nothing was changed" in err


def test_a_failure_part_way_names_what_was_applied(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   fake: Callable[..., FakeAlertmanager]) -> None:
    half = fake(ok_posts=1)
    rc, out, err = run(capsys, "silence", "-c", str(two_windows(tmp_path)), "--alertmanager-url", half.url)
    assert rc == 1 and out == "" and len(err.strip().splitlines()) == 1
    assert "at 'create w2/services' after applying 1 of 2 changes (create w1/services); re-run" in err


def test_plan_expires_duplicates_and_keeps_one() -> None:
    cat = with_windows([{"name": "db", "reason": "x", "start": "2030-01-01T01:00", "end": "2030-01-01T02:00"}])
    now = time.time()
    [want] = silences.desired(cat, now)
    have = [silences.Silence(want.key, want.matchers, want.starts, want.ends, want.comment, f"id{i}", "pending")
            for i in range(3)]
    changes = silences.plan([want], have, now)
    assert [(c.action, c.silence.id) for c in changes] == [("keep", "id0"), ("expire", "id1"), ("expire", "id2")]
    assert [c.action for c in silences.plan([], have[:1], now)] == ["expire"]


def test_list_shows_what_is_active_and_next(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_catalog(tmp_path / "c.yaml", [
        {"name": "nightly", "reason": "x", "schedule": "30 23 * * *", "duration": "90m"},
        {"name": "sat", "reason": "x", "weekdays": ["saturday"], "from": "22:00", "to": "02:00"},
        {"name": "db", "reason": "x", "start": "2026-12-06T01:00", "end": "2026-12-06T03:00"}])
    rc, out, _ = run(capsys, "list", "-c", str(path), "--at", "2026-12-06T00:30+06:00", "-f", "json")  # a Sunday
    assert rc == 0
    rows = {r["name"]: r for r in json.loads(out)["windows"]}
    assert rows["nightly"]["active"] and rows["nightly"]["active_until"] == "2026-12-06T01:00+06:00"
    assert rows["nightly"]["next_start"] == "2026-12-06T23:30+06:00"
    assert rows["sat"]["active"] and rows["sat"]["next_start"] == "2026-12-12T22:00+06:00"
    assert not rows["db"]["active"] and rows["db"]["next_start"] == "2026-12-06T01:00+06:00"
    assert rows["db"]["enforced_by"] == "silence" and rows["sat"]["enforced_by"] == "time_interval"
    rc, _, err = run(capsys, "list", "-c", str(path), "--at", "yesterday")
    assert rc == 64 and len(err.strip().splitlines()) == 1
