"""zarish_obs.alerts."""
