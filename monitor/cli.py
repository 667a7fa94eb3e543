"""`zarish-obs monitor`: the cron-ready SLO and DR-trigger check."""

from zarish_obs.cliutil import new_app

app = new_app("monitor", "Check SLOs and DR triggers against Prometheus; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.")
