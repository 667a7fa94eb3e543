"""Run promtool and amtool on generated files, returning their verdict and their own words."""

from __future__ import annotations

import copy
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from zarish_obs import promql_lexer
from zarish_obs.catalog import Catalog, locate
from zarish_obs.errors import CatalogError, ExitCode, ZarishError
from zarish_obs.procs import binary

NO_K8S_SD = "field kubernetes_sd_configs not found"


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    output: str
    note: str = ""


@dataclass
class Check:
    """One validator run on one generated file, as `alerts test` and `check` report it."""

    check: str
    file: str
    ok: bool
    seconds: float
    output: str
    note: str = ""  # when the validator saw an adapted copy of the file

    def to_json(self) -> dict[str, Any]:
        return {"check": self.check, "file": self.file, "ok": self.ok, "seconds": self.seconds,
                "output": self.output}


def timed(check: str, file: str, run: Callable[[], CheckResult]) -> Check:
    started = time.monotonic()
    result = run()
    return Check(check, file, result.ok, round(time.monotonic() - started, 2), result.output, result.note)


def timed_all(jobs: list[tuple[str, str, Callable[[], CheckResult]]]) -> list[Check]:
    """`timed` for each (check, file, run), up to one at a time per CPU, reported in the given order.

    Each run is one validator process, so a catalog's slow promtool test file (maintenance windows: tens of
    seconds) no longer waits for, or holds up, the others."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max(1, min(len(jobs), os.cpu_count() or 1))) as pool:
        return list(pool.map(lambda job: timed(*job), jobs))


def check_lines(checks: list[Check], indent: str = "      ") -> list[str]:
    """One line per check (PASS/FAIL, check, file, seconds), its note and a failure's output indented below."""
    wc = max((len(c.check) for c in checks), default=0)
    wf = max((len(c.file) for c in checks), default=0)
    lines = []
    for c in checks:
        lines.append(f"{'PASS' if c.ok else 'FAIL'}  {c.check:<{wc}}  {c.file:<{wf}}  {c.seconds:6.2f}s")
        if c.note:
            lines.append(f"{indent}note: {c.note}")
        if not c.ok:
            lines += [indent + line for line in (c.output or "no output").splitlines()]
    return lines


def run_tool(tool: str, *args: str, timeout: float = 300, cwd: Path | None = None) -> CheckResult:
    proc = subprocess.run([binary(tool), *args], capture_output=True, text=True, timeout=timeout, cwd=cwd)
    return CheckResult(proc.returncode == 0, (proc.stdout + proc.stderr).strip())


def without_kubernetes_sd(config: dict[str, Any], targets_file: str) -> dict[str, Any]:
    """The same config with each `kubernetes_sd_configs` replaced by an empty file_sd list.

    Debian builds Prometheus without Kubernetes service discovery (its NEWS.Debian: "Kubernetes support
    has been completely removed"), so its promtool rejects the key itself; everything else in the
    config (relabelling, alerting, remote_write, globals) is still checked by promtool this way.
    """
    out = copy.deepcopy(config)
    for job in out.get("scrape_configs", []):
        if "kubernetes_sd_configs" in job:
            del job["kubernetes_sd_configs"]
            job["file_sd_configs"] = [{"files": [targets_file]}]
    return out


def check_config(path: Path) -> CheckResult:
    """`promtool check config`; falls back to the SD-neutral variant only for Debian's missing k8s SD."""
    first = run_tool("promtool", "check", "config", "--syntax-only", str(path))
    if first.ok or NO_K8S_SD not in first.output:
        return first
    config = yaml.safe_load(path.read_text())
    with tempfile.TemporaryDirectory(prefix="zarish-check-") as tmp:
        targets = Path(tmp) / "targets.json"
        targets.write_text("[]")
        variant = Path(tmp) / path.name
        variant.write_text(yaml.safe_dump(without_kubernetes_sd(config, str(targets)), sort_keys=False))
        second = run_tool("promtool", "check", "config", "--syntax-only", str(variant))
    note = ("this promtool has no Kubernetes service discovery (Debian build); kubernetes_sd_configs were "
            "swapped for file_sd_configs and everything else was checked")
    return CheckResult(second.ok, second.output, note)


OFFLINE_SD_GLOB = "sd/*.json"
CREDENTIAL_KEYS = frozenset({"ca_file", "cert_file", "key_file", "credentials_file", "bearer_token_file",
                             "password_file", "client_secret_file"})
OFFLINE_NOTE = (f"checked a copy with file_sd_configs ({OFFLINE_SD_GLOB}) in place of kubernetes_sd_configs "
                "(Debian's promtool has no Kubernetes service discovery), placeholder credential files and the "
                "generated rule files; everything else as generated")


def _has_kubernetes_sd(config: dict[str, Any]) -> bool:
    return any("kubernetes_sd_configs" in job for job in config.get("scrape_configs") or [])


def offline_config(config: dict[str, Any], rule_files: list[str]) -> tuple[dict[str, Any], list[str]]:
    """A copy full `promtool check config` can load outside a cluster, and the placeholder files it names.

    Without --syntax-only promtool stats every credential file (the in-cluster service-account token
    among them) and loads the rule files, so those point at local placeholders and at the generated
    rules (absolute: they resolve relative to the copy). Paths of placeholders are relative to the copy.
    """
    out = without_kubernetes_sd(config, OFFLINE_SD_GLOB)
    placeholders: list[str] = []

    def relocate(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in CREDENTIAL_KEYS and isinstance(value, str) and value:
                    node[key] = "credentials/" + value.lstrip("/")
                    placeholders.append(node[key])
                else:
                    relocate(value)
        elif isinstance(node, list):
            for item in node:
                relocate(item)

    relocate(out)
    if "rule_files" in out or rule_files:
        out["rule_files"] = list(rule_files)
    return out, sorted(set(placeholders))


def check_config_offline(path: Path, rule_files: list[Path]) -> CheckResult:
    """Full `promtool check config` (credential files, SD files and `rule_files` included) on the
    `offline_config` copy of `path`; promtool's words name `path`, not the throw-away copy."""
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    copy_, placeholders = offline_config(config, [str(p.resolve()) for p in rule_files])
    with tempfile.TemporaryDirectory(prefix="zarish-check-config-") as tmp:
        root = Path(tmp)
        sd_dir = (root / OFFLINE_SD_GLOB).parent
        sd_dir.mkdir()
        (sd_dir / "empty.json").write_text("[]\n")  # a matching, empty target list: no "does not exist" warning
        for rel in placeholders:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text("placeholder\n")
        variant = root / path.name
        variant.write_text(yaml.safe_dump(copy_, sort_keys=False), encoding="utf-8")
        result = run_tool("promtool", "check", "config", str(variant))
    output = result.output.replace(str(variant), f"{path} (offline copy)").replace(str(root), "<offline copy>")
    return CheckResult(result.ok, output, OFFLINE_NOTE if _has_kubernetes_sd(config) else "")


def check_rules(*paths: Path) -> CheckResult:
    return run_tool("promtool", "check", "rules", *map(str, paths))


def test_rules(*paths: Path, cwd: Path | None = None) -> CheckResult:
    """`promtool test rules`; the paths are made absolute, so a relative one still names the file from `cwd`
    (test files name their rule files relative to themselves, hence `cwd`)."""
    return run_tool("promtool", "test", "rules", *(str(Path(p).resolve()) for p in paths), cwd=cwd)


def check_metrics(text: str) -> CheckResult:
    proc = subprocess.run([binary("promtool"), "check", "metrics"], input=text, capture_output=True, text=True,
                          timeout=60)
    return CheckResult(proc.returncode == 0, (proc.stdout + proc.stderr).strip())


def check_alertmanager(path: Path) -> CheckResult:
    return run_tool("amtool", "check-config", str(path))


QUERY_CHECK_WINDOW = "5m"  # what `{{window}}` stands for in the throw-away rule file
_RULE_ERROR = re.compile(r'group "[^"]*", rule (\d+), "[^"]*": (.*)$')


def parse_errors(queries: list[str]) -> dict[int, str]:
    """promtool's reason for each query (by index) it cannot parse, from one throw-away rule file with a
    recording rule per query and `{{window}}` read as 5m. Raises ZarishError when promtool fails in a way
    that names no query (its words attached)."""
    if not queries:
        return {}
    rules = [{"record": f"zarish_query_check_{i}",
              "expr": promql_lexer.rewrite(promql_lexer.lex(q), QUERY_CHECK_WINDOW)} for i, q in enumerate(queries)]
    with tempfile.TemporaryDirectory(prefix="zarish-queries-") as tmp:
        path = Path(tmp) / "queries.yml"
        path.write_text(yaml.safe_dump({"groups": [{"name": "queries", "rules": rules}]}, sort_keys=False),
                        encoding="utf-8")
        result = check_rules(path)
    if result.ok:
        return {}
    out: dict[int, str] = {}
    for line in result.output.splitlines():
        found = _RULE_ERROR.search(line)
        if found:
            out.setdefault(int(found.group(1)) - 1, found.group(2).strip())
    if not out:
        words = result.output.replace(str(path), "<queries>")
        raise ZarishError(f"promtool check rules failed on the ratio queries: {words}", ExitCode.SOFTWARE)
    return out


def ratio_query_problems(catalog: Catalog) -> list[tuple[tuple[str | int, ...], str]]:
    """(field path, promtool's reason) for every ratio SLI query of the catalog that promtool cannot parse."""
    fields: list[tuple[tuple[str | int, ...], str]] = []
    for i, svc in enumerate(catalog.services):
        for j, ratio in enumerate(svc.slos.ratios):
            fields += [(("services", i, "slos", "ratios", j, key), q) for key, q in ratio.queries().items()]
    errors = parse_errors([q for _, q in fields])
    return [(fields[k][0], f"promtool cannot parse the query ({{{{window}}}} read as {QUERY_CHECK_WINDOW}): {reason}")
            for k, reason in sorted(errors.items())]


def has_ratio_queries(catalog: Catalog) -> bool:
    return any(svc.slos.ratios for svc in catalog.services)


def require_parsable_queries(catalog: Catalog, path: str | Path | None) -> None:
    """Raise CatalogError (exit 65), one `file:LINE: field: reason` line per ratio query promtool rejects."""
    if not has_ratio_queries(catalog):
        return
    problems = ratio_query_problems(catalog)
    if problems:
        raise CatalogError(locate(path, problems))
