"""Tests of the trace waterfall picture over a parsed Jaeger trace."""

import struct

import pytest
from matplotlib.colors import to_hex
from polymesh_client.trace_picture import BARS_INCHES, DPI, ERROR_COLOUR, draw, rows, write_png
from polymesh_client.traces import parse_trace


def _span(span_id, parent, process, name, kind, start, duration, code=None, error=False):
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
        "duration": duration,
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
                # Times in µs since the epoch, as Jaeger reports them.
                _span("c", "", "p1", INFER, "client", 1_000_000, 9_000, 0),
                _span("gs", "c", "p2", INFER, "server", 1_000_500, 8_000, 0),
                _span("gc", "gs", "p2", INFER, "client", 1_001_000, 7_000, 0),
                _span("is", "gc", "p3", INFER, "server", 1_002_000, 5_000, 5),
                _span(
                    "x", "is", "p3", "model.execute iris", "internal", 1_002_500, 4_000, error=True
                ),
                _span("late", "c", "p2", "late", "internal", 1_008_000, 0),
            ],
        }
    ]
}


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_rows_are_the_tree_depth_first_in_start_order():
    ordered = [(prefix, s.span_id) for prefix, s in rows(parse_trace(DOCUMENT))]
    assert ordered == [
        ("└─ ", "c"),
        ("   ├─ ", "gs"),
        ("   │  └─ ", "gc"),
        ("   │     └─ ", "is"),
        ("   │        └─ ", "x"),
        ("   └─ ", "late"),
    ]


def test_one_bar_per_span_on_a_time_axis():
    spans = parse_trace(DOCUMENT)
    names, ax = draw(spans, title="trace t").axes
    bars = ax.patches
    assert len(bars) == len(spans)
    # Rows top to bottom in tree order; x in ms since the first span.
    by_row = sorted(bars, key=lambda b: b.get_y())
    assert [round(b.get_x(), 3) for b in by_row] == [0.0, 0.5, 1.0, 2.0, 2.5, 8.0]
    assert [round(b.get_width(), 3) for b in by_row[:5]] == [9.0, 8.0, 7.0, 5.0, 4.0]
    assert by_row[5].get_width() > 0, "a zero-length span still gets a visible bar"
    # Colour by service; failed spans (NOT_FOUND, error) outlined in red.
    assert by_row[1].get_facecolor() == by_row[2].get_facecolor()
    assert by_row[0].get_facecolor() != by_row[1].get_facecolor()
    assert to_hex(by_row[3].get_edgecolor()) == ERROR_COLOUR
    assert to_hex(by_row[4].get_edgecolor()) == ERROR_COLOUR
    assert by_row[0].get_linewidth() == 0
    labels = [t.get_text() for t in sorted(names.texts, key=lambda t: t.get_position()[1])]
    assert labels[0].startswith("└─ polymesh-client") and labels[0].endswith(INFER)
    assert labels[4].startswith("   │        └─ polymesh-inference")
    assert labels[4].endswith("model.execute iris")
    texts = [t.get_text() for t in ax.texts]
    assert "server  NOT_FOUND  5.00 ms" in texts
    assert "internal  ERROR  4.00 ms" in texts
    assert names.get_title(loc="left") == "trace t  (6 spans, 9.00 ms)"


def test_write_png_makes_a_picture_that_grows_with_the_spans(tmp_path):
    spans = parse_trace(DOCUMENT)
    full = write_png(spans, tmp_path / "deep/full.png", title="trace t")
    part = write_png(spans[:2], tmp_path / "part.png")
    width, height = png_size(full.read_bytes())
    part_width, part_height = png_size(part.read_bytes())
    assert width >= part_width > BARS_INCHES * DPI
    assert part_height < height < 2000
    assert full.stat().st_size > 10_000, "too small to hold six labelled bars"


def test_no_spans_is_still_a_picture(tmp_path):
    path = write_png([], tmp_path / "empty.png")
    assert png_size(path.read_bytes())[0] > BARS_INCHES * DPI
    assert len(draw([]).axes[1].patches) == 0


@pytest.mark.parametrize("code", [0, None])
def test_healthy_spans_have_no_outline(code):
    document = {
        "data": [
            {
                "processes": {"p": {"serviceName": "s"}},
                "spans": [_span("a", "", "p", "m", "server", 1, 10, code)],
            }
        ]
    }
    (bar,) = draw(parse_trace(document)).axes[1].patches
    assert bar.get_linewidth() == 0
