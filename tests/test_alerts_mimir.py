"""`alerts upload` against a test double of Mimir's ruler and Alertmanager config APIs (tests/mimir_double.py)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.mimir_double import Fault, MimirDouble, go_duration
from zarish_obs import promtool
from zarish_obs.alerts import mimir
from zarish_obs.alerts.alertmanager import build_alertmanager_config
from zarish_obs.catalog import Catalog, default_catalog_text, parse_catalog
from zarish_obs.procs import free_port
from zarish_obs.stack.main import main

TENANT = "zarish-prod"
TOKEN = "glc_mimir-T0KEN-never-shown-4242"
PASSWORD = "mimir-Passw0rd-never-shown"
BASE = yaml.safe_load(default_catalog_text())
CATALOG = parse_catalog(default_catalog_text(), "<default>")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ZARISH_MIMIR_TOKEN", "ZARISH_MIMIR_TOKEN_FILE", "ZARISH_MIMIR_USER", "ZARISH_MIMIR_PASSWORD",
                 "ZARISH_MIMIR_PASSWORD_FILE", "ZARISH_MIMIR_URL", "ZARISH_MIMIR_TENANT", "ZARISH_CATALOG",
                 "ZARISH_ALERT_EMAIL_TO", "ZARISH_SMTP_SMARTHOST", "ZARISH_SMTP_USERNAME", "ZARISH_SLACK_CHANNEL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def double() -> Iterator[MimirDouble]:
    d = MimirDouble().start()
    try:
        yield d
    finally:
        d.stop()


def run_root(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    return run_root(capsys, "alerts", "upload", *args)


def upload(capsys: pytest.CaptureFixture[str], d: MimirDouble, *extra: str, tenant: str = TENANT
           ) -> tuple[int, str, str]:
    return run(capsys, "--ruler-url", d.url, "--tenant", tenant, *extra)


def catalog_file(tmp_path: Path, name: str = "catalog.yaml", **changes: Any) -> Path:
    data = yaml.safe_load(default_catalog_text())
    for service, objective in changes.items():
        svc = next(s for s in data["services"] if s["name"] == service.replace("_", "-"))
        svc["slos"]["availability"]["objective"] = objective
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def expected(cat: Catalog) -> dict[str, dict[str, dict[str, Any]]]:
    """Namespace -> group name -> the group as uploaded, in comparable form."""
    return {ns: {g["name"]: mimir.canonical(mimir.stamp(g, cat.name)) for g in groups}
            for ns, groups in mimir.namespaces(cat).items()}


def stored(d: MimirDouble, tenant: str = TENANT) -> dict[str, dict[str, dict[str, Any]]]:
    return {ns: {name: mimir.canonical(g) for name, g in groups.items()} for ns, groups in d.groups(tenant).items()}


def group_count(cat: Catalog = CATALOG) -> int:
    return sum(len(v) for v in mimir.namespaces(cat).values())


def writes(d: MimirDouble) -> list[tuple[str, str]]:
    return [(s.method, s.path) for s in d.writes()]


def summary(out: str) -> dict[str, Any]:
    return json.loads(out)


def actions(out: str) -> dict[str, tuple[str, str]]:
    return {f"{i['namespace']}/{i['name']}" if i["namespace"] else i["name"]: (i["action"], i["result"])
            for i in summary(out)["items"]}


def rules_path(ns: str, name: str | None = None) -> str:
    return f"/prometheus/config/v1/rules/{ns}" + (f"/{name}" if name else "")


# -- the double keeps Mimir's contract -------------------------------------------------------------------------
def test_double_follows_mimirs_documented_contract(double: MimirDouble) -> None:
    url = double.url + "/prometheus/config/v1/rules"
    h = {"X-Scope-OrgID": "t1"}
    r = requests.get(url, timeout=5)
    assert (r.status_code, r.text) == (401, "no org id\n")
    r = requests.get(url, headers=h, timeout=5)
    assert (r.status_code, yaml.safe_load(r.text), r.headers["Content-Type"]) == (200, {}, "application/yaml")
    group = {"name": "g1", "interval": "30d", "labels": {"team": "x"}, "limit": 5,
             "rules": [{"record": "job:up:sum", "expr": "sum by (job) (up)", "for": "0s"}]}
    r = requests.post(f"{url}/ns%2Fone", headers={**h, "Content-Type": "application/yaml"},
                      data=yaml.safe_dump(group), timeout=5)
    assert r.status_code == 202 and r.json()["status"] == "success"
    listing = yaml.safe_load(requests.get(url, headers=h, timeout=5).text)
    assert listing == {"ns/one": [{"name": "g1", "interval": "4w2d",
                                   "rules": [{"record": "job:up:sum", "expr": "sum by (job) (up)"}]}]}
    assert requests.get(url, headers={"X-Scope-OrgID": "t2"}, timeout=5).text == "{}\n"
    bad = {**group, "rules": [{"record": "x", "expr": "sum(("}]}
    r = requests.post(f"{url}/ns", headers=h, data=yaml.safe_dump(bad), timeout=5)
    assert r.status_code == 400 and r.text.startswith("invalid rules config")
    r = requests.post(f"{url}/ns", headers=h, data="name: [unclosed", timeout=5)
    assert (r.status_code, r.text) == (400, "unable to decode rule group\n")
    r = requests.post(f"{url}/ns", headers=h, data=yaml.safe_dump({"name": "empty", "rules": []}), timeout=5)
    assert (r.status_code, r.text) == (400, "invalid rules config: rule group 'empty' has no rules\n")
    r = requests.get(f"{url}/ns%2Fone/nope", headers=h, timeout=5)
    assert (r.status_code, r.text) == (404, "group does not exist\n")
    assert requests.delete(f"{url}/ns%2Fone/nope", headers=h, timeout=5).status_code == 404
    r = requests.delete(f"{url}/missing", headers=h, timeout=5)
    assert (r.status_code, r.text) == (404, "group namespace does not exist\n")
    assert requests.delete(f"{url}/ns%2Fone/g1", headers=h, timeout=5).status_code == 202
    assert requests.get(url, headers=h, timeout=5).text == "{}\n"
    assert requests.get(double.url + "/api/v1/rules", headers=h, timeout=5).text == "404 page not found\n"

    am = double.url + "/api/v1/alerts"
    r = requests.get(am, headers=h, timeout=5)
    assert (r.status_code, r.text) == (404, "alertmanager storage object not found\n")
    r = requests.post(am, headers=h, data=yaml.safe_dump({"alertmanager_config": ""}), timeout=5)
    assert r.status_code == 400 and "configuration provided is empty" in r.text
    slack = {"route": {"receiver": "s"}, "receivers": [{"name": "s", "slack_configs": [
        {"channel": "#x", "api_url_file": "/etc/secret"}]}]}
    r = requests.post(am, headers=h, data=yaml.safe_dump({"alertmanager_config": yaml.safe_dump(slack)}), timeout=5)
    assert (r.status_code, r.text) == (400, "error validating Alertmanager config: setting api_url_file is not "
                                            "allowed\n")
    r = requests.post(am, headers=h, data=yaml.safe_dump({"alertmanager_config": "route: {receiver: nope}\n"}),
                      timeout=5)
    assert r.status_code == 400 and "error validating Alertmanager config" in r.text
    good = "route: {receiver: w}\nreceivers: [{name: w, webhook_configs: [{url: 'http://127.0.0.1:1/'}]}]\n"
    r = requests.post(am, headers=h, data=yaml.safe_dump({"alertmanager_config": good}), timeout=5)
    assert (r.status_code, r.text) == (201, "")
    assert yaml.safe_load(requests.get(am, headers=h, timeout=5).text) == {"template_files": {},
                                                                             "alertmanager_config": good}
    assert requests.get(am, timeout=5).status_code == 401
    assert requests.delete(am, headers=h, timeout=5).status_code == 200

    legacy = MimirDouble(legacy_empty_404=True).start()
    try:
        r = requests.get(legacy.url + "/prometheus/config/v1/rules", headers=h, timeout=5)
        assert (r.status_code, r.text) == (404, "no rule groups found\n")
    finally:
        legacy.stop()
    assert go_duration(90) == "1m30s" and go_duration(86400 * 30) == "4w2d"


# -- upload ----------------------------------------------------------------------------------------------------
def test_first_upload_creates_every_group_and_the_alertmanager_config(double: MimirDouble,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = upload(capsys, double, "--format", "json")
    assert rc == 0, err
    result = summary(out)
    assert result["counts"]["create"] == group_count() + 1 and result["exit_code"] == 0
    assert {r for _, r in actions(out).values()} == {"created"}
    assert stored(double) == expected(CATALOG)
    posts = [p for m, p in writes(double) if m == "POST" and p != "/api/v1/alerts"]
    assert len(posts) == group_count() and writes(double)[-1] == ("POST", "/api/v1/alerts")
    assert {s.tenant for s in double.seen} == {TENANT}
    assert {s.headers.get("Content-Type") for s in double.writes()} == {"application/yaml"}
    assert all(mimir.owner(g) == CATALOG.name for groups in double.groups(TENANT).values() for g in groups.values())
    am = double.alertmanager[TENANT]
    assert am["template_files"] == {}
    assert yaml.safe_load(am["alertmanager_config"]) == build_alertmanager_config(CATALOG)


def test_rerun_sends_nothing(double: MimirDouble, capsys: pytest.CaptureFixture[str]) -> None:
    assert upload(capsys, double)[0] == 0
    before = len(double.seen)
    rc, out, _ = upload(capsys, double)
    assert rc == 0
    assert [(s.method, s.path) for s in double.seen[before:]] == [("GET", "/prometheus/config/v1/rules"),
                                                                  ("GET", "/api/v1/alerts")]
    assert out.endswith(f"0 created, 0 updated, 0 deleted, {group_count() + 1} unchanged\n")


def test_changed_catalog_sends_only_changed_groups_and_deletes_removed_ones(
        double: MimirDouble, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert upload(capsys, double)[0] == 0
    changed_file = catalog_file(tmp_path, billing=99.5, laboratory=99.0)
    changed = parse_catalog(changed_file.read_text(), str(changed_file))
    real = mimir.namespaces
    dropped = "zarish-target-alerts"
    assert dropped in real(changed)
    monkeypatch.setattr(mimir, "namespaces", lambda cat: {k: v for k, v in real(cat).items() if k != dropped})
    old, new = expected(CATALOG), expected(changed)
    differ = sorted((rules_path(ns), name) for ns, groups in new.items() for name, g in groups.items()
                    if ns != dropped and old[ns][name] != g)
    assert 0 < len(differ) < group_count() - 1

    before = len(double.seen)
    rc, out, err = upload(capsys, double, "-c", str(changed_file), "--format", "json")
    assert rc == 0, err
    sent = [(s.method, s.path) for s in double.seen[before:] if s.method != "GET"]
    assert sorted((s.path, yaml.safe_load(s.body)["name"]) for s in double.seen[before:]
                  if s.method == "POST" and s.path != "/api/v1/alerts") == differ
    assert [(m, p) for m, p in sent if m == "DELETE"] == [("DELETE", rules_path(dropped, "zarish-targets"))]
    assert sent[-1][0] == "DELETE"  # deletions come last
    updated = {k for k, (a, _) in actions(out).items() if a == "update"}
    assert all(actions(out)[k][1] == "updated" for k in updated)
    assert stored(double) == {ns: groups for ns, groups in new.items() if ns != dropped}
    detail = next(i["detail"] for i in summary(out)["items"] if i["action"] == "update")
    assert "changed:" in detail


def test_groups_made_by_others_are_never_touched(double: MimirDouble, capsys: pytest.CaptureFixture[str]) -> None:
    theirs = {"name": "team-extra", "rules": [{"alert": "TeamAlert", "expr": "up == 0", "for": "5m"}]}
    same_name = {"name": "zarish-targets", "rules": [{"alert": "Hand", "expr": "vector(1)"}]}
    other_catalog = mimir.stamp({"name": "zarish-old", "rules": [{"record": "a:b", "expr": "vector(1)"}]},
                                "another-his")
    double.put_group(TENANT, "zarish-slo-alerts", theirs)
    double.put_group(TENANT, "team-a", theirs)
    double.put_group(TENANT, "zarish-target-alerts", same_name)
    double.put_group(TENANT, "zarish-recording", other_catalog)
    before = double.groups(TENANT)

    rc, out, err = upload(capsys, double)
    assert rc == 1
    assert "1 left alone (not made by zarish-obs for this catalog): zarish-target-alerts/zarish-targets" in err
    assert "exists without the zarish-obs marker" in out
    after = double.groups(TENANT)
    assert after["team-a"] == before["team-a"]
    assert after["zarish-slo-alerts"]["team-extra"] == before["zarish-slo-alerts"]["team-extra"]
    assert after["zarish-target-alerts"] == before["zarish-target-alerts"]
    assert after["zarish-recording"]["zarish-old"] == before["zarish-recording"]["zarish-old"]
    assert not any(p.endswith(("/team-extra", "/zarish-old", "/team-a")) or p == rules_path("zarish-target-alerts")
                   for _, p in writes(double))
    assert sum(len(g) for g in after.values()) == group_count() - 1 + 4

    seen = len(double.seen)
    rc, _, err = upload(capsys, double)
    assert rc == 1 and "zarish-target-alerts/zarish-targets" in err
    assert [s for s in double.seen[seen:] if s.method != "GET"] == []


def test_alertmanager_config_not_ours_is_left_alone_unless_replaced(double: MimirDouble,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    theirs = "route: {receiver: w}\nreceivers: [{name: w, webhook_configs: [{url: 'http://127.0.0.1:1/'}]}]\n"
    double.alertmanager[TENANT] = {"template_files": {}, "alertmanager_config": theirs}
    rc, out, err = upload(capsys, double, "--format", "json")
    assert rc == 1 and "alertmanager config" in err
    assert actions(out)["alertmanager config"] == ("conflict", "skipped")
    assert double.alertmanager[TENANT]["alertmanager_config"] == theirs
    assert {r for k, (_, r) in actions(out).items() if k != "alertmanager config"} == {"created"}
    rc, out, _ = upload(capsys, double, "--replace-alertmanager-config", "--format", "json")
    assert rc == 0 and actions(out)["alertmanager config"] == ("update", "updated")
    assert yaml.safe_load(double.alertmanager[TENANT]["alertmanager_config"]) == build_alertmanager_config(CATALOG)
    rc, out, _ = upload(capsys, double, "--format", "json")
    assert rc == 0 and actions(out)["alertmanager config"] == ("unchanged", "unchanged")


def test_other_tenants_are_untouched(double: MimirDouble, capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    assert upload(capsys, double, tenant="other-team")[0] == 0
    double.put_group("other-team", "their-ns", {"name": "theirs", "rules": [{"record": "x:y", "expr": "vector(1)"}]})
    other_before = double.groups("other-team")
    other_am = dict(double.alertmanager["other-team"])
    real = mimir.namespaces
    monkeypatch.setattr(mimir, "namespaces", lambda cat: {k: v for k, v in real(cat).items()
                                                          if k != "zarish-dr-alerts"})
    seen = len(double.seen)
    rc, _, err = upload(capsys, double, "-c", str(catalog_file(tmp_path, billing=99.5)))
    assert rc == 0, err
    assert upload(capsys, double)[0] == 0
    assert double.groups("other-team") == other_before and double.alertmanager["other-team"] == other_am
    assert {s.tenant for s in double.seen[seen:]} == {TENANT}


def test_dry_run_changes_nothing(double: MimirDouble, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = upload(capsys, double, "--dry-run")
    assert rc == 0 and writes(double) == []
    assert f"{group_count() + 1} to create, 0 to update, 0 to delete" in out and "(dry run)" in out
    assert re.search(r"rule-group\s+zarish-recording\s+zarish-signals\s+create\s+\(dry run\)", out)
    assert upload(capsys, double)[0] == 0
    double.put_group(TENANT, "zarish-target-alerts", mimir.stamp(
        {"name": "zarish-gone", "rules": [{"record": "a:b", "expr": "vector(1)"}]}, CATALOG.name))
    before = len(double.writes())
    rc, out, _ = upload(capsys, double, "--dry-run", "--format", "json")
    assert rc == 0 and len(double.writes()) == before
    assert summary(out)["dry_run"] and actions(out)["zarish-target-alerts/zarish-gone"] == ("delete", "planned")
    assert summary(out)["counts"] == {"create": 0, "update": 0, "delete": 1, "unchanged": group_count() + 1,
                                      "conflict": 0}


def test_a_500_mid_way_exits_1_naming_what_was_applied(double: MimirDouble,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    double.inject(Fault("POST", r"/prometheus/config/v1/rules/.*", 500, after=2))
    rc, out, err = upload(capsys, double)
    assert rc == 1
    assert (f"after applying 2 of {group_count() + 1} changes (create zarish-recording/zarish-signals, "
            "create zarish-recording/zarish-slo-short-windows); re-run to finish") in err
    assert "answered HTTP 500" in err and "at 'create zarish-recording/zarish-slo-long-windows'" in err
    assert {ns: set(g) for ns, g in double.groups(TENANT).items()} == {
        "zarish-recording": {"zarish-signals", "zarish-slo-short-windows"}}
    assert TENANT not in double.alertmanager and out.count("not-run") == group_count() + 1 - 3
    rc, out, _ = upload(capsys, double, "--format", "json")
    assert rc == 0 and stored(double) == expected(CATALOG)
    assert [k for k, (a, _) in actions(out).items() if a == "unchanged"] == [
        "zarish-recording/zarish-signals", "zarish-recording/zarish-slo-short-windows"]


def test_failures_before_any_change_exit_69(double: MimirDouble, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run(capsys, "--ruler-url", f"http://127.0.0.1:{free_port()}", "--tenant", TENANT)
    assert rc == 69 and "cannot connect" in err and "nothing was changed" in err
    double.inject(Fault("GET", "/prometheus/config/v1/rules", 503, body="ruler unavailable"))
    rc, _, err = upload(capsys, double)
    assert rc == 69 and "HTTP 503: ruler unavailable; nothing was changed" in err
    double.inject(Fault("POST", r"/prometheus/config/v1/rules/.*", 500))
    rc, _, err = upload(capsys, double)
    assert rc == 69 and "nothing was changed" in err and double.groups(TENANT) == {}
    double.inject(Fault("POST", r"/prometheus/config/v1/rules/.*", 400, body="per-user rule groups limit exceeded"))
    rc, _, err = upload(capsys, double)
    assert rc == 65 and "HTTP 400: per-user rule groups limit exceeded at " in err and "nothing was changed" in err
    double.inject(Fault("GET", "/prometheus/config/v1/rules", 200, delay=3))
    rc, _, err = upload(capsys, double, "--timeout", "0.5")
    assert rc == 69 and "no answer within 0.5s" in err
    assert writes(double) == [("POST", rules_path("zarish-recording"))] * 2


def test_wrong_prefix_or_disabled_api_is_a_usage_error(double: MimirDouble,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = upload(capsys, double, "--prometheus-prefix", "/api/prom")
    assert rc == 64 and "404 page not found" in err and "--prometheus-prefix" in err
    legacy = MimirDouble(legacy_empty_404=True).start()
    try:
        rc, _, err = upload(capsys, legacy)
        assert rc == 0, err
        assert stored(legacy) == expected(CATALOG)
    finally:
        legacy.stop()


def test_credentials_never_appear_in_output(double: MimirDouble, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    double.tokens = {TOKEN}
    rc, _, err = upload(capsys, double)
    assert rc == 64 and "HTTP 401" in err and TOKEN not in err
    monkeypatch.setenv("ZARISH_MIMIR_TOKEN", "wrong-" + TOKEN)
    rc, out, err = run_root(capsys, "--debug", "alerts", "upload", "--ruler-url", double.url, "--tenant", TENANT)
    assert rc == 64 and "HTTP 401" in err and TOKEN not in out + err
    monkeypatch.setenv("ZARISH_MIMIR_TOKEN", TOKEN)
    rc, out, err = run_root(capsys, "--debug", "alerts", "upload", "--ruler-url", double.url, "--tenant", TENANT)
    assert rc == 0 and TOKEN not in out + err
    assert {s.headers.get("Authorization") for s in double.seen if s.status != 401} == {f"Bearer {TOKEN}"}
    # a proxy that echoes the request's credentials in its error page
    double.inject(Fault("POST", "/api/v1/alerts", 502, body=f"bad gateway for Authorization: Bearer {TOKEN}"))
    rc, out, err = run_root(capsys, "--debug", "alerts", "upload", "--ruler-url", double.url, "--tenant", TENANT,
                            "--webhook-url", "http://127.0.0.1:9/hook")
    assert rc == 69 and "Bearer ***" in err and TOKEN not in out + err

    monkeypatch.delenv("ZARISH_MIMIR_TOKEN")
    double.tokens, double.users = set(), {"ops": PASSWORD}
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n")
    monkeypatch.setenv("ZARISH_MIMIR_USER", "ops")
    monkeypatch.setenv("ZARISH_MIMIR_PASSWORD_FILE", str(secret))
    double.inject(Fault("GET", "/api/v1/alerts", 500, body=f"oops {PASSWORD}"))
    rc, out, err = run_root(capsys, "--debug", "alerts", "upload", "--ruler-url", double.url, "--tenant", TENANT)
    assert rc == 69 and "oops ***" in err and PASSWORD not in out + err
    assert upload(capsys, double)[0] == 0
    monkeypatch.setenv("ZARISH_MIMIR_TOKEN", TOKEN)
    rc, out, err = upload(capsys, double)
    assert rc == 64 and "not both" in err and TOKEN not in out + err and PASSWORD not in out + err


def test_bad_options_exit_64_before_any_request(double: MimirDouble, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    cases = [["--ruler-url", f"http://user:{PASSWORD}@127.0.0.1:1", "--tenant", TENANT],
             ["--ruler-url", "ftp://mimir", "--tenant", TENANT],
             ["--ruler-url", double.url, "--tenant", "a/b"],
             ["--ruler-url", double.url, "--tenant", ".."],
             ["--ruler-url", double.url],
             ["--ruler-url", double.url, "--tenant", TENANT, "--prometheus-prefix", "prometheus"],
             ["--ruler-url", double.url, "--tenant", TENANT, "--timeout", "0"]]
    for args in cases:
        rc, out, err = run(capsys, *args)
        assert rc == 64, (args, err)
        assert PASSWORD not in out + err
    monkeypatch.setenv("ZARISH_SLACK_CHANNEL", "#oncall")
    rc, _, err = upload(capsys, double)
    assert rc == 64 and "slack_configs[0].api_url_file" in err and "--no-alertmanager" in err
    assert double.seen == []
    rc, out, _ = upload(capsys, double, "--no-alertmanager", "--format", "json")
    assert rc == 0 and summary(out)["alertmanager"] is None and TENANT not in double.alertmanager


@pytest.mark.real
def test_uploaded_rules_and_alertmanager_config_pass_promtool_and_amtool(
        double: MimirDouble, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert upload(capsys, double)[0] == 0
    h = {"X-Scope-OrgID": TENANT}
    listing = yaml.safe_load(requests.get(double.url + "/prometheus/config/v1/rules", headers=h, timeout=5).text)
    assert set(listing) == set(mimir.namespaces(CATALOG))
    files = []
    for ns, groups in listing.items():
        path = tmp_path / f"{ns}.yml"
        path.write_text(yaml.safe_dump({"groups": groups}))
        files.append(path)
    checked = promtool.check_rules(*files)
    assert checked.ok, checked.output
    answer = yaml.safe_load(requests.get(double.url + "/api/v1/alerts", headers=h, timeout=5).text)
    assert answer["template_files"] == {}
    config = tmp_path / "alertmanager.yml"
    config.write_text(answer["alertmanager_config"])
    checked = promtool.check_alertmanager(config)
    assert checked.ok, checked.output
    assert yaml.safe_load(answer["alertmanager_config"]) == build_alertmanager_config(CATALOG)
    assert answer["alertmanager_config"].startswith(f"# Generated by zarish-obs from the service catalog "
                                                    f"'{CATALOG.name}'")


# -- the pure parts ---------------------------------------------------------------------------------------------
def test_marker_round_trips_and_comparison_ignores_mimirs_spelling() -> None:
    group = {"name": "g", "interval": "30d", "rules": [
        {"alert": "A", "expr": "up == 0\n", "for": "1h30m", "labels": {"severity": "page"}},
        {"record": "r:x", "expr": "vector(1)"}]}
    ours = mimir.stamp(group, "zarish-his")
    assert mimir.owner(ours) == "zarish-his" and mimir.owner(group) is None
    assert ours["rules"][1] == group["rules"][1] and group["rules"][0]["expr"] == "up == 0\n"
    as_mimir = {"name": "g", "interval": "4w2d", "rules": [
        {"alert": "A", "expr": ours["rules"][0]["expr"].rstrip(), "for": "1h30m", "labels": {"severity": "page"},
         "annotations": {}}, {"record": "r:x", "expr": "vector(1)", "for": "0s"}]}
    assert mimir.canonical(as_mimir) == mimir.canonical(ours)
    changed = {**as_mimir, "interval": "1m"}
    [item] = mimir.plan_rules({"ns": [group]}, {"ns": [changed]}, "zarish-his")
    assert item.action == "update" and "interval" in item.detail
    assert mimir.dropped_fields({"ns": [{"name": "g", "labels": {}, "rules": [{"expr": "1", "record": "x",
                                                                              "keep_firing_for": "1m"}]}]}) == [
        "ns/g: labels"]
