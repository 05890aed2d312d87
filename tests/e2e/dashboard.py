"""The Grafana dashboard's queries, and the metric and label names they use.

PromQL is read with a small tokenizer, not a full parser: enough to find each
vector selector (a metric name, with or without `{matchers}` and `[range]`),
the labels its matchers name, and the labels of `by (...)` / `without (...)`
clauses. Function and aggregation names are told apart by what follows them
(`(`, or `by`/`without`); promtool checks the expressions' syntax on top.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Grafana's variables in the queries, and what stands in for them when an
# expression is handed to promtool.
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "1m",
    "$__range": "15m",
}

_TOKEN = re.compile(
    r"""
    (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
  | (?P<matchers>\{(?:"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|[^}"'])*\})
  | (?P<range>\[[^\]]*\])
  | (?P<name>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<number>(?:\d+(?:ms|[smhdwy]))+|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)
  | (?P<variable>\$\{?[A-Za-z_][A-Za-z0-9_]*\}?)
  | (?P<space>\s+)
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_MATCHER = re.compile(
    r"""\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)\s*,?"""
)
# Keywords that take a parenthesized list of label names.
_LABEL_LISTS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_KEYWORDS = _LABEL_LISTS | {"bool", "and", "or", "unless", "offset", "atan2", "inf", "nan"}
_AGGREGATIONS = {
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
}


@dataclass(frozen=True)
class Selector:
    """One vector selector: the metric and its label matchers (name -> (op, value))."""

    metric: str
    matchers: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True)
class Expression:
    """What one PromQL expression reads."""

    selectors: tuple[Selector, ...]
    grouping: frozenset[str]
    functions: frozenset[str]

    @property
    def metrics(self) -> set[str]:
        return {s.metric for s in self.selectors}


def parse_matchers(text: str) -> tuple[tuple[str, str, str], ...]:
    """`{a="x", b=~"y"}` -> (("a", "=", "x"), ("b", "=~", "y"))."""
    body = text.strip()[1:-1]
    out = []
    pos = 0
    while pos < len(body):
        m = _MATCHER.match(body, pos)
        if not m:
            if body[pos:].strip():
                raise ValueError(f"cannot read the label matchers {text!r}")
            break
        out.append((m.group(1), m.group(2), m.group(3)[1:-1]))
        pos = m.end()
    return tuple(out)


def _tokens(expr: str) -> list[tuple[str, str]]:
    out = []
    for m in _TOKEN.finditer(expr):
        kind = m.lastgroup
        if kind == "space":
            continue
        out.append((kind or "other", m.group()))
    return out


def parse(expr: str) -> Expression:
    """The selectors, grouping labels and functions of a PromQL expression.

    Raises ValueError for what this reader does not understand (a selector
    by `{__name__=...}` only, an unbalanced label list).
    """
    tokens = _tokens(expr)
    selectors: list[Selector] = []
    grouping: set[str] = set()
    functions: set[str] = set()
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        following = tokens[i + 1] if i + 1 < len(tokens) else ("", "")
        if kind == "matchers":
            # A selector without a metric name: {__name__="..."} or {job="x"}.
            raise ValueError(f"{expr!r}: a selector without a metric name: {text}")
        if kind != "name":
            i += 1
            continue
        if text in _LABEL_LISTS:
            if following[1] != "(":
                if text in ("group_left", "group_right"):
                    i += 1
                    continue
                raise ValueError(f"{expr!r}: {text} without a label list")
            j = i + 2
            while j < len(tokens) and tokens[j][1] != ")":
                if tokens[j][0] == "name":
                    grouping.add(tokens[j][1])
                elif tokens[j][1] != ",":
                    raise ValueError(f"{expr!r}: cannot read the label list of {text}")
                j += 1
            if j == len(tokens):
                raise ValueError(f"{expr!r}: unbalanced label list of {text}")
            i = j + 1
            continue
        if text.lower() in _KEYWORDS:
            i += 1
            continue
        if following[1] == "(" or (text in _AGGREGATIONS and following[1] in _LABEL_LISTS):
            functions.add(text)
            i += 1
            continue
        matchers: tuple[tuple[str, str, str], ...] = ()
        if following[0] == "matchers":
            matchers = parse_matchers(following[1])
            i += 1
        selectors.append(Selector(text, matchers))
        i += 1
    return Expression(tuple(selectors), frozenset(grouping), frozenset(functions))


def for_promtool(expr: str, variables: dict[str, str]) -> str:
    """The expression with Grafana's variables replaced by PromQL that parses:
    interval variables by durations, template variables by `variables`."""
    for name, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(name, value)
    for name, value in variables.items():
        expr = expr.replace("${" + name + "}", value).replace("$" + name, value)
    return expr


@dataclass(frozen=True)
class Query:
    """One query of the dashboard: where it is and its PromQL."""

    where: str
    expr: str
    datasource: str


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, those inside collapsed rows included."""
    return list(_panels(dashboard.get("panels", [])))


def datasource_uid(ref: Any) -> str:
    if isinstance(ref, dict):
        return str(ref.get("uid", ""))
    return str(ref or "")


def queries(dashboard: dict[str, Any]) -> list[Query]:
    """Every target of every panel that has an `expr` (PromQL)."""
    out = []
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            if "expr" not in target:
                continue
            uid = datasource_uid(target.get("datasource") or panel.get("datasource"))
            where = f"panel {panel.get('title')!r} query {target.get('refId')}"
            out.append(Query(where, target["expr"], uid))
    return out


_LABEL_VALUES = re.compile(r"^label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*,\s*(\w+)\s*\)$")


def variables(dashboard: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """The query variables: name -> (metric, label) of their label_values(...)."""
    out = {}
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") != "query":
            continue
        query = var.get("query")
        text = query.get("query", "") if isinstance(query, dict) else str(query)
        m = _LABEL_VALUES.match(text.strip())
        if not m:
            raise ValueError(f"variable {var.get('name')}: cannot read its query {text!r}")
        out[var["name"]] = (m.group(1), m.group(2))
    return out
