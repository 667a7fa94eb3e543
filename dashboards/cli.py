"""`zarish-obs dashboards`: Grafana dashboards built with grafanalib, generated or uploaded."""

from zarish_obs.cliutil import new_app

app = new_app("dashboards", "Grafana dashboards: generate JSON/ConfigMaps or upload through Grafana's HTTP API.")
