"""zarish_obs.monitor: the cron-ready SLO and DR-trigger check (`zarish-obs monitor check|schedule`).

In-process use: `zarish_obs.monitor.check.run_check(catalog, prometheus_url, at=None, environment=None)`
returns the same JSON report `monitor check --format json` prints.
"""
