"""When the catalog's maintenance windows are open, as PromQL on Prometheus's time functions.

Prometheus's `time()`, `day_of_week()`, `day_of_month()` and `month()` read UTC. Each recurring window is
turned into pieces "u mod 86400 < length, on a day the cron or weekday test accepts", where u is unix time
shifted by the zone's UTC offset minus the piece's local start: the shifted clock's midnight is the
window's opening, so one comparison bounds the time of day and the day functions name the opening's day
(a window that crosses midnight stays one piece). One-off windows are plain unix-second bounds.

A fixed offset is all PromQL can apply, so recurring windows are accepted only in zones whose UTC offset
does not change (Asia/Dhaka is +06:00 all year): in a zone with daylight saving the rules would be an hour
off for half the year, so generation stops with exit 65 instead. One-off windows work in every zone.

Every condition also evaluates in Python (`Opening.holds`), so tests can compare the PromQL, this module
and `zarish_obs.maintenance` (the absolute occurrences everything else uses) instant by instant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from zarish_obs import conventions, maintenance
from zarish_obs.durations import parse_duration
from zarish_obs.errors import ExitCode, ZarishError
from zarish_obs.promql import Matcher, escape_label_value, number, regex_literal

if TYPE_CHECKING:
    from zarish_obs.catalog import Catalog, MaintenanceWindow

DAY = 86400
# A 5-minute increase recorded at t covers (t-5m, t]: it is excluded when its middle lies in a window, so
# a window on whole 5 minutes excludes exactly its own increases, and a ragged edge goes with the side
# that holds most of the increase's five minutes.
TILE_MIDDLE = -conventions.TILE_SECONDS // 2
MAX_PIECES = 64  # a cron schedule that needs more is not a maintenance window
_OFFSET_YEARS = range(2025, 2046)  # years whose UTC offsets must agree for a recurring window
_PROM_WEEKDAY = {name: (i + 1) % 7 for i, name in enumerate(maintenance.WEEKDAY_INDEX)}  # sunday = 0


def _ranges(values: Sequence[int]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for v in sorted(set(values)):
        if out and v == out[-1][1] + 1:
            out[-1][1] = v
        else:
            out.append([v, v])
    return [(a, b) for a, b in out]


def _member(fn: str, vec: str, values: Sequence[int]) -> str:
    parts = [f"{fn}({vec}) == {a}" if a == b else f"{fn}({vec}) >= {a} <= {b}" for a, b in _ranges(values)]
    return parts[0] if len(parts) == 1 else "(" + " or ".join(parts) + ")"


@dataclass(frozen=True)
class DayTest:
    """Which days a piece opens on; None accepts any. `either`: cron's rule when both the day of the month
    and the weekday are restricted (a day matching one of them runs)."""

    months: tuple[int, ...] | None = None
    doms: tuple[int, ...] | None = None
    dows: tuple[int, ...] | None = None  # 0 = Sunday, as day_of_week() counts
    either: bool = False

    def exprs(self, vec: str) -> list[str]:
        out = [_member("month", vec, self.months)] if self.months else []
        dom = _member("day_of_month", vec, self.doms) if self.doms else None
        dow = _member("day_of_week", vec, self.dows) if self.dows else None
        if self.either and dom and dow:
            out.append(f"({dom} or {dow})")
        else:
            out += [e for e in (dom, dow) if e]
        return out

    def holds(self, day: datetime) -> bool:
        if self.months and day.month not in self.months:
            return False
        dom = day.day in self.doms if self.doms else None
        dow = (day.weekday() + 1) % 7 in self.dows if self.dows else None
        if self.either and dom is not None and dow is not None:
            return dom or dow
        return dom is not False and dow is not False


@dataclass(frozen=True)
class Piece:
    """Open while `(t + shift) mod 86400 < length` on a day `days` accepts (the day of t + shift)."""

    shift: int
    length: int
    days: DayTest

    def expr(self, at: int) -> str:
        vec = _clock(self.shift + at)
        parts = [f"{vec} % {DAY} < {self.length}"] if self.length < DAY else []
        parts += self.days.exprs(vec)
        return " and ".join(parts or ["vector(1)"])

    def holds(self, t: float) -> bool:
        u = t + self.shift
        return u % DAY < self.length and self.days.holds(datetime.fromtimestamp(u, UTC))


@dataclass(frozen=True)
class Span:
    """A one-off window: [start, end) in unix seconds."""

    start: float
    end: float

    def expr(self, at: int) -> str:
        return f"{_clock(at)} >= {number(self.start)} < {number(self.end)}"

    def holds(self, t: float) -> bool:
        return self.start <= t < self.end


@dataclass(frozen=True)
class Opening:
    """When one window is open."""

    window: str
    parts: tuple[Piece | Span, ...]

    def expr(self, at: int = 0) -> str:
        """A label-less vector while open, empty otherwise; `at` shifts the instant tested (seconds). No window
        is open before conventions.MAINTENANCE_SINCE (1970-01-02): the generated promtool tests of every other
        alert run on 1970-01-01, and a window open then would mute what they expect to fire."""
        inner = " or ".join(f"({p.expr(at)})" for p in self.parts)
        return f"({inner}) and on() ({_clock(at)} >= {conventions.MAINTENANCE_SINCE})"

    def holds(self, t: float) -> bool:
        return t >= conventions.MAINTENANCE_SINCE and any(p.holds(t) for p in self.parts)


def _clock(shift: int) -> str:
    if shift == 0:
        return "vector(time())"
    return f"vector(time() {'+' if shift > 0 else '-'} {abs(shift)})"


def fixed_offset(catalog: Catalog, what: str) -> int:
    """The zone's UTC offset in seconds; exit 65 when it changes over the years (daylight saving)."""
    tz = conventions.report_timezone(catalog)
    offsets = set()
    for year in _OFFSET_YEARS:
        for month in (1, 4, 7, 10):
            offset = datetime(year, month, 15, 12, tzinfo=tz).utcoffset()
            offsets.add(int(offset.total_seconds()) if offset is not None else 0)
    if len(offsets) != 1:
        raise ZarishError(f"maintenance.{what}: recurring windows need a time zone with a fixed UTC offset "
                          f"(Prometheus's time functions are UTC); {catalog.timezone} changes offset, so use "
                          "one-off windows (start/end) there", ExitCode.DATAERR)
    return offsets.pop()


def _cron_pieces(window: MaintenanceWindow, offset: int) -> list[Piece]:
    from croniter import croniter  # only cron windows need it

    assert window.schedule is not None and window.duration is not None
    fields, nth = croniter.expand(window.schedule)
    minutes, hours, doms, months, dows = fields
    if nth or "l" in doms or "l" in dows:
        raise ZarishError(f"maintenance.{window.name}.schedule: {window.schedule!r} uses L or # (last day, nth "
                          "weekday), which Prometheus's time functions cannot express; list the days instead",
                          ExitCode.DATAERR)

    def restricted(values: list[object]) -> tuple[int, ...] | None:
        return None if values == ["*"] else tuple(int(v) for v in values)  # type: ignore[call-overload]

    days = DayTest(restricted(months), restricted(doms), restricted(dows),
                   either=restricted(doms) is not None and restricted(dows) is not None)
    all_minutes = range(60) if minutes == ["*"] else minutes
    all_hours = range(24) if hours == ["*"] else hours
    starts = sorted(int(h) * 3600 + int(m) * 60 for h in all_hours for m in all_minutes)
    length = round(parse_duration(window.duration))
    runs: list[list[int]] = []
    for s in starts:
        if runs and s <= runs[-1][1]:
            runs[-1][1] = s + length
        else:
            runs.append([s, s + length])
    pieces = []
    for first, end in runs:
        for k in range(0, end - first, DAY):
            pieces.append(Piece(offset - first - k, min(DAY, end - first - k), days))
    if len(pieces) > MAX_PIECES:
        raise ZarishError(f"maintenance.{window.name}.schedule: {window.schedule!r} with duration "
                          f"{window.duration} opens {len(pieces)} separate times a day (at most {MAX_PIECES})",
                          ExitCode.DATAERR)
    return pieces


def opening(catalog: Catalog, window: MaintenanceWindow) -> Opening:
    if window.kind == "oneoff":
        (occ,) = maintenance.occurrences(catalog, window, float("-inf"), float("inf"))
        return Opening(window.name, (Span(occ.start, occ.end),))
    offset = fixed_offset(catalog, window.name)
    if window.kind == "cron":
        return Opening(window.name, tuple(_cron_pieces(window, offset)))
    assert window.weekdays is not None and window.from_ is not None
    hours, minutes = window.from_.split(":")
    start = int(hours) * 3600 + int(minutes) * 60
    days = DayTest(dows=tuple(sorted(_PROM_WEEKDAY[d] for d in window.weekdays)))
    return Opening(window.name, (Piece(offset - start, maintenance.weekly_length(window), days),))


def slo_windows(catalog: Catalog) -> list[MaintenanceWindow]:
    """The windows whose minutes the SLOs skip."""
    return [w for w in catalog.maintenance if w.exclude_from_slo]


def _pair(catalog: Catalog, environment: str, service: str) -> str:
    m = catalog.metrics
    inner = f'label_replace(vector(1), "{m.environment_label}", "{escape_label_value(environment)}", "", "")'
    return f'label_replace({inner}, "{m.service_label}", "{escape_label_value(service)}", "", "")'


def active(catalog: Catalog, at: int = 0) -> str | None:
    """1 per (environment, service) while a window that excludes its minutes from the SLOs is open at
    time() + `at`; no series otherwise. None when the catalog has no such window. Windows that cover the
    same services share one term."""
    by_cover: dict[tuple[tuple[str, str], ...], list[MaintenanceWindow]] = {}
    for w in slo_windows(catalog):
        pairs = tuple((e, s) for e in maintenance.environments(catalog, w) for s in maintenance.services(catalog, w))
        by_cover.setdefault(pairs, []).append(w)
    terms = []
    for pairs, windows in by_cover.items():
        labelled = " or ".join(_pair(catalog, e, s) for e, s in pairs)
        cond = " or ".join(f"({opening(catalog, w).expr(at)})" for w in windows)
        terms.append(f"({labelled}) and on() ({cond})")
    if not terms:
        return None
    return terms[0] if len(terms) == 1 else " or ".join(f"({t})" for t in terms)


def unless_active(catalog: Catalog, expr: str, at: int = 0) -> str:
    """`expr` (per environment and service) without the series of services in maintenance at time() + `at`;
    `expr` itself when the catalog has no window that excludes minutes from the SLOs."""
    cover = active(catalog, at)
    if cover is None:
        return expr
    m = catalog.metrics
    return f"({expr}) unless on({m.environment_label}, {m.service_label}) ({cover})"


def unless_recorded_active(catalog: Catalog, expr: str) -> str:
    """`expr` muted for services whose recorded maintenance series is 1 (for alerts, which read recordings)."""
    if not slo_windows(catalog):
        return expr
    m = catalog.metrics
    return f"({expr})\nunless on({m.environment_label}, {m.service_label})\n{conventions.MAINTENANCE_ACTIVE}"


def dr_windows(catalog: Catalog) -> list[MaintenanceWindow]:
    """Windows that may hide the DR triggers: `suppress_dr` over the DR plan's environment."""
    env = catalog.dr.error_ratio.environment
    return [w for w in catalog.maintenance if w.suppress_dr and env in maintenance.environments(catalog, w)]


def unless_dr_suppressed(catalog: Catalog, expr: str) -> str:
    """A label-less DR condition, empty while a `suppress_dr` window over the DR environment is open."""
    windows = dr_windows(catalog)
    if not windows:
        return expr
    cond = " or ".join(f"({opening(catalog, w).expr()})" for w in windows)
    return f"({expr}) unless on() ({cond})"


def open_at(catalog: Catalog, window: MaintenanceWindow, t: float) -> bool:
    """Whether the window is open at unix time `t`, by the same pieces the PromQL tests."""
    return opening(catalog, window).holds(t)


def next_opening(catalog: Catalog, window: MaintenanceWindow, since: float, horizon: float = 8 * DAY
                 ) -> tuple[float, float] | None:
    """The first whole opening [start, end) that starts in [since, since + horizon)."""
    before = float("-inf") if window.kind == "oneoff" else since - DAY  # recurring windows last under a day
    for occ in maintenance.occurrences(catalog, window, before, since + horizon):
        if since <= occ.start:
            whole = maintenance.occurrences(catalog, window, occ.start, occ.start + 2 * DAY)
            return (occ.start, whole[0].end) if window.kind != "oneoff" else (occ.start, occ.end)
    return None




# -- dashboard annotations ----------------------------------------------------------------------------------
MATCH_MARK = "zarish_matched"  # temporary label of `matching`, removed before the result leaves it


def matching(expr: str, matchers: Sequence[Matcher]) -> str:
    """`expr` keeping only the series whose labels satisfy `matchers`, exactly as a selector would (label_replace
    anchors its regex like `=~`). For computed vectors, such as a window's own pairs, that a selector cannot
    narrow but a dashboard's variables must."""
    out = expr
    for m in matchers:
        pattern = m.value if m.op in ("=~", "!~") else regex_literal(m.value)
        marked = (f'label_replace({out}, "{MATCH_MARK}", "1", "{m.name}", '
                  f'"{escape_label_value(pattern)}")')
        keep = "unless" if m.op in ("=", "=~") else "and"  # vector(1) matches the unmarked series
        out = f'label_replace({marked} {keep} on({MATCH_MARK}) vector(1), "{MATCH_MARK}", "", "", "")'
    return out


def covered(catalog: Catalog, window: MaintenanceWindow, at: int = 0) -> str:
    """1 per (environment, service) the window covers while it is open at time() + `at`, from time functions
    alone (whatever its exclude_from_slo)."""
    pairs = " or ".join(_pair(catalog, e, s) for e in maintenance.environments(catalog, window)
                        for s in maintenance.services(catalog, window))
    return f"({pairs}) and on() ({opening(catalog, window).expr(at)})"


def annotation(catalog: Catalog, window: MaintenanceWindow, matchers: Sequence[Matcher] = ()) -> str:
    """What a dashboard marks for one window: 1 per covered (environment, service) that `matchers` select, while
    the window is open. From the time functions, so the region is exact to the second and needs no recording
    rule: the recorded maintenance series (which carries no window name) runs up to one evaluation interval
    late at both edges, since a rule group evaluates at its own offset within the interval."""
    return matching(covered(catalog, window), matchers)


__all__ = ["MATCH_MARK", "TILE_MIDDLE", "DayTest", "Opening", "Piece", "Span", "active", "annotation", "covered",
           "dr_windows", "fixed_offset", "matching", "next_opening", "open_at", "opening", "slo_windows",
           "unless_active", "unless_dr_suppressed", "unless_recorded_active"]
