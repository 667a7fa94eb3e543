"""Just enough of a PromQL lexer to trust a user's query: find its vector selectors and their matchers, and
the `[{{window}}]` ranges of the ratio SLI convention.

The catalog's ratio SLIs carry user PromQL. Before zarish-obs puts such a query into a rule it must know that
every vector selector reads only the series of the service the catalog names (a `service="<name>"`
equality matcher), where to add the matchers and the `@` modifier the monitor and the report need, and that
the `{{window}}` placeholder stands only where a range goes. Strings and comments are read as Prometheus reads
them, so a matcher or a placeholder spelled inside a string value or a comment counts for nothing. Whether
the query is valid PromQL is promtool's verdict (zarish_obs.promtool.check_queries), not this module's:
it only refuses what it cannot read, never accepts what it did not understand.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

PLACEHOLDER = "{{window}}"
RANGE_PLACEHOLDER = f"[{PLACEHOLDER}]"
# Sloth's Go-template spelling of the same placeholder, with any trim markers and spacing.
_SLOTH_PLACEHOLDER = re.compile(r"\{\{-?\s*\.window\s*-?\}\}")

_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_NUMBER = re.compile(r"(?:0[xX][0-9a-fA-F]+|[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)[a-zA-Z0-9_]*")
_OPS = ("=~", "!~", "!=", "=")
# Followed by a parenthesised list of label names, not by an expression.
_LABEL_LISTS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"})
_AGGREGATIONS = frozenset({"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
                           "bottomk", "topk", "quantile", "limitk", "limit_ratio"})
_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f",
            "v": "\v"}


class LexError(ValueError):
    """The query could not be read; `column` is 1-based."""

    def __init__(self, column: int, reason: str):
        super().__init__(f"column {column}: {reason}")
        self.column = column
        self.reason = reason


@dataclass(frozen=True)
class LabelMatcher:
    name: str
    op: str
    value: str  # unescaped


@dataclass(frozen=True)
class Selector:
    """One vector selector: `metric`, `metric{...}` or `{...}`, with where to add matchers."""

    start: int
    end: int
    metric: str | None
    matchers: tuple[LabelMatcher, ...]
    insert_at: int  # before the closing brace, or right after the metric name when there are no braces
    braces: bool
    needs_comma: bool

    def text(self, query: str) -> str:
        return query[self.start:self.end]

    def pins(self, label: str, value: str) -> bool:
        return any(m.name == label and m.op == "=" and m.value == value for m in self.matchers)


@dataclass
class Lexed:
    query: str
    selectors: list[Selector] = field(default_factory=list)
    windows: list[int] = field(default_factory=list)  # offsets of `[{{window}}]`
    stray: list[int] = field(default_factory=list)  # offsets of `{{window}}` anywhere else
    ranges: list[tuple[int, int]] = field(default_factory=list)  # every other `[...]`: (start, end past `]`)
    at_modifiers: list[int] = field(default_factory=list)
    comments: list[tuple[int, int]] = field(default_factory=list)  # `# ...` to the end of its line


def from_sloth(query: str) -> str:
    """Sloth's `{{.window}}` (OpenSLO documents written for Sloth use it too) as the catalog's `{{window}}`."""
    return _SLOTH_PLACEHOLDER.sub(PLACEHOLDER, query)


def _string_end(text: str, i: int) -> int:
    """Offset just past the string literal starting at `i`."""
    quote = text[i]
    j = i + 1
    while j < len(text):
        ch = text[j]
        if ch == "\\" and quote != "`":
            j += 2
            continue
        if ch == "\n" and quote != "`":
            break
        if ch == quote:
            return j + 1
        j += 1
    raise LexError(i + 1, "string not terminated")


def unquote(literal: str) -> str:
    """The value of a PromQL string literal (Go's escapes); raises ValueError on an escape it does not know."""
    quote, body = literal[0], literal[1:-1]
    if quote == "`":
        return body
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1] if i + 1 < len(body) else ""
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt in ("x", "u", "U"):
            width = {"x": 2, "u": 4, "U": 8}[nxt]
            digits = body[i + 2:i + 2 + width]
            if len(digits) != width or not re.fullmatch(r"[0-9a-fA-F]+", digits):
                raise ValueError(f"bad escape \\{nxt}{digits}")
            out.append(chr(int(digits, 16)))
            i += 2 + width
        elif re.fullmatch(r"[0-7]{3}", body[i + 1:i + 4]):
            out.append(chr(int(body[i + 1:i + 4], 8)))
            i += 4
        else:
            raise ValueError(f"unknown escape \\{nxt}")
    return "".join(out)


def _skip_ws(text: str, i: int) -> int:
    while i < len(text):
        if text[i].isspace():
            i += 1
        elif text[i] == "#":
            end = text.find("\n", i)
            i = len(text) if end < 0 else end + 1
        else:
            break
    return i


def _braces(text: str, i: int) -> tuple[list[LabelMatcher], int, bool]:
    """Matchers of the `{...}` at `i`; the offset of its closing brace; whether a matcher added before that
    brace needs a comma first."""
    matchers: list[LabelMatcher] = []
    j = _skip_ws(text, i + 1)
    needs_comma = False
    while True:
        if j >= len(text):
            raise LexError(i + 1, "'{' not closed")
        if text[j] == "}":
            return matchers, j, needs_comma
        if text[j] in "\"'`":
            end = _string_end(text, j)
            name = _value(text, j, end)
            k = _skip_ws(text, end)
            if k < len(text) and text[k] in ",}":  # Prometheus 3: a quoted metric name alone
                matchers.append(LabelMatcher("__name__", "=", name))
                j = k
                needs_comma = text[k] == "}"
                if text[k] == ",":
                    j = _skip_ws(text, k + 1)
                continue
        else:
            found = _LABEL.match(text, j)
            if not found:
                raise LexError(j + 1, f"expected a label name, found {text[j]!r}")
            name, end = found.group(), found.end()
        k = _skip_ws(text, end)
        op = next((o for o in _OPS if text.startswith(o, k)), None)
        if op is None:
            raise LexError(k + 1, f"expected a matcher operator after label {name!r}")
        k = _skip_ws(text, k + len(op))
        if k >= len(text) or text[k] not in "\"'`":
            raise LexError(k + 1, f"expected a quoted value for label {name!r}")
        end = _string_end(text, k)
        matchers.append(LabelMatcher(name, op, _value(text, k, end)))
        j = _skip_ws(text, end)
        if j < len(text) and text[j] == ",":
            j = _skip_ws(text, j + 1)
            needs_comma = False
        elif j < len(text) and text[j] == "}":
            needs_comma = True
        else:
            raise LexError(j + 1, "expected ',' or '}' after a matcher")


def _value(text: str, start: int, end: int) -> str:
    try:
        return unquote(text[start:end])
    except ValueError as exc:
        raise LexError(start + 1, str(exc)) from None


def _comments(text: str) -> list[tuple[int, int]]:
    out = []
    i = 0
    while i < len(text):
        if text[i] in "\"'`":
            i = _string_end(text, i)
        elif text[i] == "#":
            end = text.find("\n", i)
            end = len(text) if end < 0 else end
            out.append((i, end))
            i = end
        else:
            i += 1
    return out


def _paren_list(text: str, i: int) -> int:
    """Offset just past the `(label, ...)` at `i`."""
    end = text.find(")", i)
    if end < 0:
        raise LexError(i + 1, "'(' not closed")
    return end + 1


def lex(query: str) -> Lexed:
    """Selectors, placeholder ranges, stray placeholders and `@` modifiers of `query`; raises LexError."""
    out = Lexed(query, comments=_comments(query))
    i, n = 0, len(query)
    while True:
        i = _skip_ws(query, i)
        if i >= n:
            return out
        ch = query[i]
        if ch in "\"'`":
            i = _string_end(query, i)
        elif query.startswith(RANGE_PLACEHOLDER, i):
            out.windows.append(i)
            i += len(RANGE_PLACEHOLDER)
        elif query.startswith(PLACEHOLDER, i):
            out.stray.append(i)
            i += len(PLACEHOLDER)
        elif ch == "[":
            end = query.find("]", i)
            if end < 0:
                raise LexError(i + 1, "'[' not closed")
            inner = query.find(PLACEHOLDER, i, end + len(PLACEHOLDER))
            if inner >= 0:
                out.stray.append(inner)
                end = max(end, query.find("]", inner + len(PLACEHOLDER)))
            else:
                out.ranges.append((i, end + 1))
            i = end + 1
        elif ch == "{":
            matchers, close, comma = _braces(query, i)
            out.selectors.append(Selector(i, close + 1, None, tuple(matchers), close, True, comma))
            i = close + 1
        elif ch == "@":
            out.at_modifiers.append(i)
            i += 1
        elif ch.isdigit() or (ch == "." and i + 1 < n and query[i + 1].isdigit()):
            found = _NUMBER.match(query, i)
            i = found.end() if found else i + 1
        elif (found := _IDENT.match(query, i)) is not None:
            i = _identifier(query, found, out)
        else:
            i += 1


def _identifier(query: str, found: re.Match[str], out: Lexed) -> int:
    word, end = found.group(), found.end()
    after = _skip_ws(query, end)
    nxt = query[after] if after < len(query) else ""
    lower = word.lower()
    if lower in _LABEL_LISTS:
        return _paren_list(query, after) if nxt == "(" else end
    if lower in _KEYWORDS or nxt == "(":
        return end
    if lower in _AGGREGATIONS and _IDENT.match(query, after) and \
            _IDENT.match(query, after).group().lower() in ("by", "without"):  # type: ignore[union-attr]
        return end
    if nxt == "{" and not query.startswith(PLACEHOLDER, after):
        matchers, close, comma = _braces(query, after)
        name = LabelMatcher("__name__", "=", word)
        out.selectors.append(Selector(found.start(), close + 1, word, (name, *matchers), close, True, comma))
        return close + 1
    out.selectors.append(Selector(found.start(), end, word, (LabelMatcher("__name__", "=", word),), end, False,
                                  False))
    return end


def placement_problems(lexed: Lexed) -> list[str]:
    """Where the `{{window}}` placeholder is missing or misplaced, and `@` modifiers (zarish-obs sets the
    evaluation instant itself), one reason each."""
    problems = []
    if lexed.stray:
        problems.append(f"column {lexed.stray[0] + 1}: {PLACEHOLDER} may only stand as a whole range "
                        f"{RANGE_PLACEHOLDER} (e.g. increase(x[{PLACEHOLDER}]))")
    elif not lexed.windows:
        problems.append(f"no {RANGE_PLACEHOLDER} range: the query must count its events over the SLO's windows, "
                        f"e.g. increase(x[{PLACEHOLDER}])")
    if lexed.at_modifiers:
        problems.append(f"column {lexed.at_modifiers[0] + 1}: no @ modifier: zarish-obs chooses the evaluation "
                        "instant")
    return problems


def service_problems(lexed: Lexed, label: str, service: str) -> list[str]:
    """Every selector without `label="service"`, one reason each."""
    want = f'{label}="{service}"'
    out = []
    if not lexed.selectors:
        out.append(f"no vector selector: the query must read the service's own series ({want})")
    for sel in lexed.selectors:
        if not sel.pins(label, service):
            out.append(f"column {sel.start + 1}: selector {sel.text(lexed.query)} has no {want} matcher: every "
                       "selector must read only the service's own series")
    return out


def selector_with(lexed: Lexed, sel: Selector, matchers: Sequence[str]) -> str:
    """One selector of the query as text, with `matchers` (rendered PromQL matchers) added."""
    text = sel.text(lexed.query)
    if not matchers:
        return text
    at = sel.insert_at - sel.start
    added = ", ".join(matchers)
    if not sel.braces:
        return text[:at] + "{" + added + "}" + text[at:]
    return text[:at] + (", " if sel.needs_comma else "") + added + text[at:]


def rewrite(lexed: Lexed, window: str, matchers: Sequence[str] = (), at: str | None = None) -> str:
    """The query with each `[{{window}}]` replaced by `[window]` (and ` @ at`), `matchers` (rendered
    PromQL matchers) added to every selector, and comments removed (the query is embedded in a larger one)."""
    q = lexed.query
    edits: list[tuple[int, int, str]] = [(start, end, "") for start, end in lexed.comments]
    replacement = f"[{window}]" + ("" if at is None else f" @ {at}")
    edits += [(pos, pos + len(RANGE_PLACEHOLDER), replacement) for pos in lexed.windows]
    if matchers:
        added = ", ".join(matchers)
        for sel in lexed.selectors:
            if not sel.braces:
                edits.append((sel.insert_at, sel.insert_at, "{" + added + "}"))
            else:
                edits.append((sel.insert_at, sel.insert_at, (", " if sel.needs_comma else "") + added))
    for start, end, text in sorted(edits, reverse=True):
        q = q[:start] + text + q[end:]
    return q
