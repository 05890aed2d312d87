"""One trace from Jaeger's query API, as spans and as an indented tree.

Usage:

    spans = fetch_trace("http://127.0.0.1:16686", trace_id,
                        services={"polymesh-gateway", "polymesh-inference"})
    print(render_tree(spans))

`fetch_trace` polls until every expected service has reported (spans arrive
in batches, from several processes), within a bounded time. Parsing, tree
building and rendering are pure functions over Jaeger's JSON.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# gRPC status codes by number, for spans that only carry the numeric code.
GRPC_CODE_NAMES = (
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
)


class TraceNotFoundError(Exception):
    """The trace, or some of its services' spans, did not arrive in time."""


@dataclass(frozen=True)
class Span:
    """One span of a trace, as Jaeger reports it."""

    span_id: str
    parent_id: str  # "" for a root span
    service: str
    name: str
    kind: str  # "server", "client", "internal", ...
    status: str  # the gRPC code name, or "" when the span has none
    error: bool
    start_us: int
    duration_us: int
    attributes: Mapping[str, Any] = field(default_factory=dict)


def parse_trace(document: Mapping[str, Any]) -> list[Span]:
    """Spans of the first trace in a Jaeger `/api/traces/{id}` answer."""
    data = document.get("data") or []
    if not data:
        return []
    trace = data[0]
    services = {pid: p.get("serviceName", "") for pid, p in trace.get("processes", {}).items()}
    spans = []
    for raw in trace.get("spans", []):
        tags = {t["key"]: t.get("value") for t in raw.get("tags", [])}
        parent = ""
        for ref in raw.get("references", []):
            if ref.get("refType") == "CHILD_OF":
                parent = ref.get("spanID", "")
                break
        spans.append(
            Span(
                span_id=raw["spanID"],
                parent_id=parent,
                service=services.get(raw.get("processID", ""), ""),
                name=raw.get("operationName", ""),
                kind=str(tags.get("span.kind", "internal")),
                status=_status_name(tags),
                error=bool(tags.get("error", False)),
                start_us=int(raw.get("startTime", 0)),
                duration_us=int(raw.get("duration", 0)),
                attributes=tags,
            )
        )
    return spans


def _status_name(tags: Mapping[str, Any]) -> str:
    name = tags.get("rpc.response.status_code")
    if isinstance(name, str) and name:
        return name
    code = tags.get("rpc.grpc.status_code")
    if isinstance(code, int) and 0 <= code < len(GRPC_CODE_NAMES):
        return GRPC_CODE_NAMES[code]
    return ""


def children_by_parent(spans: Iterable[Span]) -> dict[str, list[Span]]:
    """Spans grouped by parent id, each group in start order.

    A span whose parent is not in the trace is grouped under "" (a root).
    """
    spans = list(spans)
    known = {s.span_id for s in spans}
    groups: dict[str, list[Span]] = {}
    for span in spans:
        parent = span.parent_id if span.parent_id in known else ""
        groups.setdefault(parent, []).append(span)
    for group in groups.values():
        group.sort(key=lambda s: (s.start_us, s.span_id))
    return groups


def ancestry(spans: Iterable[Span], span: Span) -> list[Span]:
    """`span`, its parent, its parent's parent, ... up to the root."""
    by_id = {s.span_id: s for s in spans}
    chain = [span]
    while chain[-1].parent_id in by_id and len(chain) <= len(by_id):
        chain.append(by_id[chain[-1].parent_id])
    return chain


PREDICT = "polymesh.ai.v1.AIService/Predict"
MODEL_INFER = "inference.GRPCInferenceService/ModelInfer"

# The hops of one Predict through the mesh, as (service, kind, span name),
# from the inference tier's SERVER span up to the gateway's first SERVER
# span: the product's signature trace.
PREDICT_HOPS = (
    ("polymesh-inference", "server", MODEL_INFER),
    ("polymesh-gateway", "client", MODEL_INFER),
    ("polymesh-gateway", "server", MODEL_INFER),
    ("polymesh-aiapi", "client", MODEL_INFER),
    ("polymesh-aiapi", "server", PREDICT),
    ("polymesh-gateway", "client", PREDICT),
    ("polymesh-gateway", "server", PREDICT),
)


def predict_chain(spans: Iterable[Span]) -> list[Span]:
    """The inference tier's ModelInfer SERVER span of a Predict's trace and
    its ancestors up to the root (the gateway's ModelInfer SERVER span has
    the same name; the leaf is the inference tier's)."""
    spans = list(spans)
    leaf = next(
        (
            s
            for s in spans
            if s.service == "polymesh-inference" and s.kind == "server" and s.name == MODEL_INFER
        ),
        None,
    )
    if leaf is None:
        raise LookupError(f"no {MODEL_INFER} SERVER span of polymesh-inference in the trace")
    return ancestry(spans, leaf)


def hops(chain: Iterable[Span]) -> list[tuple[str, str, str]]:
    """Each span of a chain as (service, kind, name), as PREDICT_HOPS has them."""
    return [(s.service, s.kind, s.name) for s in chain]


def render_tree(spans: Iterable[Span]) -> str:
    """The trace as an indented tree, one line per span.

    Each line shows the service, the span name, the kind, the status and the
    duration, e.g. `└─ polymesh-gateway  inference.GRPCInferenceService/ModelInfer
    [client] OK 1.23 ms`.
    """
    groups = children_by_parent(spans)
    rows: list[tuple[str, Span]] = []

    def walk(parent: str, prefix: str) -> None:
        children = groups.get(parent, [])
        for i, span in enumerate(children):
            last = i == len(children) - 1
            rows.append((prefix + ("└─ " if last else "├─ "), span))
            walk(span.span_id, prefix + ("   " if last else "│  "))

    walk("", "")
    if not rows:
        return "(no spans)"
    width = max(len(p) + len(s.service) for p, s in rows)
    lines = []
    for prefix, span in rows:
        head = f"{prefix}{span.service}".ljust(width)
        status = span.status or ("ERROR" if span.error else "-")
        lines.append(f"{head}  {span.name}  [{span.kind}] {status}  {_ms(span.duration_us)}")
    return "\n".join(lines)


def _ms(duration_us: int) -> str:
    return f"{duration_us / 1000:.2f} ms"


def fetch_trace(
    jaeger_url: str,
    trace_id: str,
    services: Iterable[str] = (),
    min_spans: int = 1,
    timeout: float = 15.0,
    interval: float = 0.2,
) -> list[Span]:
    """Fetches a trace, polling until it has spans of every service in
    `services` and at least `min_spans` spans.

    Raises TraceNotFoundError naming what is missing when `timeout` (seconds)
    passes first.
    """
    wanted = set(services)
    url = f"{jaeger_url.rstrip('/')}/api/traces/{trace_id}"
    deadline = time.monotonic() + timeout
    spans: list[Span] = []
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                spans = parse_trace(json.load(answer))
        except urllib.error.HTTPError as e:
            if e.code != 404:
                raise
            spans = []
        missing = wanted - {s.service for s in spans}
        if not missing and len(spans) >= min_spans:
            return spans
        if time.monotonic() >= deadline:
            have = sorted({s.service for s in spans})
            raise TraceNotFoundError(
                f"trace {trace_id}: after {timeout:.0f}s, {len(spans)} spans from {have}; "
                f"missing services {sorted(missing)}"
            )
        time.sleep(interval)
