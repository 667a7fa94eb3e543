"""The validated catalog kept between cron runs, so that `monitor check` started every minute on an unchanged
catalog neither imports pydantic and a YAML parser nor validates again.

A snapshot is the validated model's field values as JSON, keyed by a SHA-256 over the catalog's bytes, the
package version and the size and mtime of every core module (the code that validates). A catalog that
fails validation is never stored, so an edit that breaks it fails the next run exactly as without the cache.
Restored, every object is a read-only record that carries the same `catalog_base` class as the model it
was (so `slo_items()`, `window_seconds` and the rest are the model's own code) and compares by value.
Snapshots live in `$ZARISH_CACHE_DIR`, else `$XDG_CACHE_HOME/zarish-obs`, else `~/.cache/zarish-obs`
(directory 0700, files 0600); `ZARISH_CACHE_DIR=off` turns the cache off. A directory that cannot be
written, or a snapshot that cannot be read, only costs the full load: the cache never fails a run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from zarish_obs import __version__, catalog_base

if TYPE_CHECKING:
    from zarish_obs.catalog import Catalog

CACHE_ENV = "ZARISH_CACHE_DIR"
FORMAT = 1
KEEP = 8  # snapshots kept: a few catalogs (environments, tests of an edit) without growing forever
_PREFIX = "catalog-"
_SNAPSHOT_NAME = re.compile(rf"{_PREFIX}[0-9a-f]{{64}}\.json")


def cache_dir() -> Path | None:
    value = os.environ.get(CACHE_ENV, "")
    if value == "off":
        return None
    if value:
        return Path(value)
    base = os.environ.get("XDG_CACHE_HOME", "")
    if base:
        return Path(base) / "zarish-obs"
    try:
        return Path.home() / ".cache" / "zarish-obs"
    except RuntimeError:  # no home directory (a bare container user)
        return None


def _code_stamp() -> bytes:
    here = Path(catalog_base.__file__).parent
    stats = ((e.name, e.stat()) for e in os.scandir(here) if e.name.endswith(".py"))
    entries = sorted((name, st.st_size, st.st_mtime_ns) for name, st in stats)
    return repr((FORMAT, __version__, entries)).encode()


def cache_key(raw: bytes) -> str:
    return hashlib.sha256(_code_stamp() + b"\0" + raw).hexdigest()


def load(path: Path | None) -> Catalog:
    """The catalog at `path` (None: the built-in one), from its snapshot when one matches its bytes; otherwise
    validated as by `load_catalog` (same errors), and its snapshot stored."""
    raw, source = catalog_base.read_catalog(path)
    directory = cache_dir()
    key = cache_key(raw)
    if directory is not None:
        restored = _read(directory / f"{_PREFIX}{key}.json", key)
        if restored is not None:
            return restored
    from zarish_obs.catalog import parse_catalog_bytes

    catalog = parse_catalog_bytes(raw, source)
    if directory is not None:
        _write(directory, key, catalog)
    return catalog


# -- snapshot and restore ----------------------------------------------------------------------------------
def snapshot(value: Any) -> Any:
    """A validated model as JSON-ready data: each model object tagged with its class and `catalog_base` class."""
    fields = getattr(type(value), "model_fields", None)
    if fields is not None:
        base = next((c.__name__ for c in type(value).__mro__ if c.__module__ == catalog_base.__name__), None)
        return {"model": type(value).__name__, "base": base,
                "fields": {name: snapshot(getattr(value, name)) for name in fields}}
    if isinstance(value, tuple):
        return {"tuple": [snapshot(v) for v in value]}
    if isinstance(value, list):
        return [snapshot(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"no snapshot for a {type(value).__name__}")


class Record:
    """One restored catalog object: read-only, equal to another when class name and fields are equal (as the
    frozen models are)."""

    def __init__(self, fields: dict[str, Any]):
        self.__dict__.update(fields)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    __delattr__ = __setattr__  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        return type(other).__name__ == type(self).__name__ and getattr(other, "__dict__", None) == self.__dict__

    def __hash__(self) -> int:
        return hash((type(self).__name__, *self.__dict__.items()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.__dict__.items())})"


_BASES = {name: cls for name, cls in vars(catalog_base).items()
          if isinstance(cls, type) and cls.__module__ == catalog_base.__name__}
_CLASSES: dict[tuple[str, str | None], type[Record]] = {}


def _record_class(model: str, base: str | None) -> type[Record]:
    cls = _CLASSES.get((model, base))
    if cls is None:
        bases = (_BASES[base], Record) if base is not None else (Record,)
        cls = _CLASSES[(model, base)] = type(model, bases, {})
    return cls


def restore(node: Any) -> Any:
    if isinstance(node, list):
        return [restore(v) for v in node]
    if isinstance(node, dict):
        if "tuple" in node:
            return tuple(restore(v) for v in node["tuple"])
        fields = {str(k): restore(v) for k, v in node["fields"].items()}
        return _record_class(str(node["model"]), node["base"])(fields)
    return node


# -- files -------------------------------------------------------------------------------------------------
def _read(file: Path, key: str) -> Catalog | None:
    try:
        data = json.loads(file.read_bytes())
        if data["format"] != FORMAT or data["key"] != key:
            return None
        restored = restore(data["catalog"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None  # no snapshot, or one this version cannot read: load the catalog instead
    # A record is the model's stand-in: same fields, same derived values, no validators.
    return cast("Catalog", restored) if type(restored).__name__ == "Catalog" else None


def _write(directory: Path, key: str, catalog: Catalog) -> None:
    tmp = directory / f".{_PREFIX}{key}.{os.getpid()}.tmp"
    try:
        text = json.dumps({"format": FORMAT, "key": key, "catalog": snapshot(catalog)}, allow_nan=False,
                          separators=(",", ":"))
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, directory / f"{_PREFIX}{key}.json")
        _prune(directory)
    except (OSError, TypeError, ValueError):
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def _prune(directory: Path) -> None:
    """Only files named as this module names them are removed: the directory may be one the user chose."""
    ours = [p for p in directory.iterdir() if _SNAPSHOT_NAME.fullmatch(p.name)]
    snapshots = sorted(ours, key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for old in snapshots[KEEP:]:
        old.unlink(missing_ok=True)
