"""Layered long SLO windows on a real Prometheus, against the raw counters of a 35-day backfilled history.

The history holds, for three services in two environments, the raw counters (1-minute samples; a diurnal rate,
a slowly varying error and slow-request share, and bursts inside the windows), the recorded 5-minute SLO
increases (what the short group records: the counters' increase per 5-minute grid point, and none for the
tiles whose middle lies in one service's two-hour maintenance window, which holds a 50% error burst; stamped
a second before their grid point, see TILE_STAMP_EARLY), and
the hourly increases and the hour so far that the long group records every minute. Those two are rendered
from the same truth, evaluation by evaluation (production's group at second 0 of each minute, staging's at
second 37, as Prometheus offsets groups), and the test first proves that Prometheus, evaluating the two rules'
own expressions at those instants, gives exactly the rendered values.

Then, at instants on the hour, on the 5-minute grid and off both, every long window's event counts as the
generated rules compute them (their own expressions, which read the series above) must equal the plain sum
of the window's 5-minute tiles to 1e-9, equal the raw counters' `increase()` over the window those tiles
cover to 1e-9, and give a ratio within 0.1% of the raw counters' ratio over that window; for the service with
the maintenance window, within 0.1% of the truth without the window's events, which the raw counters (with the
burst) miss by far more. The tiles end at the last 5-minute grid point, so they trail the window ending at the
instant by up to 5 minutes: where that lag is at most 0.1% of the window, the ratio is also within 0.1% of the
raw counters' ratio over the window ending at the instant.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import yaml

from zarish_obs import conventions, openmetrics, procs, promql
from zarish_obs.alerts.recording import SLO_LONG_GROUP, recording_groups
from zarish_obs.catalog import Catalog, parse_catalog
from zarish_obs.durations import parse_duration
from zarish_obs.maintenance_promql import TILE_MIDDLE
from zarish_obs.monitor import queries
from zarish_obs.writers import to_yaml

DAY, HOUR, TILE, STEP = 86400, 3600, conventions.TILE_SECONDS, 60
HISTORY = 35 * DAY
REL = 0.001  # the bar: 0.1% of the raw-counter value
EXACT = 1e-9
# The 5-minute increases are stamped a second before their grid point, as a short group evaluated at that offset
# records them: a backfill cannot write the staleness marker that ends a series, so a tile stamped on the grid
# point just before the maintenance gap would be read again at the next grid point, 5 minutes later.
TILE_STAMP_EARLY = 1
PHASES = {"production": 0, "staging": 37}  # seconds after the minute at which each environment's group runs
THRESHOLD = 0.5
HIST = "http_request_duration_seconds"
REQUESTS = "http_requests_total"


def catalog(**prometheus: str) -> Catalog:
    def svc(name: str, window: str, latency: bool) -> dict[str, Any]:
        slos: dict[str, Any] = {"availability": {"objective": 99.5, "window": window}}
        if latency:
            slos["latency"] = {"objective": 99.0, "threshold_seconds": THRESHOLD, "window": window}
        return {"name": name, "slos": slos}

    data = {"version": 1, "name": "long-windows", "regions": [{"name": "dhaka", "role": "primary"}],
            "environments": [{"name": "production", "namespace": "prod"}, {"name": "staging", "namespace": "stg"}],
            "services": [svc("alpha", "30d", True), svc("beta", "28d", False), svc("gamma", "30d", False)]}
    if prometheus:
        data["prometheus"] = prometheus
    return parse_catalog(yaml.safe_dump(data))


@pytest.mark.parametrize(("interval", "layered"), [("1m", True), ("1m30s", True), ("2m", False)])
def test_the_hour_layer_only_where_its_lag_holds_on_vmalert_too(interval: str, layered: bool) -> None:
    """A long group evaluated every 2 minutes could read an hourly increase up to 4 minutes old on vmalert (a round
    late), past the 3 minutes the 2-minute lag absorbs: its long windows sum the 5-minute tiles instead, and it
    records no hourly layer."""
    cat = catalog(scrape_interval="15s", evaluation_interval=interval)
    rules = long_rules(cat)
    s = promql.signals(cat)
    for w in ("1d", "3d", "28d", "30d"):
        assert conventions.layered(cat, w) is layered
        for bad in (False, True):
            want = s.layered_events(w, bad) if layered else s.tiled_events(w, bad=bad)
            assert rules[conventions.slo_events(w, bad)] == want
    assert (conventions.slo_events(conventions.HOUR_TILE) in rules) is layered


class Truth:
    """Per-second rates of every (environment, service) and the events they make, on the 1-minute sample grid."""

    def __init__(self, end: int):
        self.end = end
        self.start = end - HISTORY
        self.bursts = [(self.start + 9 * DAY + 3 * HOUR + 17 * 60, 40 * 60, 0.05),
                       (self.start + 27 * DAY + 11 * HOUR, 30 * 60, 0.08),
                       (end - 20 * HOUR, 25 * 60, 0.06)]
        self.slow_bursts = [(self.start + 15 * DAY + 2 * HOUR, 50 * 60, 0.2), (end - 50 * HOUR, 20 * 60, 0.3)]
        # gamma in production: a maintenance window whose tiles the short group does not record, with a burst.
        self.maintenance = (end - 40 * HOUR, end - 38 * HOUR)
        self.keys = [(env, svc) for env in PHASES for svc in ("alpha", "beta", "gamma")]

    def _phase(self, env: str, svc: str) -> float:
        return (list(PHASES).index(env) * 3 + ("alpha", "beta", "gamma").index(svc)) * 0.7

    def rate(self, env: str, svc: str, t: int) -> float:
        # The waves run from the history's start, not the epoch: every run tests the same history.
        return (6.0 + 2 * ("alpha", "beta", "gamma").index(svc)) * (
            1 + 0.3 * math.sin(2 * math.pi * (t - self.start) / DAY + self._phase(env, svc)))

    def bad(self, env: str, svc: str, kind: str, t: int) -> float:
        p, x = self._phase(env, svc), t - self.start
        if kind == "latency":
            share = 0.01 * (1 + 0.2 * math.sin(2 * math.pi * x / (4.1 * HOUR) + p))
            return share + sum(y for s, d, y in self.slow_bursts if s <= t < s + d)
        share = 0.002 * (1 + 0.2 * math.sin(2 * math.pi * x / (5.5 * HOUR) + p))
        share += sum(y for s, d, y in self.bursts if s <= t < s + d)
        m0, m1 = self.maintenance
        if (env, svc) == ("production", "gamma") and m0 <= t < m1:
            share += 0.5
        return share

    def kinds(self, svc: str) -> tuple[str, ...]:
        return ("availability", "latency") if svc == "alpha" else ("availability",)

    def per_step(self, env: str, svc: str, kind: str) -> tuple[list[float], list[float]]:
        """(total, bad) events of each 1-minute step, indexed from the history's start."""
        ts = range(self.start, self.end, STEP)
        total = [self.rate(env, svc, t) * STEP for t in ts]
        return total, [n * self.bad(env, svc, kind, t) for n, t in zip(total, ts, strict=True)]

    def excluded(self, env: str, svc: str, g: int) -> bool:
        """Whether the short group leaves the tile ending at g out (its middle is in the maintenance window)."""
        m0, m1 = self.maintenance
        return (env, svc) == ("production", "gamma") and m0 <= g + TILE_MIDDLE < m1


class Recorded:
    """The recorded series of one (environment, service, kind), as the rules would have written them."""

    def __init__(self, truth: Truth, env: str, svc: str, kind: str):
        total, bad = truth.per_step(env, svc, kind)
        per = TILE // STEP
        self.first_grid = truth.start + TILE
        self.tiles: dict[bool, dict[int, float]] = {False: {}, True: {}}
        # Running sums over the grid (excluded tiles add 0) and how many tiles were recorded, for O(1) window sums.
        self.sums: dict[bool, list[float]] = {False: [0.0], True: [0.0]}
        self.count = [0]
        for g in range(self.first_grid, truth.end + 1, TILE):
            i = (g - truth.start) // STEP
            kept = not truth.excluded(env, svc, g)
            for flag, steps in ((False, total), (True, bad)):
                value = sum(steps[i - per:i])
                if kept:
                    self.tiles[flag][g] = value
                self.sums[flag].append(self.sums[flag][-1] + (value if kept else 0.0))
            self.count.append(self.count[-1] + kept)

    def _index(self, t: int) -> int:
        """How many grid points are at or before t."""
        return max(0, min(len(self.count) - 1, (t - self.first_grid) // TILE + 1))

    def tile_sum(self, bad: bool, first: int, last: int) -> float | None:
        """Sum of the recorded tiles at grid points in [first, last] (None when none is recorded)."""
        a, b = self._index(first - 1), self._index(last)
        if b <= a or self.count[b] == self.count[a]:
            return None
        return self.sums[bad][b] - self.sums[bad][a]

    def hourly(self, bad: bool, e: int) -> float | None:
        """increase1h at evaluation e: the tiles in (e - lag - 1h, e - lag]."""
        last = e - conventions.HOUR_TILE_LAG_SECONDS
        return self.tile_sum(bad, last - HOUR + 1, last)

    def so_far(self, bad: bool, e: int) -> float | None:
        """increase_hour_so_far at evaluation e: the tiles from the hour's start to the latest."""
        return self.tile_sum(bad, e - e % HOUR, e)


def families(cat: Catalog, truth: Truth, recorded: dict[tuple[str, str, str], Recorded]) -> list[openmetrics.Family]:
    m = cat.metrics
    times = openmetrics.grid(truth.start, truth.end, STEP)
    req = openmetrics.Family(REQUESTS.removesuffix("_total"), "counter")
    hist = openmetrics.Family(HIST, "histogram")
    names = {(w, bad): conventions.slo_events(w, bad) for w in ("5m", "1h") for bad in (False, True)}
    fams = {n: openmetrics.Family(n, "gauge") for n in names.values()}
    so_far = {bad: openmetrics.Family(conventions.slo_events_so_far(bad), "gauge") for bad in (False, True)}

    def cumulative(per_step: list[float]) -> list[tuple[int, float]]:
        out, value = [(times[0], 0.0)], 0.0
        for t, n in zip(times[1:], per_step, strict=True):
            value += n
            out.append((t, value))
        return out

    for env, svc in truth.keys:
        base = {m.environment_label: env, m.service_label: svc}
        total, bad = truth.per_step(env, svc, "availability")
        req.add(REQUESTS, {**base, m.status_label: "200"}, cumulative([a - b for a, b in zip(total, bad, strict=True)]))
        req.add(REQUESTS, {**base, m.status_label: "500"}, cumulative(bad))
        if "latency" in truth.kinds(svc):
            total, slow = truth.per_step(env, svc, "latency")
            hist.add(f"{HIST}_bucket", {**base, "le": str(THRESHOLD)},
                     cumulative([a - b for a, b in zip(total, slow, strict=True)]))
            hist.add(f"{HIST}_bucket", {**base, "le": "+Inf"}, cumulative(total))
            hist.add(f"{HIST}_count", base, cumulative(total))
            hist.add(f"{HIST}_sum", base, cumulative([n * 0.2 for n in total]))
        for kind in truth.kinds(svc):
            rec = recorded[(env, svc, kind)]
            labels = {**base, conventions.SLO_LABEL: kind}
            evals = range(truth.start + PHASES[env], truth.end, STEP)
            for flag in (False, True):
                fams[names[("5m", flag)]].add(names[("5m", flag)], labels,
                                              [(g - TILE_STAMP_EARLY, v) for g, v in sorted(rec.tiles[flag].items())])
                for name, fn, fam in ((names[("1h", flag)], rec.hourly, fams[names[("1h", flag)]]),
                                      (conventions.slo_events_so_far(flag), rec.so_far, so_far[flag])):
                    fam.add(name, labels, [(e, v) for e in evals if (v := fn(flag, e)) is not None])
    return [req, hist, *fams.values(), *so_far.values()]


def query(url: str, expr: str, at: float) -> dict[tuple[str, str, str], float]:
    r = requests.get(f"{url}/api/v1/query", params={"query": expr, "time": at}, timeout=60)
    assert r.status_code == 200, (expr[:200], r.text[:500])
    out = {}
    for item in r.json()["data"]["result"]:
        labels = item["metric"]
        out[(labels["environment"], labels["service"], labels.get("slo", ""))] = float(item["value"][1])
    return out


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    work = tmp_path_factory.mktemp("long-windows")
    cat = catalog()
    end = (int(time.time()) // HOUR - 2) * HOUR
    truth = Truth(end)
    recorded = {(env, svc, kind): Recorded(truth, env, svc, kind)
                for env, svc in truth.keys for kind in truth.kinds(svc)}
    data = work / "data"
    openmetrics.backfill(openmetrics.write(work / "history.om", families(cat, truth, recorded)), data, "2400h")
    (work / "history.om").unlink()
    config = work / "prometheus.yml"
    config.write_text(to_yaml({"global": {"scrape_interval": "15s"}}))
    with procs.running(procs.start_prometheus(config, data)) as prom:
        yield {"url": prom.url, "catalog": cat, "truth": truth, "recorded": recorded}


def long_rules(cat: Catalog) -> dict[str, str]:
    group = next(g for g in recording_groups(cat) if g["name"] == SLO_LONG_GROUP)
    return {r["record"]: r["expr"] for r in group["rules"]}


def instants(truth: Truth) -> list[tuple[str, int]]:
    """(environment, evaluation instant): on the hour, on the 5-minute grid, off both (every instant is one at
    which that environment's long group runs)."""
    hour = truth.end - 5 * HOUR
    out = [("production", hour + d) for d in (0, 5 * 60, 37 * 60, 59 * 60, HOUR + 23 * 60)]
    return out + [("staging", hour + d + PHASES["staging"]) for d in (0, 4 * 60, 30 * 60, 59 * 60)]


def test_hourly_rules_record_what_is_backfilled(served: dict[str, Any]) -> None:
    """Prometheus, evaluating the generated hourly and hour-so-far rules at an environment's evaluation instants,
    gives the rendered samples (which the window sums read) exactly."""
    url, truth, recorded = served["url"], served["truth"], served["recorded"]
    rules = long_rules(served["catalog"])
    checked = 0
    more = [("production", truth.end - 3 * DAY + 7 * 60), ("staging", truth.end - 9 * HOUR + 37)]
    for env, e in [*instants(truth), *more]:
        for flag in (False, True):
            for name, fn in ((conventions.slo_events(conventions.HOUR_TILE, flag), Recorded.hourly),
                             (conventions.slo_events_so_far(flag), Recorded.so_far)):
                got = {k: v for k, v in query(url, rules[name], e).items() if k[0] == env}
                assert sorted(got) == sorted(k for k in recorded if k[0] == env), (name, env, e, sorted(got))
                for key, value in got.items():
                    want = fn(recorded[key], flag, e)
                    assert want is not None and math.isclose(value, want, rel_tol=EXACT), (name, key, e, value, want)
                    checked += 1
    assert checked == (len(instants(truth)) + 2) * 2 * 2 * 4


def test_long_windows_equal_the_tiles_and_the_raw_counters(served: dict[str, Any]) -> None:
    url, cat, truth, recorded = served["url"], served["catalog"], served["truth"], served["recorded"]
    rules = long_rules(cat)
    s = promql.signals(cat)
    windows = [w for w in conventions.ratio_windows(cat) if conventions.is_long(w)]
    assert windows == ["1d", "3d", "28d", "30d"] and all(conventions.layered(cat, w) for w in windows)
    off: list[str] = []
    worst = 0.0
    at_instant = 0
    for env, e in instants(truth):
        grid_end = e - e % TILE
        for w in windows:
            seconds = int(parse_duration(w))
            events = {flag: query(url, rules[conventions.slo_events(w, flag)], e) for flag in (False, True)}
            tiles = {flag: query(url, s.tiled_events(w, bad=flag), e) for flag in (False, True)}
            raw: dict[bool, dict[tuple[str, str, str], float]] = {False: {}, True: {}}
            aligned: dict[bool, dict[tuple[str, str, str], float]] = {False: {}, True: {}}
            for kind in ("availability", "latency"):
                for flag, fn in ((False, s.slo_total), (True, s.slo_bad)):
                    expr = fn(kind, cat.services, w)
                    at_tiles = fn(kind, cat.services, w, at=grid_end)
                    assert expr and at_tiles
                    raw[flag].update({(*k[:2], kind): v for k, v in query(url, expr, e).items()})
                    aligned[flag].update({(*k[:2], kind): v for k, v in query(url, at_tiles, e).items()})
            keys = [k for k in events[False] if k[0] == env]
            assert len(keys) == 4, (env, e, w, sorted(events[False]))
            for key in keys:
                what = f"{w} at {e - truth.end:+d}s {key}"
                for flag in (False, True):
                    got = events[flag][key]
                    if not math.isclose(got, tiles[flag][key], rel_tol=EXACT):
                        off.append(f"{what} bad={flag}: rules {got!r}, 5m tiles {tiles[flag][key]!r}")
                    if key != ("production", "gamma", "availability") and not math.isclose(
                            got, aligned[flag][key], rel_tol=EXACT):
                        off.append(f"{what} bad={flag}: rules {got!r}, raw over the tiles' window "
                                   f"{aligned[flag][key]!r}")
                ratio = events[True][key] / events[False][key]
                if key == ("production", "gamma", "availability"):
                    rec = recorded[key]
                    first = e - seconds + 1
                    want = (rec.tile_sum(True, first, e) or 0) / (rec.tile_sum(False, first, e) or 1)
                    raw_ratio = raw[True][key] / raw[False][key]
                    if w != "1d" and not abs(raw_ratio / want - 1) > 0.05:
                        off.append(f"{what}: the maintenance burst should move the raw ratio, {raw_ratio} vs {want}")
                    checks = [("truth without the maintenance window", want)]
                else:
                    checks = [("raw counters over the tiles' window", aligned[True][key] / aligned[False][key])]
                    # The tiles end at the last grid point: against the window ending at the instant, the ratio
                    # differs by the events of the two lagging slivers, which no bound holds for in general (an
                    # error burst in the last minutes moves a 1-day ratio by far more than 0.1%). It is checked
                    # where the slivers are at most 0.1% of the window.
                    if (e - grid_end) * 1000 <= seconds:
                        checks.append(("raw counters over the window ending at the instant",
                                       raw[True][key] / raw[False][key]))
                        at_instant += 1
                for against, want in checks:
                    gap = abs(ratio / want - 1)
                    worst = max(worst, gap)
                    if gap > REL:
                        off.append(f"{what}: ratio {ratio:.9g}, {against} {want:.9g} ({gap:.4%} off)")
    assert not off, f"{len(off)} value(s) off (worst ratio gap {worst:.4%}):\n  " + "\n  ".join(off[:40])
    assert at_instant == 14 + 23 + 31 + 31, at_instant  # 1d, 3d, 28d, 30d: the keys at instants lagging little enough
    print(f"worst ratio gap against the raw counters: {worst:.5%}")


def test_the_monitor_probe_sees_whether_the_hours_reach_back_a_window(served: dict[str, Any]) -> None:
    """The monitor reads the layered counts only where the hourly increases are as old as the longest layered
    window (after an upgrade they cover only the hours since, and the counts would be short): the probe's marker
    is there for every kind at the history's end, and gone 20 days in (a 30-day window reaches before the hours)."""
    url, cat, truth = served["url"], served["catalog"], served["truth"]
    probe = queries.recorded_probe(cat, "production").expr

    def marked(at: int) -> set[str]:
        r = requests.get(f"{url}/api/v1/query", params={"query": probe, "time": at}, timeout=60)
        assert r.status_code == 200, r.text[:500]
        return {x["metric"].get(conventions.SLO_LABEL, "") for x in r.json()["data"]["result"]
                if x["metric"].get(queries.PROBE_LABEL) == queries.HOUR_HISTORY}

    assert marked(truth.end - HOUR) == {"availability", "latency"}
    assert marked(truth.start + 20 * DAY) == set()


def test_upgrade_backfill_of_the_hourly_layer_makes_the_counts_whole(tmp_path: Any) -> None:
    """The README's upgrade path: a Prometheus holding only the 5-minute increases (rules without the hourly layer)
    gets the hourly increases and the hour so far backfilled by promtool's own rule engine from a file with just
    those rules of the generated group; after a restart every layered window equals the sum of its tiles. Before
    the backfill the counts miss the hours before the upgrade (here all of them): the control."""
    cat = catalog()
    end = (int(time.time()) // HOUR - 2) * HOUR
    truth = Truth(end)
    keep = end - 4 * DAY
    fams = []
    for bad in (False, True):
        name = conventions.slo_events(conventions.TILE, bad)
        fam = openmetrics.Family(name, "gauge")
        for env, svc in truth.keys:
            for kind in truth.kinds(svc):
                rec = Recorded(truth, env, svc, kind)
                labels = {"environment": env, "service": svc, conventions.SLO_LABEL: kind}
                stamped = [(g - TILE_STAMP_EARLY, v) for g, v in sorted(rec.tiles[bad].items()) if g > keep]
                fam.add(name, labels, stamped)
        fams.append(fam)
    data = tmp_path / "data"
    openmetrics.backfill(openmetrics.write(tmp_path / "tiles.om", fams), data, "2400h")
    config = tmp_path / "prometheus.yml"
    config.write_text(to_yaml({"global": {"scrape_interval": "15s"}}))
    group = next(g for g in recording_groups(cat) if g["name"] == SLO_LONG_GROUP)
    hourly = {conventions.slo_events(conventions.HOUR_TILE, bad) for bad in (False, True)} | {
        conventions.slo_events_so_far(bad) for bad in (False, True)}
    rules = tmp_path / "hourly.yml"
    rules.write_text(to_yaml({"groups": [{**group, "rules": [r for r in group["rules"] if r["record"] in hourly]}]}))
    by_name = {r["record"]: r["expr"] for r in group["rules"]}
    s = promql.signals(cat)
    at: float = end - 20 * 60 + 7

    def gaps(url: str) -> list[str]:
        out = []
        for w in ("1d", "3d"):
            for bad in (False, True):
                got = query(url, by_name[conventions.slo_events(w, bad)], at)
                want = query(url, s.tiled_events(w, bad=bad), at)
                assert sorted(want) and len(want) == 8, (w, sorted(want))
                out += [f"{w} {k} bad={bad}: {got.get(k)} vs {v}" for k, v in want.items()
                        if not math.isclose(got.get(k, 0.0), v, rel_tol=EXACT)]
        return out

    with procs.running(procs.start_prometheus(config, data)) as prom:
        assert len(gaps(prom.url)) == 2 * 2 * 8  # no hourly layer yet: every count is missing
        blocks = tmp_path / "blocks"
        run = subprocess.run([procs.binary("promtool"), "tsdb", "create-blocks-from", "rules",
                              f"--start={keep}", f"--end={end}", f"--url={prom.url}", f"--output-dir={blocks}",
                              "--quiet", str(rules)], capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr[-1000:]
    for block in blocks.iterdir():
        shutil.move(str(block), str(data / block.name))
    with procs.running(procs.start_prometheus(config, data)) as prom:
        # promtool's rule engine offsets the group within its interval as Prometheus does: the layered sums are
        # read at one of its evaluations, as the rules that follow the hourly ones in the group would be.
        sel = promql.selector(conventions.slo_events_so_far(), [promql.Matcher("environment", "production")])
        r = requests.get(f"{prom.url}/api/v1/query", params={"query": f"{sel}[2m]", "time": at}, timeout=60)
        at = r.json()["data"]["result"][0]["values"][-1][0]
        assert gaps(prom.url) == []
