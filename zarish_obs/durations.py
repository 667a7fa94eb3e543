"""Prometheus-style durations (`5m`, `1h30m`, `30d`), the only time syntax the catalog accepts."""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_WHOLE = re.compile(r"^(?:\d+(?:ms|s|m|h|d|w|y))+$")
_ORDER = ["y", "w", "d", "h", "m", "s", "ms"]


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration; raises ValueError on anything else."""
    if not isinstance(text, str) or not _WHOLE.match(text):
        raise ValueError(f"{text!r} is not a duration like 30s, 5m, 1h or 30d")
    parts = _PART.findall(text)
    units = [u for _, u in parts]
    if [_ORDER.index(u) for u in units] != sorted(_ORDER.index(u) for u in set(units)) or len(set(units)) != len(
        units
    ):
        raise ValueError(f"{text!r}: units must appear once each, largest first")
    seconds = sum(int(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise ValueError(f"{text!r} must be longer than zero")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest Prometheus duration for a whole number of seconds (or milliseconds)."""
    ms = round(seconds * 1000)
    if ms <= 0:
        raise ValueError("duration must be positive")
    out = []
    for unit in ("d", "h", "m", "s", "ms"):
        size = round(_UNITS[unit] * 1000)
        if ms >= size:
            n, ms = divmod(ms, size)
            out.append(f"{n}{unit}")
    return "".join(out)
