"""The multiwindow, multi-burn-rate scheme of the SRE Workbook, shared by alerts, dashboards and monitor.

A tier spends `budget_share` of the error budget within `long_window`; its burn-rate factor is
budget_share x SLO period / long window, so a 30d SLO gets 14.4/6/3/1 and a 28d SLO 13.44/5.6/2.8/0.933.
"""

from __future__ import annotations

from dataclasses import dataclass

from zarish_obs.catalog import Alerting, BurnTierSettings
from zarish_obs.durations import format_duration, parse_duration

# Ratio windows recorded for every SLO; the SLO window itself is added per catalog.
ALERT_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
LONG_WINDOW_SECONDS = 86400  # windows of a day or more come from the recorded 5m increases


@dataclass(frozen=True)
class BurnTier:
    name: str  # page_fast | page_slow | ticket_fast | ticket_slow (catalog alerting.<name>)
    severity: str  # page | ticket
    long_window: str
    short_window: str
    budget_share: float

    def factor(self, slo_window: str) -> float:
        return round(self.budget_share * parse_duration(slo_window) / parse_duration(self.long_window), 4)

    def settings(self, alerting: Alerting) -> BurnTierSettings:
        return getattr(alerting, self.name)


TIERS = (
    BurnTier("page_fast", "page", "1h", "5m", 0.02),
    BurnTier("page_slow", "page", "6h", "30m", 0.05),
    BurnTier("ticket_fast", "ticket", "1d", "2h", 0.10),
    BurnTier("ticket_slow", "ticket", "3d", "6h", 0.10),
)


def ratio_windows(slo_windows: set[str] | list[str]) -> list[str]:
    """Every window a ratio is recorded for, shortest first."""
    windows = set(ALERT_WINDOWS) | set(slo_windows)
    return sorted(windows, key=parse_duration)


def is_long(window: str) -> bool:
    return parse_duration(window) >= LONG_WINDOW_SECONDS


def normalise(window: str) -> str:
    return format_duration(parse_duration(window))
