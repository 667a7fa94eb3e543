"""zarish_obs.stack: the local observability stack and the demo."""
