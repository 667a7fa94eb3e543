"""The only place that writes files: atomically, deterministically, never touching other files."""

from __future__ import annotations

import functools
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zarish_obs.errors import OutputError

if TYPE_CHECKING:
    import yaml


@functools.cache
def _dumper() -> type[yaml.SafeDumper]:
    """Block-style YAML with multi-line strings as literal blocks, so generated files diff well. Built on first
    use: the cron check writes a textfile with this module and no YAML."""
    import yaml

    class Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True

    def str_representer(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
        style = "|" if "\n" in data else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)

    Dumper.add_representer(str, str_representer)
    return Dumper


def to_yaml(data: Any) -> str:
    import yaml

    return yaml.dump(data, Dumper=_dumper(), sort_keys=False, default_flow_style=False, width=1000,
                     allow_unicode=True)


def to_yaml_documents(docs: list[Any]) -> str:
    return "---\n".join(to_yaml(d) for d in docs)


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def ensure_dir(out: Path) -> Path:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"{out}: cannot create output directory: a file of that name exists") from None
    except OSError as exc:
        raise OutputError(f"{out}: cannot create output directory: {exc.strerror}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise OutputError(f"{out}: output directory is not writable")
    return out


def write_atomic(path: Path, text: str, mode: int = 0o644) -> Path:
    """Write via a temporary file in the same directory and rename, so readers never see half a file."""
    ensure_dir(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write: {exc.strerror}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_files(out: Path, files: dict[str, str]) -> list[Path]:
    """Write each relative name -> text under `out`; files not named are left alone."""
    ensure_dir(out)
    return [write_atomic(out / name, text) for name, text in sorted(files.items())]


def configmap(name: str, namespace: str, data: dict[str, str], labels: dict[str, str] | None = None,
              annotations: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    meta["labels"] = {"app.kubernetes.io/managed-by": "zarish-obs", **(labels or {})}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": dict(sorted(data.items()))}
