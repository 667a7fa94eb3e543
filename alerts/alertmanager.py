"""Alertmanager configuration: routes by severity (page, ticket, DR), grouping by service, inhibition.

Receivers are webhooks by default. E-mail and Slack are added only when their settings are given, and
then only by reference: the SMTP password and the Slack webhook URL are file paths Alertmanager reads,
never values in the generated file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from zarish_obs import conventions
from zarish_obs.alerts import maintenance
from zarish_obs.catalog import Catalog
from zarish_obs.errors import ExitCode, ZarishError

DEFAULT_RECEIVER = "zarish-default"
PAGE_RECEIVER = "zarish-page"
TICKET_RECEIVER = "zarish-ticket"
DR_RECEIVER = "zarish-dr"
SECRETS_DIR = "/etc/alertmanager/secrets"


@dataclass(frozen=True)
class EmailSettings:
    to: str
    sender: str
    smarthost: str
    auth_username: str | None = None
    auth_password_file: str | None = f"{SECRETS_DIR}/smtp-password"


@dataclass(frozen=True)
class SlackSettings:
    channel: str
    api_url_file: str = f"{SECRETS_DIR}/slack-webhook-url"


ENV_VARS = {
    "ZARISH_ALERT_EMAIL_TO": "e-mail address for page, ticket and DR notifications",
    "ZARISH_ALERT_EMAIL_FROM": "sender address (default alertmanager@<catalog name>)",
    "ZARISH_SMTP_SMARTHOST": "SMTP server host:port (required with ZARISH_ALERT_EMAIL_TO)",
    "ZARISH_SMTP_USERNAME": "SMTP user name",
    "ZARISH_SMTP_PASSWORD_FILE": f"path of the SMTP password file (default {SECRETS_DIR}/smtp-password)",
    "ZARISH_SLACK_CHANNEL": "Slack channel for page and DR notifications",
    "ZARISH_SLACK_API_URL_FILE": f"path of the Slack webhook URL file (default {SECRETS_DIR}/slack-webhook-url)",
}


def receivers_from_env(catalog: Catalog, environ: Mapping[str, str]) -> dict[str, Any]:
    """E-mail/Slack receiver settings from environment variables; secrets only as file paths."""
    out: dict[str, Any] = {}
    to = environ.get("ZARISH_ALERT_EMAIL_TO", "").strip()
    if to:
        host = environ.get("ZARISH_SMTP_SMARTHOST", "").strip()
        if not host:
            raise ZarishError("ZARISH_ALERT_EMAIL_TO is set but ZARISH_SMTP_SMARTHOST is not", ExitCode.USAGE)
        out["email"] = EmailSettings(
            to=to, sender=environ.get("ZARISH_ALERT_EMAIL_FROM", "").strip() or f"alertmanager@{catalog.name}",
            smarthost=host, auth_username=environ.get("ZARISH_SMTP_USERNAME", "").strip() or None,
            auth_password_file=environ.get("ZARISH_SMTP_PASSWORD_FILE", "").strip()
            or EmailSettings.auth_password_file)
    channel = environ.get("ZARISH_SLACK_CHANNEL", "").strip()
    if channel:
        out["slack"] = SlackSettings(channel, environ.get("ZARISH_SLACK_API_URL_FILE", "").strip()
                                     or SlackSettings.api_url_file)
    return out


def _email(e: EmailSettings) -> dict[str, Any]:
    cfg: dict[str, Any] = {"to": e.to, "from": e.sender, "smarthost": e.smarthost, "send_resolved": True}
    if e.auth_username:
        cfg["auth_username"] = e.auth_username
        if e.auth_password_file:
            cfg["auth_password_file"] = e.auth_password_file
    return cfg


def _slack(s: SlackSettings) -> dict[str, Any]:
    return {
        "api_url_file": s.api_url_file,
        "channel": s.channel,
        "send_resolved": True,
        "title": '[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }}',
        "text": "{{ range .Alerts }}{{ .Annotations.summary }}\n{{ end }}",
    }


def _receiver(name: str, url: str, email: EmailSettings | None, slack: SlackSettings | None) -> dict[str, Any]:
    rcv: dict[str, Any] = {"name": name, "webhook_configs": [{"url": url, "send_resolved": True}]}
    if email:
        rcv["email_configs"] = [_email(email)]
    if slack:
        rcv["slack_configs"] = [_slack(slack)]
    return rcv


def build_alertmanager_config(catalog: Catalog, webhook_url: str | None = None,
                              email: EmailSettings | None = None, slack: SlackSettings | None = None
                              ) -> dict[str, Any]:
    """The Alertmanager config as a plain dict (webhook_url overrides catalog.alerting.webhook_url)."""
    url = webhook_url or catalog.alerting.webhook_url
    m = catalog.metrics
    env, svc = m.environment_label, m.service_label
    production = catalog.dr.error_ratio.environment
    slo_alerts = "|".join(conventions.slo_burn_alerts(catalog))
    scaled = conventions.timings(catalog)
    route = {
        "receiver": DEFAULT_RECEIVER,
        "group_by": ["alertname", env, svc],
        "group_wait": scaled("30s"),
        "group_interval": scaled("5m"),
        "repeat_interval": scaled("4h"),
        "routes": [
            {"receiver": DR_RECEIVER, "matchers": ['dr_trigger=~".+"'], "group_by": ["alertname", "dr_trigger"],
             "group_wait": scaled("10s"), "repeat_interval": scaled("30m")},
            # Burning budgets outside production open tickets; nobody is woken up for staging.
            {"receiver": TICKET_RECEIVER, "matchers": ['severity="page"', f'{env}=~".+"', f'{env}!="{production}"'],
             "repeat_interval": scaled("12h")},
            {"receiver": PAGE_RECEIVER, "matchers": ['severity=~"page|critical"'], "repeat_interval": scaled("1h")},
            {"receiver": TICKET_RECEIVER, "matchers": ['severity=~"ticket|warning"'],
             "repeat_interval": scaled("12h")},
        ],
    }
    inhibit = [
        {   # a firing page tier silences the ticket tier of the same SLO
            "source_matchers": ['severity="page"', f'alertname=~"{slo_alerts}"'],
            "target_matchers": ['severity="ticket"', f'alertname=~"{slo_alerts}"'],
            "equal": ["alertname", env, svc, "slo"],
        },
        {   # the primary region is down: its per-service alerts are symptoms, not news
            "source_matchers": [f'alertname="{conventions.DR_PRIMARY_REGION_UNAVAILABLE}"'],
            "target_matchers": [f'{svc}=~".+"'],
            "equal": ["region"],
        },
    ]
    config: dict[str, Any] = {
        "global": {"resolve_timeout": "5m"},
        "route": route,
        "inhibit_rules": inhibit,
        "receivers": [
            _receiver(DEFAULT_RECEIVER, url, None, None),
            _receiver(PAGE_RECEIVER, url, email, slack),
            _receiver(TICKET_RECEIVER, url, email, None),
            _receiver(DR_RECEIVER, url, email, slack),
        ],
    }
    if maintenance.recurring(catalog):
        dr_route, *service_routes = route["routes"]
        route["routes"] = maintenance.muted_routes(catalog, dr_route, service_routes)
        config["time_intervals"] = maintenance.time_intervals(catalog)
    return config
