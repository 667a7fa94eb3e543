"""zarish_obs.scrape: Prometheus configuration (scrape jobs, probes, alerting, remote_write)."""
