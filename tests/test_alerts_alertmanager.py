"""The generated Alertmanager configuration: amtool accepts it, and a real Alertmanager routes and inhibits."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.webhook import Hook
from zarish_obs import procs, promtool
from zarish_obs.alerts.alertmanager import EmailSettings, SlackSettings, build_alertmanager_config
from zarish_obs.catalog import Catalog
from zarish_obs.writers import to_yaml

pytestmark = pytest.mark.real


def test_amtool_accepts_every_generated_config(tmp_path: Path, default_catalog: Catalog,
                                               other_catalogs: dict[str, Catalog]) -> None:
    email = EmailSettings("oncall@zarishsphere.com", "alertmanager@zarishsphere.com", "smtp.example.org:587",
                          "alerts")
    variants = {name: build_alertmanager_config(cat) for name, cat in
                {"default": default_catalog, **other_catalogs}.items()}
    variants["default-email-slack"] = build_alertmanager_config(default_catalog, "https://hooks.example.org/x",
                                                                email, SlackSettings("#zarish-oncall"))
    assert len(variants) >= 4
    for name, config in variants.items():
        path = tmp_path / f"{name}.yml"
        path.write_text(to_yaml(config))
        result = promtool.check_alertmanager(path)
        assert result.ok, f"{name}: {result.output}"
        assert "SUCCESS" in result.output and "2 inhibit rules" in result.output




def _alert(**labels: str) -> dict[str, Any]:
    return {"labels": labels, "annotations": {"summary": f"test {labels['alertname']}"}}


def test_real_alertmanager_routes_and_inhibits(tmp_path: Path, default_catalog: Catalog, hook: Hook) -> None:
    # Time-compressed so group_wait is a second; routing and inhibition are what is under test.
    cat = default_catalog.model_copy(update={"time_scale": 0.01})
    config = tmp_path / "alertmanager.yml"
    config.write_text(to_yaml(build_alertmanager_config(cat, webhook_url=hook.url)))
    assert promtool.check_alertmanager(config).ok
    am = procs.start_alertmanager(config, tmp_path / "am-data")
    slo = {"slo": "availability", "objective": "99.5", "slo_window": "30d"}
    page = {"severity": "page", "long_window": "1h", "short_window": "5m"}
    ticket = {"severity": "ticket", "long_window": "1d", "short_window": "2h"}
    alerts = [
        _alert(alertname="DRManualTrigger", dr_trigger="manual", severity="critical"),
        _alert(alertname="SLOErrorBudgetBurn", service="pharmacy", environment="production", **slo, **page),
        # same SLO, ticket tier: silenced by the firing page tier
        _alert(alertname="SLOErrorBudgetBurn", service="pharmacy", environment="production", **slo, **ticket),
        # a page-tier burn in staging opens a ticket instead of paging
        _alert(alertname="SLOErrorBudgetBurn", service="billing", environment="staging", **slo, **page),
        # the primary region is down: its per-service alerts are inhibited (Prometheus adds its external
        # label `region` to every alert it sends) ...
        _alert(alertname="DRPrimaryRegionUnavailable", dr_trigger="primary_region_unavailable",
               severity="critical", region="dhaka"),
        _alert(alertname="SLOMetricsAbsent", service="laboratory", environment="production", severity="ticket",
               region="dhaka"),
        _alert(alertname="ServiceTargetsDown", service="laboratory", environment="production", severity="ticket",
               region="dhaka"),
        # ... but not the RPO and the backups, which matter most then, nor another region's targets
        _alert(alertname="RPOBreached", severity="page", region="dhaka"),
        _alert(alertname="BackupMissed", severity="ticket", region="dhaka"),
        _alert(alertname="ServiceTargetsDown", service="billing", environment="production", severity="ticket",
               region="chittagong"),
    ]
    try:
        r = requests.post(f"{am.url}/api/v2/alerts", json=alerts, timeout=5)
        assert r.status_code == 200, r.text
        expected = {
            "zarish-dr": {"DRManualTrigger/", "DRPrimaryRegionUnavailable/"},
            "zarish-page": {"SLOErrorBudgetBurn/pharmacy", "RPOBreached/"},
            "zarish-ticket": {"SLOErrorBudgetBurn/billing", "BackupMissed/", "ServiceTargetsDown/billing"},
        }
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(not want <= hook.delivered().get(rcv, set())
                                                  for rcv, want in expected.items()):
            time.sleep(0.2)
        got = hook.delivered()
        for receiver, want in expected.items():
            assert want <= got.get(receiver, set()), (receiver, got)

        state = requests.get(f"{am.url}/api/v2/alerts", timeout=5).json()
        by_key = {(a["labels"]["alertname"], a["labels"].get("service", ""), a["labels"].get("severity")): a
                  for a in state}
        ticket_alert = by_key[("SLOErrorBudgetBurn", "pharmacy", "ticket")]
        assert ticket_alert["status"]["state"] == "suppressed" and ticket_alert["status"]["inhibitedBy"]
        for name in ("SLOMetricsAbsent", "ServiceTargetsDown"):
            inhibited = by_key[(name, "laboratory", "ticket")]
            assert inhibited["status"]["state"] == "suppressed" and inhibited["status"]["inhibitedBy"], name
        for key in (("RPOBreached", "", "page"), ("BackupMissed", "", "ticket"), ("ServiceTargetsDown", "billing",
                                                                                   "ticket")):
            assert by_key[key]["status"]["state"] == "active", key
        assert by_key[("SLOErrorBudgetBurn", "pharmacy", "page")]["status"]["state"] == "active"
        delivered = set().union(*hook.delivered().values())
        assert "SLOMetricsAbsent/laboratory" not in delivered and "ServiceTargetsDown/laboratory" not in delivered
        assert all(a["labels"]["severity"] != "ticket" or a["labels"].get("service") != "pharmacy"
                   for n in hook.received for a in n["alerts"])
    finally:
        am.stop()
