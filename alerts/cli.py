"""`zarish-obs alerts`: recording rules, SLO burn-rate and DR alerts, their promtool tests, Alertmanager."""

from zarish_obs.cliutil import new_app

app = new_app("alerts", "Prometheus recording rules, SLO burn-rate and DR-trigger alerts, Alertmanager config.")
