"""Deterministic metric history in OpenMetrics text, backfilled with `promtool tsdb create-blocks-from`.

Timestamps are whole seconds (promtool reads seconds; milliseconds silently land in the future),
each series is written in ascending time order, and the file ends with `# EOF`.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from zarish_obs.procs import binary
from zarish_obs.promql import escape_label_value


@dataclass
class Family:
    """One metric family: name (without _total for counters), type, and its series' samples."""

    name: str
    type: str  # counter | gauge | histogram | unknown
    series: list[tuple[str, dict[str, str], list[tuple[int, float]]]] = field(default_factory=list)

    def add(self, sample_name: str, labels: Mapping[str, str], samples: Iterable[tuple[int, float]]) -> None:
        self.series.append((sample_name, dict(labels), list(samples)))


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{escape_label_value(v)}"' for k, v in labels.items()) + "}"


def _value(v: float) -> str:
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(float(v))


def render(families: Iterable[Family]) -> str:
    out: list[str] = []
    for fam in families:
        out.append(f"# TYPE {fam.name} {fam.type}")
        for sample_name, labels, samples in fam.series:
            prev = None
            lab = _labels(labels)
            for ts, v in samples:
                if prev is not None and ts <= prev:
                    raise ValueError(f"{sample_name}{lab}: samples must be strictly ascending in time")
                prev = ts
                out.append(f"{sample_name}{lab} {_value(v)} {int(ts)}")
    out.append("# EOF")
    return "\n".join(out) + "\n"


def write(path: Path, families: Iterable[Family]) -> Path:
    path.write_text(render(families), encoding="utf-8")
    return path


def backfill(openmetrics_file: Path, data_dir: Path, max_block_duration: str | None = None) -> None:
    """Create TSDB blocks in `data_dir` from the file (raises with promtool's own message on failure).

    promtool cuts 2h blocks by default; days of history backfill about 50x faster as one large block
    (`max_block_duration="2400h"`, a hidden flag of promtool 2.42).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    extra = [f"--max-block-duration={max_block_duration}"] if max_block_duration else []
    proc = subprocess.run([binary("promtool"), "tsdb", "create-blocks-from", "openmetrics", *extra,
                           str(openmetrics_file), str(data_dir)], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"promtool backfill failed: {proc.stderr.strip()[-2000:]}")


def grid(start: int, end: int, step: int) -> list[int]:
    return list(range(start, end + 1, step))


def counter(times: list[int], rate_at: Callable[[int], float], start_value: float = 0.0) -> list[tuple[int, float]]:
    """A counter that grows by rate_at(t) per second between consecutive samples."""
    out = []
    value = start_value
    prev = None
    for t in times:
        if prev is not None:
            value += rate_at(prev) * (t - prev)
        out.append((t, value))
        prev = t
    return out
