"""zarish_obs.monitor."""
