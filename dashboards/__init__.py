"""zarish_obs.dashboards."""
