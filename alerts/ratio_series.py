"""Synthetic input series for the generated tests of a ratio SLI, derived from its queries' selectors.

Arbitrary PromQL cannot be inverted, so this handles the queries whose value is a sum of `increase` (or of
`rate`) of the selected counters, summed per environment: `sum by (environment) (increase(x{...}[{{window}}]))`
and sums of such terms. Each selector yields one series (its equality matchers give the labels, a regex
matcher a literal of its alternation, a negative matcher nothing), and the counters' increments are solved so
that the total and the bad (or good) query count exactly the events a test wants. For any other query
`plan` says why not, and the caller reports it: a ratio SLI without generated tests is never a silent gap.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from zarish_obs import promql_lexer
from zarish_obs.catalog import Catalog, RatioSLO, Service
from zarish_obs.promql_lexer import LabelMatcher, Selector

_LITERAL = re.compile(r"(?:[A-Za-z0-9_:/ -]|\\[.\\/+*?()\[\]{}|^$-])*")
_FN = r"(?:increase|rate)\(S\[\{\{window\}\}\]\)"
_TERM = re.compile(rf"sum(?:(?P<kw>by|without)\((?P<list>[\w,]*)\))?\({_FN}\)"
                   rf"(?:(?P<tkw>by|without)\((?P<tlist>[\w,]*)\))?|{_FN}")
PLACEHOLDER_VALUE = "generated"


class Unsupported(ValueError):
    """Why no test series can be generated for a ratio SLI."""


@dataclass(frozen=True)
class Plan:
    """The series of one ratio SLI and how much each query counts per unit of each series' increment."""

    series: tuple[tuple[tuple[str, str], ...], ...]  # label pairs (with __name__), environment excluded
    counts: dict[str, tuple[int, ...]]  # query field -> per series: how many of its selectors match it
    rate: bool  # the queries use rate(): a test must count per second

    def increments(self, total: float, other: float, field: str) -> list[float]:
        """Per-step increments of every series such that the total query counts `total` and `field` (bad or
        good) counts `other` per step; raises Unsupported when no non-negative solution exists."""
        t, o = self.counts["total_query"], self.counts[field]
        n = len(self.series)
        if total == other == 0:
            return [0.0] * n
        for i in range(n):  # one series counted by both queries, or by the one that counts anything
            if t[i] and o[i] and _close(total / t[i], other / o[i]):
                return _one_hot(n, {i: total / t[i]})
            if other == 0 and t[i] and not o[i]:
                return _one_hot(n, {i: total / t[i]})
            if total == 0 and o[i] and not t[i]:
                return _one_hot(n, {i: other / o[i]})
        for i, j in itertools.combinations(range(n), 2):
            det = t[i] * o[j] - t[j] * o[i]
            if det == 0:
                continue
            xi = (total * o[j] - other * t[j]) / det
            xj = (t[i] * other - o[i] * total) / det
            if xi >= -1e-12 and xj >= -1e-12:
                return _one_hot(n, {i: max(xi, 0.0), j: max(xj, 0.0)})
        raise Unsupported("no counter increments make its queries count the events a test needs")


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def _one_hot(n: int, values: dict[int, float]) -> list[float]:
    return [values.get(i, 0.0) for i in range(n)]


def _literal(regex: str) -> str | None:
    """A value a simple regex (a literal or an alternation of literals) fully matches: its first one."""
    body = regex[1:-1] if regex.startswith("(") and regex.endswith(")") and regex.count("(") == 1 else regex
    first = body.split("|")[0]
    if not _LITERAL.fullmatch(first):
        return None
    value = re.sub(r"\\(.)", r"\1", first)
    return value if re.fullmatch(regex, value) else None


def _labels(sel: Selector, env_label: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for m in sel.matchers:
        if m.name == env_label:
            raise Unsupported(f"a selector matches the environment label {env_label!r} itself")
        if m.op == "=" and m.value:
            out[m.name] = m.value
        elif m.op == "=~" and not re.fullmatch(m.value, ""):
            value = _literal(m.value)
            if value is None:
                raise Unsupported(f"{m.name}=~{m.value!r} is not a literal or an alternation of literals")
            out[m.name] = value
        elif m.op == "!=" and m.value == "":
            out[m.name] = PLACEHOLDER_VALUE
        elif m.op == "!~" and re.fullmatch(m.value, ""):
            if re.fullmatch(m.value, PLACEHOLDER_VALUE):
                raise Unsupported(f"{m.name}!~{m.value!r}: no value chosen for it")
            out[m.name] = PLACEHOLDER_VALUE
    if "__name__" not in out:
        raise Unsupported("a selector has no metric name")
    return out


def matches(matchers: tuple[LabelMatcher, ...], labels: dict[str, str]) -> bool:
    """Prometheus's matcher semantics (an absent label is the empty string; regexes are anchored)."""
    for m in matchers:
        value = labels.get(m.name, "")
        ok = {"=": value == m.value, "!=": value != m.value,
              "=~": bool(re.fullmatch(m.value, value)), "!~": not re.fullmatch(m.value, value)}[m.op]
        if not ok:
            return False
    return True


def _outer(text: str) -> str:
    """`text` without parentheses around all of it."""
    while text.startswith("(") and text.endswith(")"):
        depth = 0
        for k, ch in enumerate(text):
            depth += {"(": 1, ")": -1}.get(ch, 0)
            if depth == 0 and k < len(text) - 1:
                return text
        text = text[1:-1]
    return text


def _shape(lexed: promql_lexer.Lexed, env_label: str) -> str:
    """The query's function (increase or rate) when it is a sum of such terms kept per environment."""
    q = lexed.query
    spans = sorted([(s.start, s.end, "S") for s in lexed.selectors] + [(a, b, "") for a, b in lexed.comments])
    masked, last = [], 0
    for start, end, text in spans:
        masked.append(q[last:start] + text)
        last = end
    text = _outer(re.sub(r"\s+", "", "".join(masked) + q[last:]))
    fns = set()
    for term in text.split("+"):
        found = _TERM.fullmatch(_outer(term))
        if not found:
            raise Unsupported("it is not a sum of sum by (environment) (increase|rate(selector[{{window}}])) terms")
        if _outer(term).startswith("sum"):
            keyword = found.group("kw") or found.group("tkw")
            listed = found.group("list") if found.group("kw") else found.group("tlist")
            names = set((listed or "").split(","))
            if keyword is None or (env_label in names) != (keyword == "by"):
                raise Unsupported(f"a term does not keep the {env_label} label")
        fns.add("rate" if "rate(S" in term else "increase")
    if len(fns) != 1:
        raise Unsupported("its terms mix increase and rate")
    return fns.pop()


def plan(catalog: Catalog, ratio: RatioSLO) -> Plan:
    """The input series of `ratio` (raises Unsupported with the reason when its queries are not simple)."""
    env_label = catalog.metrics.environment_label
    lexed = {field: promql_lexer.lex(q) for field, q in ratio.queries().items()}
    fns = {_shape(lx, env_label) for lx in lexed.values()}
    if len(fns) != 1:
        raise Unsupported("its queries mix increase and rate")
    series: list[tuple[tuple[str, str], ...]] = []
    for lx in lexed.values():
        for sel in lx.selectors:
            labels = _labels(sel, env_label)
            if not matches(sel.matchers, labels):
                raise Unsupported(f"no series chosen for {sel.text(lx.query)} matches it")
            key = tuple(sorted(labels.items()))
            if key not in series:
                series.append(key)
    counts = {field: tuple(sum(matches(sel.matchers, dict(s)) for sel in lx.selectors) for s in series)
              for field, lx in lexed.items()}
    return Plan(tuple(series), counts, fns.pop() == "rate")


def unsupported(catalog: Catalog, svc: Service, ratio: RatioSLO) -> str | None:
    """Why `plan` cannot generate series for this ratio SLI, or None."""
    try:
        p = plan(catalog, ratio)
        field = "bad_query" if ratio.bad_query is not None else "good_query"
        for total, bad in ((100.0, 75.0), (100.0, 0.0), (0.0, 0.0), (10.0, 10.0)):
            p.increments(total, bad if field == "bad_query" else total - bad, field)
    except Unsupported as exc:
        return str(exc)
    return None
