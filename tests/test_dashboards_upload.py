"""`dashboards upload` against a test double of Grafana's HTTP API (tests/grafana_double.py)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.grafana_double import Fault, GrafanaDouble
from zarish_obs.catalog import Catalog
from zarish_obs.dashboards import fingerprint, generate
from zarish_obs.procs import free_port
from zarish_obs.stack.main import main

EDITOR = "glsa_editor_TOKEN_0123456789"
VIEWER = "glsa_viewer_TOKEN_0123456789"
PASSWORD = "s3cret-Passw0rd"
UIDS = ["zarish-his-overview", "zarish-his-slo", "zarish-his-dr"]
CATALOGS = Path(__file__).parent / "data" / "catalogs"


@pytest.fixture
def grafana() -> Iterator[GrafanaDouble]:
    double = GrafanaDouble().start()
    try:
        yield double
    finally:
        double.stop()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GRAFANA_TOKEN", "GRAFANA_TOKEN_FILE", "GRAFANA_USER", "GRAFANA_PASSWORD", "GRAFANA_PASSWORD_FILE",
                 "GRAFANA_URL", "ZARISH_CATALOG"):
        monkeypatch.delenv(name, raising=False)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = main(["dashboards", "upload", *args])
    out, err = capsys.readouterr()
    return rc, out, err


def upload(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, grafana: GrafanaDouble,
           *args: str, token: str = EDITOR) -> tuple[int, str, str]:
    monkeypatch.setenv("GRAFANA_TOKEN", token)
    return run(capsys, "--grafana-url", grafana.url, *args)


def summary(out: str) -> dict[str, Any]:
    return json.loads(out)


def results(out: str) -> dict[str, tuple[str, str]]:
    return {i["name"]: (i["action"], i["result"]) for i in summary(out)["items"]}


# -- the double itself follows Grafana's documented contract -------------------------------------------------
def test_double_follows_grafanas_documented_contract(grafana: GrafanaDouble) -> None:
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {EDITOR}"
    u = grafana.url
    assert requests.get(u + "/api/health", timeout=5).json()["database"] == "ok"
    bad = requests.get(u + "/api/folders", headers={"Authorization": "Bearer nope"}, timeout=5)
    assert bad.status_code == 401 and bad.json()["message"] == "Invalid API key"
    basic = base64.b64encode(b"admin:wrong").decode()
    bad = requests.get(u + "/api/folders", headers={"Authorization": f"Basic {basic}"}, timeout=5)
    assert bad.status_code == 401 and bad.json()["message"] == "Invalid username or password"
    viewer = requests.post(u + "/api/folders", json={"title": "x"}, headers={"Authorization": f"Bearer {VIEWER}"},
                           timeout=5)
    assert viewer.status_code == 403
    assert s.post(u + "/api/folders", json={"uid": "f1", "title": "F"}, timeout=5).status_code == 200
    assert s.post(u + "/api/folders", json={"uid": "f1", "title": "Other"}, timeout=5).status_code == 409
    missing = s.get(u + "/api/dashboards/uid/nope", timeout=5)
    assert missing.status_code == 404 and missing.json() == {"message": "Dashboard not found"}
    post = lambda body: s.post(u + "/api/dashboards/db", json=body, timeout=5)  # noqa: E731
    assert post({"dashboard": {"uid": "a", "title": ""}, "folderUid": "f1"}).status_code == 400
    assert post({"dashboard": {"uid": "bad uid!", "title": "T"}, "folderUid": "f1"}).status_code == 400
    assert post({"dashboard": {"uid": "x" * 41, "title": "T"}, "folderUid": "f1"}).status_code == 400
    assert post({"dashboard": {"uid": "a", "title": "T"}, "folderUid": "missing"}).status_code == 400
    first = post({"dashboard": {"uid": "a", "title": "T"}, "folderUid": "f1", "overwrite": False})
    assert first.status_code == 200 and first.json()["version"] == 1 and first.json()["status"] == "success"
    stale = post({"dashboard": {"uid": "a", "title": "T", "version": 0}, "folderUid": "f1", "overwrite": False})
    assert stale.status_code == 412 and stale.json()["status"] == "version-mismatch"
    ok = post({"dashboard": {"uid": "a", "title": "T", "version": 1}, "folderUid": "f1", "overwrite": False})
    assert ok.json()["version"] == 2
    assert post({"dashboard": {"uid": "a", "title": "T"}, "folderUid": "f1", "overwrite": True}).json()["version"] == 3
    same_name = post({"dashboard": {"uid": "b", "title": "T"}, "folderUid": "f1", "overwrite": False})
    assert same_name.status_code == 412 and same_name.json()["status"] == "name-exists"
    got = s.get(u + "/api/dashboards/uid/a", timeout=5).json()
    assert got["dashboard"]["version"] == 3 and got["meta"]["folderUid"] == "f1"
    hits = s.get(u + "/api/search", params={"type": "dash-db", "folderUIDs": "f1"}, timeout=5).json()
    assert [h["uid"] for h in hits] == ["a"] and hits[0]["type"] == "dash-db"
    ds = {"name": "P", "type": "prometheus", "uid": "p", "url": "http://p:9090", "access": "proxy"}
    assert s.post(u + "/api/datasources", json=ds, timeout=5).status_code == 200
    assert s.post(u + "/api/datasources", json=ds, timeout=5).status_code == 409


# -- scenarios --------------------------------------------------------------------------------------------
def test_first_upload_creates_folder_then_dashboards(grafana: GrafanaDouble, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     default_catalog: Catalog) -> None:
    rc, out, err = upload(capsys, monkeypatch, grafana, "--format", "json")
    assert rc == 0, err
    s = summary(out)
    assert s["dashboards"] == {"created": 3} and s["exit_code"] == 0
    assert results(out)["zarish-his"] == ("create", "created")
    writes = [(w.method, w.path) for w in grafana.writes()]
    assert writes == [("POST", "/api/folders")] + [("POST", "/api/dashboards/db")] * 3
    assert grafana.seen[0].path == "/api/health"
    folder_uid = s["folder_uid"]
    assert grafana.folders[folder_uid]["title"] == "ZARISH HIS"
    ours = generate.build_all(default_catalog)
    for uid in UIDS:
        stored = grafana.dashboards[uid]
        assert stored["version"] == 1 and stored["folderUid"] == folder_uid
        assert fingerprint.same_content(stored["dashboard"], ours[uid])
    for w in grafana.writes():
        assert w.headers["Authorization"] == f"Bearer {EDITOR}"
    assert err.count("dashboards: [") == 3 and "[3/3] zarish-his-dr: create -> created (version 1)" in err


def test_reupload_with_nothing_changed_makes_no_new_version(grafana: GrafanaDouble,
                                                             capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    assert upload(capsys, monkeypatch, grafana)[0] == 0
    before = len(grafana.writes())
    rc, out, _ = upload(capsys, monkeypatch, grafana, "--format", "json")
    assert rc == 0
    assert summary(out)["dashboards"] == {"unchanged": 3}
    assert len(grafana.writes()) == before
    assert all(grafana.history[uid] == [1] for uid in UIDS)


def test_changed_generator_output_updates_with_the_version_lock(grafana: GrafanaDouble,
                                                                 capsys: pytest.CaptureFixture[str],
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    assert upload(capsys, monkeypatch, grafana)[0] == 0
    from zarish_obs.catalog import default_catalog_text
    changed = tmp_path / "changed.yaml"
    changed.write_text(default_catalog_text().replace("rto: 4h", "rto: 3h"))
    rc, out, _ = upload(capsys, monkeypatch, grafana, "--catalog", str(changed), "--format", "json")
    assert rc == 0
    assert results(out)["zarish-his-dr"] == ("change", "updated")
    assert results(out)["zarish-his-overview"] == ("unchanged", "unchanged")
    post = [w for w in grafana.writes() if w.method == "POST" and w.path == "/api/dashboards/db"][-1]
    assert post.body["overwrite"] is False and post.body["dashboard"]["version"] == 1
    assert grafana.history["zarish-his-dr"] == [1, 2]
    assert "**RTO** (recovery time objective): **3h**" in json.dumps(grafana.dashboards["zarish-his-dr"])


def _edit_title(d: dict[str, Any]) -> None:
    d["panels"][0]["title"] = "Edited in the UI"


def test_conflict_is_reported_not_overwritten_and_force_overwrites(grafana: GrafanaDouble,
                                                                    capsys: pytest.CaptureFixture[str],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    assert upload(capsys, monkeypatch, grafana)[0] == 0
    grafana.edit("zarish-his-slo", _edit_title)
    rc, out, _ = upload(capsys, monkeypatch, grafana, "--dry-run")
    assert rc == 0
    assert "zarish-his-slo: conflict" in out and '-      "title": "Edited in the UI",' in out
    assert '+      "title": "Firing SLO alerts",' in out
    assert "--- grafana/zarish-his-slo (version 2)" in out
    writes = len(grafana.writes())
    rc, out, err = upload(capsys, monkeypatch, grafana, "--format", "json")
    assert rc == 1
    r = results(out)
    assert r["zarish-his-slo"] == ("conflict", "skipped") and r["zarish-his-dr"] == ("unchanged", "unchanged")
    assert len(grafana.writes()) == writes
    assert grafana.dashboards["zarish-his-slo"]["dashboard"]["panels"][0]["title"] == "Edited in the UI"
    assert "use --force" in err
    rc, out, _ = upload(capsys, monkeypatch, grafana, "--force", "--format", "json")
    assert rc == 0 and results(out)["zarish-his-slo"] == ("overwrite", "updated")
    assert grafana.dashboards["zarish-his-slo"]["dashboard"]["panels"][0]["title"] == "Firing SLO alerts"
    assert grafana.history["zarish-his-slo"] == [1, 2, 3]
    assert upload(capsys, monkeypatch, grafana, "--format", "json")[0] == 0


def test_dashboard_not_made_by_us_is_a_conflict(grafana: GrafanaDouble, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    grafana.folders["zarish-his"] = {"id": 99, "uid": "zarish-his", "title": "ZARISH HIS", "url": "/f", "version": 1}
    grafana.dashboards["zarish-his-dr"] = {"id": 5, "uid": "zarish-his-dr", "version": 7, "folderUid": "zarish-his",
                                           "url": "/d/zarish-his-dr/x", "dashboard": {
                                               "uid": "zarish-his-dr", "title": "Hand made", "version": 7}}
    grafana.history["zarish-his-dr"] = [7]
    rc, out, _ = upload(capsys, monkeypatch, grafana, "--format", "json")
    assert rc == 1
    item = next(i for i in summary(out)["items"] if i["name"] == "zarish-his-dr")
    assert item["action"] == "conflict" and "no fingerprint" in item["detail"]
    assert results(out)["zarish-his"] == ("unchanged", "unchanged")
    assert grafana.dashboards["zarish-his-dr"]["dashboard"]["title"] == "Hand made"


def test_edit_between_plan_and_save_gets_412_and_is_a_conflict(grafana: GrafanaDouble,
                                                               capsys: pytest.CaptureFixture[str],
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    assert upload(capsys, monkeypatch, grafana)[0] == 0
    from zarish_obs.catalog import default_catalog_text
    changed = tmp_path / "changed.yaml"
    changed.write_text(default_catalog_text().replace("rpo: 1h", "rpo: 2h"))
    grafana.inject(Fault("POST", "/api/dashboards/db", when=lambda b: b["dashboard"]["uid"] == "zarish-his-dr",
                         before=lambda: grafana.edit("zarish-his-dr", _edit_title)))
    rc, out, _ = upload(capsys, monkeypatch, grafana, "--catalog", str(changed), "--format", "json")
    assert rc == 1
    assert results(out)["zarish-his-dr"] == ("conflict", "skipped")
    assert [(s.method, s.status) for s in grafana.seen[-2:]] == [("POST", 412), ("GET", 200)]
    assert grafana.dashboards["zarish-his-dr"]["dashboard"]["panels"][0]["title"] == "Edited in the UI"


def test_partial_failure_uploads_the_others_and_exits_1(grafana: GrafanaDouble,
                                                        capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    grafana.inject(Fault("POST", "/api/dashboards/db", status=500, times=10,
                         when=lambda b: b["dashboard"]["uid"] == "zarish-his-slo"))
    rc, out, err = upload(capsys, monkeypatch, grafana, "--retries", "1")
    assert rc == 1
    assert "zarish-his-slo" not in grafana.dashboards
    assert set(grafana.dashboards) == {"zarish-his-overview", "zarish-his-dr"}
    line = next(line for line in out.splitlines() if line.startswith("dashboard  zarish-his-slo"))
    assert "failed" in line and "HTTP 500 (after 2 attempts)" in line
    assert "retry 1/1" in err


def test_429_and_500_are_retried(grafana: GrafanaDouble, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    grafana.inject(Fault("POST", "/api/dashboards/db", status=429, times=1, headers={"Retry-After": "0"}))
    grafana.inject(Fault("GET", "/api/folders", status=503, times=1))
    rc, out, err = upload(capsys, monkeypatch, grafana, "--format", "json")
    assert rc == 0, err
    assert summary(out)["dashboards"] == {"created": 3}
    assert "HTTP 429; retry 1/3 in 0s" in err and "HTTP 503; retry 1/3" in err


def test_timeout_on_one_dashboard_is_a_failure_not_a_hang(grafana: GrafanaDouble,
                                                          capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    grafana.inject(Fault("POST", "/api/dashboards/db", status=504, delay=1.5, times=2,
                         when=lambda b: b["dashboard"]["uid"] == "zarish-his-overview"))
    rc, out, _ = upload(capsys, monkeypatch, grafana, "--timeout", "0.3", "--retries", "1", "--format", "json")
    assert rc == 1
    item = next(i for i in summary(out)["items"] if i["name"] == "zarish-his-overview")
    assert item["result"] == "failed" and "no answer within 0.3s" in item["detail"]
    assert {"zarish-his-slo", "zarish-his-dr"} <= set(grafana.dashboards)


def test_unreachable_grafana_exits_69(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAFANA_TOKEN", EDITOR)
    rc, out, err = run(capsys, "--grafana-url", f"http://127.0.0.1:{free_port()}", "--retries", "1")
    assert rc == 69 and out == ""
    assert "cannot connect (connection refused) (after 2 attempts)" in err


def test_unhealthy_grafana_exits_69(grafana: GrafanaDouble, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    grafana.inject(Fault("GET", "/api/health", status=503, times=5))
    rc, _, err = upload(capsys, monkeypatch, grafana, "--retries", "1")
    assert rc == 69 and "HTTP 503" in err and not grafana.writes()
    grafana.inject(Fault("GET", "/api/health", status=200))  # something answers, but not Grafana
    rc, _, err = upload(capsys, monkeypatch, grafana)
    assert rc == 69 and "did not answer like Grafana" in err


@pytest.mark.parametrize("debug", [False, True])
def test_bad_token_exits_64_and_never_shows_the_token(grafana: GrafanaDouble, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch, debug: bool) -> None:
    secret = "glsa_WRONG_but_secret_value_42"
    monkeypatch.setenv("GRAFANA_TOKEN", secret)
    rc = main([*(["--debug"] if debug else []), "dashboards", "upload", "--grafana-url", grafana.url])
    out, err = capsys.readouterr()
    assert rc == 64
    assert "HTTP 401 Invalid API key" in err and "service-account token" in err
    assert secret not in out + err
    if debug:
        assert "debug: GET /api/folders -> HTTP 401" in err
    assert not grafana.writes()


def test_token_never_shown_in_a_successful_debug_run(grafana: GrafanaDouble, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAFANA_TOKEN", EDITOR)
    rc = main(["--debug", "dashboards", "upload", "--grafana-url", grafana.url, "--format", "json"])
    out, err = capsys.readouterr()
    assert rc == 0 and "debug: POST /api/dashboards/db -> HTTP 200" in err
    assert EDITOR not in out + err


def test_viewer_token_exits_64(grafana: GrafanaDouble, capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    rc, _, err = upload(capsys, monkeypatch, grafana, token=VIEWER)
    assert rc == 64 and "HTTP 403" in err and "lacks permission" in err
    assert VIEWER not in err


def test_basic_auth_and_token_file(grafana: GrafanaDouble, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GRAFANA_USER", "admin")
    monkeypatch.setenv("GRAFANA_PASSWORD", "wrong-password-xyz")
    rc, out, err = run(capsys, "--grafana-url", grafana.url)
    assert rc == 64 and "Invalid username or password" in err and "basic auth as admin" in err
    assert "wrong-password-xyz" not in out + err
    monkeypatch.setenv("GRAFANA_PASSWORD", PASSWORD)
    rc, out, err = run(capsys, "--grafana-url", grafana.url)
    assert rc == 0 and PASSWORD not in out + err
    monkeypatch.delenv("GRAFANA_USER")
    monkeypatch.delenv("GRAFANA_PASSWORD")
    token_file = tmp_path / "token"
    token_file.write_text(EDITOR + "\n")
    rc, out, err = run(capsys, "--grafana-url", grafana.url, "--token-file", str(token_file), "--org-id", "3")
    assert rc == 0 and EDITOR not in out + err
    assert grafana.seen[-1].headers["Authorization"] == f"Bearer {EDITOR}"
    assert grafana.seen[-1].headers["X-Grafana-Org-Id"] == "3"


def test_bad_options_exit_64(grafana: GrafanaDouble, capsys: pytest.CaptureFixture[str],
                             monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    rc, _, err = run(capsys, "--grafana-url", grafana.url)
    assert rc == 64 and "no Grafana credentials" in err
    monkeypatch.setenv("GRAFANA_TOKEN", EDITOR)
    rc, _, err = run(capsys, "--grafana-url", "http://admin:pw@127.0.0.1:3000")
    assert rc == 64 and "must not contain credentials" in err and "pw" not in err
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    assert run(capsys, "--grafana-url", grafana.url, "--ca-file", str(ca), "--insecure")[0] == 64
    assert run(capsys, "--grafana-url", "ftp://x")[0] == 64
    bad_catalog = tmp_path / "bad.yaml"
    bad_catalog.write_text("version: 1\nname: x\n")
    assert run(capsys, "--grafana-url", grafana.url, "--catalog", str(bad_catalog))[0] == 65
    assert not grafana.seen


def test_dry_run_writes_nothing(grafana: GrafanaDouble, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    rc, out, _ = upload(capsys, monkeypatch, grafana, "--dry-run", "--datasource", "http://prometheus:9090")
    assert rc == 0 and not grafana.writes()
    lines = out.splitlines()
    assert lines[0].split() == ["KIND", "NAME", "ACTION", "RESULT", "VERSION", "DETAIL"]
    assert sum("create" in line and "(dry run)" in line for line in lines) == 5  # folder, datasource, 3 dashboards


def test_datasource_provisioning(grafana: GrafanaDouble, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    rc, out, _ = upload(capsys, monkeypatch, grafana, "--datasource", "http://prometheus:9090", "--format", "json")
    assert rc == 0 and results(out)["zarish-prometheus"] == ("create", "created")
    ds = grafana.datasources["zarish-prometheus"]
    assert (ds["type"], ds["url"], ds["name"]) == ("prometheus", "http://prometheus:9090", "Prometheus")
    rc, out, _ = upload(capsys, monkeypatch, grafana, "--datasource", "http://prometheus:9090", "--format", "json")
    assert results(out)["zarish-prometheus"] == ("unchanged", "unchanged")
    rc, out, _ = upload(capsys, monkeypatch, grafana, "--datasource", "http://thanos:9090", "--format", "json")
    assert rc == 0 and results(out)["zarish-prometheus"] == ("change", "updated")
    assert grafana.datasources["zarish-prometheus"]["url"] == "http://thanos:9090"


def test_other_catalog_and_existing_folder_by_title(grafana: GrafanaDouble, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    grafana.folders["abc123"] = {"id": 1, "uid": "abc123", "title": "Referral Network", "url": "/f", "version": 1}
    rc, out, err = upload(capsys, monkeypatch, grafana, "--catalog", str(CATALOGS / "custom-labels.yaml"),
                          "--format", "json")
    assert rc == 0, err
    assert summary(out)["folder_uid"] == "abc123"
    assert {d["folderUid"] for d in grafana.dashboards.values()} == {"abc123"}
    assert [w.path for w in grafana.writes()] == ["/api/dashboards/db"] * 3


def test_another_folder_moves_our_dashboards(grafana: GrafanaDouble, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    assert upload(capsys, monkeypatch, grafana)[0] == 0
    rc, out, _ = upload(capsys, monkeypatch, grafana, "--folder", "Hospital Ops", "--format", "json")
    assert rc == 0
    s = summary(out)
    assert s["folder_uid"] == "hospital-ops" and s["dashboards"] == {"updated": 3}
    assert all("moves from folder 'zarish-his'" in i["detail"] for i in s["items"] if i["kind"] == "dashboard")
    assert {d["folderUid"] for d in grafana.dashboards.values()} == {"hospital-ops"}
