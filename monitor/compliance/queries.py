"""Every query the compliance report sends, named; pure builders over zarish_obs.promql's building blocks.

The plan's size depends on the period (day runs, chunks) and on its maintenance pieces (one instant query per
PIECES_PER_QUERY of them), never on the number of services: each signal is one expression grouped by
(environment, service) for the whole environment, services sharing an objective grouped by regex matchers
as `Signals` does. Answers stay bounded for a thousand services over a month:
series that would hold every minute of every service are filtered on the server (burning tiles only,
coverage edges only, peak points only, firing alerts and held DR conditions only).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from zarish_obs import conventions, promql
from zarish_obs.catalog import Catalog, Service
from zarish_obs.durations import parse_duration
from zarish_obs.monitor.client import Instant, Range, chunks
from zarish_obs.monitor.compliance import windows as maint
from zarish_obs.monitor.compliance.period import DAY, MINUTE, Day, Period

# Labels the report adds to tell the parts of one answer apart; never the catalog's own label names.
PART_LABEL = "report_part"
SOURCE_LABEL = "report_source"  # "raw" on series computed from the raw counters
RAW = "raw"
SLO_LABEL = conventions.SLO_LABEL
TRIGGER_LABEL = conventions.DR_TRIGGER_LABEL
PIECE_LABEL = "report_piece"  # "<start>-<end>" unix seconds of a maintenance piece (windows.Piece.label)
TILE = conventions.TILE_SECONDS
PEAK_PIECE = 7 * DAY  # the peak's subquery holds every minute of every service of one piece in memory
# Burning tiles are asked for a few days at a time: a month of raw 5-minute tiles of 1,000 services in one
# query outlasts Prometheus's default 2-minute query timeout.
TILE_PIECE = 4 * DAY
MINUTE_PIECE = 2 * DAY
QUANTILES = {"p50": 0.5, "p95": 0.95}
# Maintenance pieces per query: one term each (a few hundred characters per SLO kind), so a month of nightly
# windows stays a couple of queries of a size every proxy accepts in a URL.
PIECES_PER_QUERY = 16

Spec = Instant | Range


@dataclass(frozen=True)
class DayRun:
    """Local days evaluated by one query: consecutive whole days one step apart, or one partial day."""

    days: tuple[Day, ...]

    @property
    def window(self) -> float:
        return self.days[0].seconds

    @property
    def dates(self) -> list[date]:
        return [d.date for d in self.days]


def day_runs(period: Period) -> list[DayRun]:
    """Whole days ending exactly a day apart share one range query; a cut or DST day is a run of its own."""
    runs: list[list[Day]] = []
    for day in period.days():
        last = runs[-1][-1] if runs else None
        if last is not None and day.whole and last.whole and day.end - last.end == DAY:
            runs[-1].append(day)
        else:
            runs.append([day])
    return [DayRun(tuple(r)) for r in runs]


def coverage_window(catalog: Catalog) -> float:
    """A minute counts as covered when the request counter had a sample within this long before its end."""
    return max(float(MINUTE), 2 * parse_duration(catalog.prometheus.scrape_interval))


def seconds(value: float) -> str:
    return f"{int(value)}s"


def _label(expr: str, name: str, value: str) -> str:
    return f'label_replace({expr}, "{name}", "{value}", "", "")'


def parts(named: dict[str, str | None]) -> str | None:
    """Several expressions as one answer, each series labelled report_part=<name>."""
    tagged = [_label(expr, PART_LABEL, name) for name, expr in named.items() if expr]
    return " or ".join(tagged) if tagged else None


def _per_kind(catalog: Catalog, build: Callable[[str], str | None]) -> str | None:
    """One expression per SLO kind, labelled slo=<kind> like the recorded SLO series, joined."""
    exprs = [(kind, build(kind)) for kind in conventions.slo_kinds(catalog)]
    tagged = [_label(expr, SLO_LABEL, kind) for kind, expr in exprs if expr]
    return " or ".join(tagged) if tagged else None


class Builder:
    """The report's expressions for one catalog and environment."""

    def __init__(self, catalog: Catalog, environment: str):
        self.catalog = catalog
        self.s = promql.signals(catalog)
        self.env = [self.s.env(environment)]
        m = catalog.metrics
        self.group = [m.environment_label, m.service_label]
        self.on = f"on({', '.join(self.group)})"
        self.on_slo = f"on({', '.join([*self.group, SLO_LABEL])})"

    # -- events ------------------------------------------------------------------------------------------
    def events(self, window: str, services: Sequence[Service] | None = None, at: float | None = None
               ) -> str | None:
        """Total and bad events of every SLO over `window` (ending at `at` when given), per (environment,
        service, slo), raw counters."""
        svcs = self.catalog.services if services is None else services
        return parts({
            "total": _per_kind(self.catalog, lambda k: self.s.slo_total(k, svcs, window, self.env, at)),
            "bad": _per_kind(self.catalog, lambda k: self.s.slo_bad(k, svcs, window, self.env, at)),
        })

    def window_events(self) -> str | None:
        """Events over each service's own SLO window (services grouped by window)."""
        windows: dict[str, list[Service]] = {}
        for svc in self.catalog.services:
            for _, slo in svc.slo_items():
                windows.setdefault(conventions.normalise(slo.window), []).append(svc)
        exprs = []
        for window, svcs in sorted(windows.items(), key=lambda item: parse_duration(item[0])):
            unique = list({s.name: s for s in svcs}.values())
            expr = self.events(window, unique)
            if expr:
                exprs.append(_label(expr, "report_window", window))
        return " or ".join(exprs) if exprs else None

    def maintenance_events(self, pieces: Sequence[maint.Piece]) -> str | None:
        """Total and bad events of every SLO over each maintenance piece, of the services it covers, labelled
        report_piece=<start>-<end>: the report subtracts them from the figures whose range holds the piece."""
        by_name = {s.name: s for s in self.catalog.services}
        terms = []
        for piece in pieces:
            window = seconds(piece.end - piece.start)
            expr = self.events(window, [by_name[n] for n in piece.services if n in by_name], at=piece.end)
            if expr:
                terms.append(_label(expr, PIECE_LABEL, piece.label))
        return " or ".join(terms) if terms else None

    def requests(self, window: str) -> str:
        sel = promql.selector(self.catalog.metrics.requests_total, self.env)
        return f"sum{promql.by(self.group)} (increase({sel}[{window}]))"

    def latency(self, window: str) -> str | None:
        bucket = promql.selector(f"{self.catalog.metrics.latency_histogram}_bucket", self.env)
        inner = f"sum{promql.by(['le', *self.group])} (increase({bucket}[{window}]))"
        return parts({name: f"histogram_quantile({q}, {inner})" for name, q in QUANTILES.items()})

    # -- incidents ---------------------------------------------------------------------------------------
    def _tile_events(self, kind: str, services: Sequence[Service], bad: bool, window: str) -> str | None:
        """Events of one tile: the recorded 5-minute increase where Prometheus has it, else raw (labelled
        report_source); a shorter tile (the period's last, when it is not whole 5-minute tiles) is raw."""
        raw = (self.s.slo_bad if bad else self.s.slo_total)(kind, services, window, self.env)
        if raw is None:
            return None
        raw = _label(_label(raw, SLO_LABEL, kind), SOURCE_LABEL, RAW)
        if window != conventions.TILE:
            return raw
        recorded_name = conventions.SLO_ERRORS_5M if bad else conventions.SLO_REQUESTS_5M
        sel = promql.selector(recorded_name, [*self.env, promql.Matcher(SLO_LABEL, kind),
                                              self.s.services(s.name for s in services)])
        recorded = f"sum{promql.by([*self.group, SLO_LABEL])} ({sel})"
        return f"({recorded}) or {self.on_slo} {raw}"

    def tiles(self, window: str = conventions.TILE) -> list[str]:
        """The tiles whose burn rate is above 1: per SLO kind one expression of their bad events (part=bad)
        and one of their total events (part=total); services of one kind and objective share one term.
        Four queries rather than one, so Prometheus runs them side by side and none nears its query timeout
        (a month of raw 5-minute tiles of 1,000 services is minutes of work). `group_left()` keeps the left
        side's report_source marker, which a one-to-one `on()` match would drop."""
        groups: dict[tuple[str, float], list[Service]] = {}
        for svc in self.catalog.services:
            for kind, slo in svc.slo_items():
                groups.setdefault((kind, slo.error_budget), []).append(svc)
        bad_terms: dict[str, list[str]] = {}
        total_terms: dict[str, list[str]] = {}
        for (kind, budget), svcs in sorted(groups.items()):
            bad, total = self._tile_events(kind, svcs, True, window), self._tile_events(kind, svcs, False, window)
            if bad is None or total is None:
                continue
            burning = f"({bad}) > {self.on_slo} group_left() (({total}) * {promql.number(budget)})"
            bad_terms.setdefault(kind, []).append(_label(burning, PART_LABEL, "bad"))
            total_terms.setdefault(kind, []).append(
                _label(f"({total}) and {self.on_slo} ({burning})", PART_LABEL, "total"))
        return [" or ".join(terms[kind]) for kind in sorted(bad_terms) for terms in (bad_terms, total_terms)]

    def recorded(self, window: str) -> str:
        """Per SLO kind: how many 5-minute steps of `window` had any recorded SLO series (part=tiles), and how
        many services had one at all (part=services); sources.incidents is read from these."""
        sel = promql.selector(conventions.SLO_REQUESTS_5M, self.env)
        tiles = f"count_over_time((count by ({SLO_LABEL}) ({sel}))[{window}:{conventions.TILE}])"
        svcs = f"count by ({SLO_LABEL}) (count{promql.by([*self.group, SLO_LABEL])} (last_over_time({sel}[{window}])))"
        return parts({"tiles": tiles, "services": svcs}) or ""

    # -- traffic -----------------------------------------------------------------------------------------
    def rate5m(self) -> str:
        """Requests/s over 5m: the recorded rate where present, raw (labelled report_source) otherwise."""
        recorded = f"sum{promql.by(self.group)} ({promql.selector(conventions.REQUEST_RATE, self.env)})"
        return f"({recorded}) or {self.on} {_label(self.s.request_rate(self.env), SOURCE_LABEL, RAW)}"

    def peak(self, start: float, end: float) -> str:
        """The minutes of [start, end] at which each service's 5m request rate reached its highest value."""
        rate = self.rate5m()
        highest = f"max{promql.by(self.group)} (max_over_time(({rate})[{seconds(end - start)}:1m] @ {int(end)}))"
        return f"({rate}) >= {self.on} group_left() ({highest})"

    # -- coverage ----------------------------------------------------------------------------------------
    def covered(self, offset: str = "") -> str:
        """Per service, the series of its request counter with a sample within the coverage window (for a
        service with only ratio SLIs, of the first selector of its first ratio's total query)."""
        sel = promql.selector(self.catalog.metrics.requests_total, self.env)
        window = seconds(coverage_window(self.catalog))
        http = f"count{promql.by(self.group)} (count_over_time({sel}[{window}]{offset}))"
        ratio_only = [self.s.ratio_samples(svc, window, self.env, offset) for svc in self.catalog.services
                      if not svc.http_slos]
        if not any(ratio_only):
            return http
        return "(" + " or ".join([f"({http})", *(f"({e})" for e in ratio_only if e)]) + ")"

    def coverage_edges(self) -> str:
        """Minutes at whose end a service's coverage began (part=up) or ended (part=down)."""
        now, before = self.covered(), self.covered(" offset 1m")
        return parts({"up": f"{now} unless {before}", "down": f"{before} unless {now}"}) or ""

    # -- alerts and DR -----------------------------------------------------------------------------------
    def alerts(self) -> str:
        mine = promql.firing_alerts(self.env)
        dr = promql.firing_alerts([promql.Matcher(TRIGGER_LABEL, "", "!=")])
        return f"{mine} or {dr}"

    def dr_conditions(self) -> str:
        """Each DR trigger's condition (the monitor's and the alert rules'), present while it holds."""
        c = self.catalog
        conditions = {
            "error_ratio": promql.dr_error_ratio_high(c),
            "replication_lag": promql.dr_replication_lag_high(c),
            "primary_region_unavailable": promql.dr_primary_region_down(c),
            "manual": promql.dr_manual_triggered(c),
        }
        return " or ".join(_label(cond.expr, TRIGGER_LABEL, name) for name, cond in conditions.items())


def plan(catalog: Catalog, environment: str, period: Period) -> dict[str, Spec]:
    """Every query of one report, by name; the count depends on the period's days and length and on how many
    maintenance pieces (window occurrences cut at day boundaries) fall in it, never on the services."""
    b = Builder(catalog, environment)
    start, end = period.start, period.end
    whole = seconds(period.seconds)
    out: dict[str, Spec] = {}

    def add(name: str, expr: str | None, spec: Spec) -> None:
        if expr:
            out[name] = dataclasses.replace(spec, expr=expr)

    add("events", b.events(whole), Instant("", end))
    add("window_events", b.window_events(), Instant("", end))
    add("requests", b.requests(whole), Instant("", end))
    pieces = maint.pieces(catalog, period, maint.covered(catalog, environment, period))
    for i in range(0, len(pieces), PIECES_PER_QUERY):
        add(f"maintenance_events:{i // PIECES_PER_QUERY}", b.maintenance_events(pieces[i:i + PIECES_PER_QUERY]),
            Instant("", end))
    add("latency", b.latency(whole), Instant("", end))
    for i, run in enumerate(day_runs(period)):
        window = seconds(run.window)
        spec = Range("", run.days[0].end, run.days[-1].end, DAY)
        add(f"daily_events:{i}", b.events(window), spec)
        add(f"daily_requests:{i}", b.requests(window), spec)
        add(f"daily_latency:{i}", b.latency(window), spec)
    tiles = b.tiles()

    def tile_queries(name: str, first: float, last: float) -> None:
        """Every tile ending in [first, last] (both on the tile grid), each expression a few days at a time."""
        if first > last:
            return
        pieces = chunks(first, last, TILE, int(TILE_PIECE // TILE))
        for i, (expr, (a, z)) in enumerate((e, p) for e in tiles for p in pieces):
            add(f"{name}:{i}", expr, Range("", a, z, TILE))

    first_tile = start + TILE
    tile_queries("tiles", first_tile, end - (end - first_tile) % TILE)
    tail = (end - start) % TILE
    if tail:
        add("tiles_tail", " or ".join(b.tiles(seconds(tail))), Instant("", end))
    quarter = period.quarter_start()
    tile_queries("quarter_tiles", quarter + TILE, start - (start - quarter - TILE) % TILE)
    add("recorded", b.recorded(whole), Instant("", end))
    piece_start = start
    i = 0
    while piece_start < end:
        piece_end = min(piece_start + PEAK_PIECE, end)
        add(f"peak:{i}", b.peak(piece_start, piece_end), Range("", piece_start, piece_end, MINUTE))
        piece_start, i = piece_end, i + 1
    add("coverage_start", b.covered(), Instant("", start))
    # Minute-step signals a couple of days at a time, as the tiles: each stays far inside the query timeout.
    for i, (a, z) in enumerate(chunks(start + MINUTE, end, MINUTE, int(MINUTE_PIECE // MINUTE))):
        add(f"coverage_edges:{i}", b.coverage_edges(), Range("", a, z, MINUTE))
        add(f"alerts:{i}", b.alerts(), Range("", a, z, MINUTE))
        add(f"dr:{i}", b.dr_conditions(), Range("", a, z, MINUTE))
    return out
