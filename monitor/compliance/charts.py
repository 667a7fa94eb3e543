"""The report's charts as inline SVG: a daily SLI against the objective and the error-budget burn-down.

matplotlib is imported inside the functions (the CLI's start-up must not pay for it) and drawn through an
explicit Agg canvas on a bare Figure, so no pyplot state or global backend is touched; the SVG settings
live in an rc_context for the duration of one save. Glyphs are paths (no font is referenced), the hash
salt is fixed and the metadata dropped, so the same figures give the same bytes. The output is cleaned for
embedding in HTML: no XML prolog, DOCTYPE, metadata, comments or namespace URLs, and every id prefixed so
several charts can share one document.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from zarish_obs.errors import ExitCode, ZarishError

WIDTH_IN, HEIGHT_IN = 3.6, 2.15
INK, MUTED, GRID = "#1d2733", "#5b6672", "#e3e7ec"
BLUE, RED, AMBER = "#1f5f99", "#b3261e", "#b26a00"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_RC = {
    "svg.fonttype": "path",
    "svg.hashsalt": "zarish-obs-report",
    "svg.image_inline": True,
    "font.family": "DejaVu Sans",
    "font.size": 7.5,
    "axes.edgecolor": MUTED,
    "axes.labelcolor": INK,
    "axes.linewidth": 0.6,
    "xtick.color": MUTED,
    "ytick.color": MUTED,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "path.simplify": False,
}


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except (TypeError, ValueError):
        raise ZarishError(f"report daily date {text!r}: not YYYY-MM-DD", ExitCode.DATAERR) from None


def _label(day: date) -> str:
    return f"{_MONTHS[day.month - 1]} {day.day}"


def _number(value: Any) -> float | None:
    if value is None:
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def _ticks(days: Sequence[date], offset: float) -> tuple[list[float], list[str]]:
    step = max(1, math.ceil(len(days) / 7))
    idx = range(0, len(days), step)
    return [i + offset for i in idx], [_label(days[i]) for i in idx]


def _axes(fig: Any) -> Any:
    ax = fig.add_axes((0.15, 0.14, 0.81, 0.78))
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color=GRID, linewidth=0.6)
    ax.set_axisbelow(True)
    ax.tick_params(length=2.5, pad=2)
    return ax


def _figure() -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def daily_sli_svg(daily: Sequence[Mapping[str, Any]], objective: float, prefix: str) -> str:
    """Each local day's SLI (percent) against the objective line; days below it in red, no-traffic days absent."""
    import matplotlib
    from matplotlib.ticker import FuncFormatter

    days = [_day(d["date"]) for d in daily]
    slis = [_number(d.get("sli")) for d in daily]
    with matplotlib.rc_context(_RC):
        fig = _figure()
        ax = _axes(fig)
        xs = [i + 0.5 for i in range(len(days))]
        ys = [math.nan if s is None else s * 100 for s in slis]
        marker = "o" if len(days) <= 45 else None
        ax.plot(xs, ys, color=BLUE, linewidth=1.2, marker=marker, markersize=2.6, zorder=3)
        low = [(x, y) for x, y in zip(xs, ys, strict=True) if not math.isnan(y) and y < objective]
        if low:
            ax.plot([p[0] for p in low], [p[1] for p in low], linestyle="none", marker="o", markersize=3.4,
                    color=RED, zorder=4)
        ax.axhline(objective, color=AMBER, linewidth=1, linestyle=(0, (4, 2)), zorder=2)
        known = [y for y in ys if not math.isnan(y)]
        bottom = min([*known, objective])
        span = max(100 - bottom, 0.01)
        ax.set_ylim(bottom - span * 0.12, 100 + span * 0.06)
        ax.set_xlim(0, max(len(days), 1))
        digits = max(0, min(3, -math.floor(math.log10(span)) + 1))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.{digits}f}%"))
        ticks, labels = _ticks(days, 0.5)
        ax.set_xticks(ticks, labels)
        return _svg(fig, prefix, "Daily SLI against the objective")


def burn_down_svg(daily: Sequence[Mapping[str, Any]], prefix: str) -> str:
    """Budget remaining (percent of the period's budget) at the end of each local day, from 100% at the start,
    with the even-spend line for reference; below zero the budget is overspent."""
    import matplotlib
    from matplotlib.ticker import FuncFormatter

    days = [_day(d["date"]) for d in daily]
    remaining = [_number(d.get("budget_remaining")) for d in daily]
    with matplotlib.rc_context(_RC):
        fig = _figure()
        ax = _axes(fig)
        n = max(len(days), 1)
        xs = [0.0, *[i + 1.0 for i in range(len(days))]]
        ys = [100.0, *[math.nan if r is None else r * 100 for r in remaining]]
        ax.plot([0, n], [100, 0], color=MUTED, linewidth=0.8, linestyle=(0, (2, 2)), zorder=2)
        ax.plot(xs, ys, color=BLUE, linewidth=1.3, zorder=3)
        ax.fill_between(xs, ys, 0, where=[not math.isnan(y) and y >= 0 for y in ys], color=BLUE, alpha=0.12,
                        linewidth=0, interpolate=True)
        ax.fill_between(xs, ys, 0, where=[not math.isnan(y) and y < 0 for y in ys], color=RED, alpha=0.25,
                        linewidth=0, interpolate=True)
        ax.axhline(0, color=RED, linewidth=0.8, zorder=2)
        known = [y for y in ys if not math.isnan(y)]
        ax.set_ylim(min(-5.0, min(known) * 1.08), 105)
        ax.set_xlim(0, n)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.0f}%"))
        ticks, labels = _ticks(days, 0.0)
        ax.set_xticks(ticks, labels)
        return _svg(fig, prefix, "Error budget remaining")


_PROLOG = re.compile(r"<\?xml[^>]*\?>|<!DOCTYPE[^>]*>|<metadata>.*?</metadata>|<!--.*?-->", re.S)
_NAMESPACES = re.compile(r'\s+xmlns(:\w+)?="[^"]*"')
_ID = re.compile(r'\bid="([^"]+)"')
_REF = re.compile(r'(url\(#|href="#)([^)"]+)')
_SIZE = re.compile(r'<svg([^>]*?)\swidth="([\d.]+)pt"\s+height="([\d.]+)pt"')


def _svg(fig: Any, prefix: str, title: str) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    return inline_svg(buf.getvalue(), prefix, title)


def inline_svg(svg: str, prefix: str, title: str) -> str:
    """matplotlib's SVG file as an element for an HTML document (see the module docstring)."""
    if not re.fullmatch(r"[A-Za-z][\w-]*", prefix):
        raise ZarishError(f"chart id prefix {prefix!r}: letters, digits, - and _ only", ExitCode.SOFTWARE)
    svg = _PROLOG.sub("", svg).replace(" \n", " ")
    svg = _NAMESPACES.sub("", svg)
    svg = svg.replace("xlink:href=", "href=")
    svg = _ID.sub(lambda m: f'id="{prefix}-{m.group(1)}"', svg)
    svg = _REF.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", svg)
    svg = _SIZE.sub(lambda m: f'<svg{m.group(1)} class="chart" role="img" aria-label="{title}" '
                              f'width="{m.group(2)}pt" height="{m.group(3)}pt"', svg, count=1)
    return "\n".join(line for line in svg.strip().splitlines() if line.strip())
