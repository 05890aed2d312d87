"""Tests of trace parsing, tree building and rendering over Jaeger's JSON."""

import pytest
from polymesh_client.traces import (
    PREDICT_HOPS,
    Span,
    ancestry,
    children_by_parent,
    hops,
    parse_trace,
    predict_chain,
    render_tree,
)


def _span(span_id, parent, process, name, kind, start, code=None, error=False):
    tags = [{"key": "span.kind", "type": "string", "value": kind}]
    if code is not None:
        tags.append({"key": "rpc.grpc.status_code", "type": "int64", "value": code})
    if error:
        tags.append({"key": "error", "type": "bool", "value": True})
    refs = [{"refType": "CHILD_OF", "traceID": "t", "spanID": parent}] if parent else []
    return {
        "traceID": "t",
        "spanID": span_id,
        "operationName": name,
        "references": refs,
        "startTime": start,
        "duration": 1500,
        "tags": tags,
        "processID": process,
    }


INFER = "inference.GRPCInferenceService/ModelInfer"

DOCUMENT = {
    "data": [
        {
            "traceID": "t",
            "processes": {
                "p1": {"serviceName": "polymesh-client"},
                "p2": {"serviceName": "polymesh-gateway"},
                "p3": {"serviceName": "polymesh-inference"},
            },
            "spans": [
                _span("c", "", "p1", INFER, "client", 10, 0),
                _span("gs", "c", "p2", INFER, "server", 20, 0),
                _span("gc", "gs", "p2", INFER, "client", 30, 0),
                _span("is", "gc", "p3", INFER, "server", 40, 5),
                _span("x", "is", "p3", "model.execute iris", "internal", 50, error=True),
                _span("orphan", "gone", "p3", "late", "internal", 5),
            ],
        }
    ]
}


def test_parse_reads_services_parents_kinds_and_status():
    spans = {s.span_id: s for s in parse_trace(DOCUMENT)}
    assert spans["gs"].service == "polymesh-gateway"
    assert spans["gs"].parent_id == "c"
    assert spans["gs"].kind == "server"
    assert spans["is"].status == "NOT_FOUND"
    assert spans["x"].status == ""
    assert spans["x"].error is True
    assert spans["c"].parent_id == ""


def test_parse_prefers_the_status_name_attribute():
    spans = [_span("a", "", "p", "m", "server", 1, 2)]
    document = {"data": [{"processes": {"p": {"serviceName": "s"}}, "spans": spans}]}
    document["data"][0]["spans"][0]["tags"].append(
        {"key": "rpc.response.status_code", "type": "string", "value": "UNKNOWN"}
    )
    assert parse_trace(document)[0].status == "UNKNOWN"


def test_empty_answer_has_no_spans():
    assert parse_trace({"data": []}) == []
    assert render_tree([]) == "(no spans)"


def test_orphans_become_roots_and_children_are_in_start_order():
    groups = children_by_parent(parse_trace(DOCUMENT))
    assert [s.span_id for s in groups[""]] == ["orphan", "c"]
    assert [s.span_id for s in groups["is"]] == ["x"]


def test_ancestry_walks_to_the_root():
    spans = parse_trace(DOCUMENT)
    leaf = next(s for s in spans if s.span_id == "x")
    assert [s.span_id for s in ancestry(spans, leaf)] == ["x", "is", "gc", "gs", "c"]


def _chain_of(shape: list[tuple[str, str, str]]) -> list[Span]:
    """Spans with that shape, each the parent of the one before it."""
    return [
        Span(f"s{i}", f"s{i + 1}" if i + 1 < len(shape) else "", svc, name, kind, "OK", False, i, 1)
        for i, (svc, kind, name) in enumerate(shape)
    ]


def test_predict_chain_starts_at_the_inference_tiers_server_span():
    spans = _chain_of([*PREDICT_HOPS, ("polymesh-client", "client", "demo")])
    # Listed root first: the chain is found by the leaf, whatever the order.
    chain = predict_chain(reversed(spans))
    assert hops(chain) == [*PREDICT_HOPS, ("polymesh-client", "client", "demo")]
    assert chain[0].span_id == "s0"


def test_predict_chain_of_a_trace_without_the_inference_tier_fails():
    spans = _chain_of(list(PREDICT_HOPS[2:]))
    with pytest.raises(LookupError, match="SERVER span of polymesh-inference"):
        predict_chain(spans)


def test_render_indents_children_under_parents():
    lines = render_tree(parse_trace(DOCUMENT)).splitlines()
    assert len(lines) == 6
    assert lines[1].startswith("└─ polymesh-client")
    assert "[client] OK  1.50 ms" in lines[1]
    assert lines[2].startswith("   └─ polymesh-gateway")
    assert lines[5].startswith("            └─ polymesh-inference")
    assert "model.execute iris  [internal] ERROR" in lines[5]
    assert "[server] NOT_FOUND" in lines[4]
