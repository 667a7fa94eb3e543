"""The catalog's pydantic-free part: the values derived from its fields, and where the built-in catalog lives.

The validated model (`catalog.py`) mixes these classes into its pydantic models; the cron-time snapshot
(`catalog_cache.py`) mixes them into its read-only records. Both therefore answer `window_seconds`,
`slo_items()` or `primary_region` with the same code, and a cron run that finds its catalog already
validated never imports pydantic or a YAML parser. The fields these classes read are declared for type
checkers only: the models declare them, and pydantic must not find a second declaration in a base class.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from zarish_obs.durations import parse_duration
from zarish_obs.errors import CatalogError

if TYPE_CHECKING:  # the model classes mix these in; only their names are needed here
    from zarish_obs.catalog import AvailabilitySLO, Environment, RatioSLO, Region, SLOs

BUILT_IN_CATALOG = Path(__file__).with_name("data") / "default_catalog.yaml"
BUILT_IN_SOURCE = "<built-in catalog>"  # how messages name the built-in catalog


def read_catalog(path: str | Path | None) -> tuple[bytes, str]:
    """The catalog file's bytes (None: the built-in catalog) and how messages name it, read once: the loader
    parses these bytes and the cron cache keys its snapshot on them."""
    if path is None:
        return BUILT_IN_CATALOG.read_bytes(), BUILT_IN_SOURCE
    p = Path(path)
    try:
        return p.read_bytes(), str(p)
    except FileNotFoundError:
        raise CatalogError([f"{p}: (file): no such file"]) from None
    except IsADirectoryError:
        raise CatalogError([f"{p}: (file): is a directory, expected a YAML file"]) from None
    except OSError as exc:
        raise CatalogError([f"{p}: (file): cannot read: {exc.strerror}"]) from None


class SLOBase:
    if TYPE_CHECKING:
        objective: float
        window: str

    @property
    def window_seconds(self) -> float:
        return parse_duration(self.window)

    @property
    def error_budget(self) -> float:
        """Allowed fraction of bad events (0.001 for 99.9%)."""
        return round(1 - self.objective / 100, 12)


class RatioSLOBase(SLOBase):
    if TYPE_CHECKING:
        total_query: str
        bad_query: str | None
        good_query: str | None

    def queries(self) -> dict[str, str]:
        """The queries given, by field name."""
        out = {"total_query": self.total_query}
        if self.bad_query is not None:
            out["bad_query"] = self.bad_query
        if self.good_query is not None:
            out["good_query"] = self.good_query
        return out


class ServiceBase:
    if TYPE_CHECKING:
        slos: SLOs

    def slo_items(self) -> list[tuple[str, AvailabilitySLO]]:
        """(kind, slo) pairs in a fixed order: availability first, then latency, then the ratio SLIs by name
        in catalog order."""
        out: list[tuple[str, AvailabilitySLO]] = []
        if self.slos.availability:
            out.append(("availability", self.slos.availability))
        if self.slos.latency:
            out.append(("latency", self.slos.latency))
        out += [(r.name, r) for r in self.slos.ratios]
        return out

    def ratio(self, name: str) -> RatioSLO | None:
        return next((r for r in self.slos.ratios if r.name == name), None)

    @property
    def http_slos(self) -> bool:
        """Whether the catalog's request metrics are expected from it: it has an availability or latency SLO,
        or no ratio SLI (which would stand in for them)."""
        return bool(self.slos.availability or self.slos.latency or not self.slos.ratios)


class MaintenanceWindowBase:
    if TYPE_CHECKING:
        start: str | None
        end: str | None
        schedule: str | None

    @property
    def kind(self) -> str:
        """oneoff | cron | weekly"""
        if self.start is not None or self.end is not None:
            return "oneoff"
        return "cron" if self.schedule is not None else "weekly"


class CatalogBase:
    if TYPE_CHECKING:
        regions: list[Region]
        environments: list[Environment]

    @property
    def primary_region(self) -> Region:
        return next(r for r in self.regions if r.role == "primary")

    @property
    def dr_regions(self) -> list[Region]:
        return [r for r in self.regions if r.role == "dr"]

    def environment(self, name: str) -> Environment:
        for env in self.environments:
            if env.name == name:
                return env
        raise KeyError(name)
