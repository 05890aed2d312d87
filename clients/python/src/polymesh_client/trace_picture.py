"""A trace as a picture: a waterfall of its spans on one time axis.

Usage:

    spans = fetch_trace("http://127.0.0.1:16686", trace_id)
    write_png(spans, ".run/trace.png", title=f"trace {trace_id}")

One row per span, in the order of `render_tree` (each span under its parent):
on the left the tree of services and span names; on the right a bar from the
span's start to its end, coloured by service, labelled with its kind, status
and duration. Spans that failed have a red outline. Drawing uses
matplotlib's Agg canvas only (no display, no global pyplot state).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.patches import Patch

from polymesh_client.traces import Span, children_by_parent

# Colours by order of first appearance of a service (matplotlib's tab10).
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
ERROR_COLOUR = "#d62728"
ROW_INCHES = 0.3
BARS_INCHES = 9.0  # the width of the time axis
CHAR_INCHES = 0.068  # one character of the 8 pt monospace labels
DPI = 110


def rows(spans: Iterable[Span]) -> list[tuple[str, Span]]:
    """(tree prefix, span) for every span, depth-first in start order: the rows
    of the picture, top to bottom, drawn as `render_tree` draws them."""
    groups = children_by_parent(spans)
    out: list[tuple[str, Span]] = []

    def walk(parent: str, prefix: str) -> None:
        children = groups.get(parent, [])
        for i, span in enumerate(children):
            last = i == len(children) - 1
            out.append((prefix + ("└─ " if last else "├─ "), span))
            walk(span.span_id, prefix + ("   " if last else "│  "))

    walk("", "")
    return out


def _failed(span: Span) -> bool:
    return span.error or (span.status not in ("", "OK"))


def _annotation(span: Span) -> str:
    status = span.status or ("ERROR" if span.error else "-")
    return f"{span.kind}  {status}  {span.duration_us / 1000:.2f} ms"


def draw(spans: Sequence[Span], title: str = "") -> Figure:
    """The waterfall of `spans` as a matplotlib Figure: a column of labels
    (figure.axes[0]) and one bar per span on the time axis (figure.axes[1])."""
    ordered = rows(spans)
    width = max((len(p) + len(s.service) for p, s in ordered), default=0)
    labels = [f"{(p + s.service).ljust(width)}  {s.name}" for p, s in ordered]
    label_inches = CHAR_INCHES * max((len(text) for text in labels), default=10) + 0.1
    fig = Figure(
        figsize=(label_inches + BARS_INCHES, 1.5 + ROW_INCHES * max(len(ordered), 1)),
        dpi=DPI,
        layout="constrained",
    )
    names, ax = fig.subplots(1, 2, sharey=True, width_ratios=[label_inches, BARS_INCHES])
    names.set_axis_off()
    if not ordered:
        ax.text(0.5, 0.5, "(no spans)", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig

    t0 = min(s.start_us for _, s in ordered)
    end = max(s.start_us + s.duration_us for _, s in ordered)
    total_ms = max((end - t0) / 1000, 1e-3)
    colours: dict[str, str] = {}
    for _, span in ordered:
        colours.setdefault(span.service, PALETTE[len(colours) % len(PALETTE)])

    for row, ((_, span), label) in enumerate(zip(ordered, labels, strict=True)):
        names.text(0, row, label, va="center", ha="left", fontfamily="monospace", fontsize=8)
        start = (span.start_us - t0) / 1000
        length = max(span.duration_us / 1000, total_ms / 1000)  # zero-length spans stay visible
        failed = _failed(span)
        ax.barh(
            row,
            length,
            left=start,
            height=0.62,
            color=colours[span.service],
            edgecolor=ERROR_COLOUR if failed else "none",
            linewidth=1.8 if failed else 0,
        )
        text = _annotation(span)
        colour = ERROR_COLOUR if failed else "#222222"
        pad = 0.01 * total_ms
        if start + length <= 0.62 * total_ms:  # room after the bar
            ax.text(
                start + length + pad, row, text, va="center", ha="left", fontsize=8, color=colour
            )
        elif start >= 0.38 * total_ms:  # room before it
            ax.text(start - pad, row, text, va="center", ha="right", fontsize=8, color=colour)
        else:  # a long bar: inside it
            ax.text(
                start + pad,
                row,
                text,
                va="center",
                ha="left",
                fontsize=8,
                color="white",
                fontweight="bold",
            )

    names.set_xlim(0, 1)
    ax.set_ylim(len(ordered) - 0.5, -0.5)  # the root on top
    ax.set_xlim(0, total_ms * 1.02)
    ax.set_xlabel("milliseconds since the trace's first span")
    ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.tick_params(axis="y", left=False, labelleft=False)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    handles = [Patch(color=c, label=s) for s, c in colours.items()]
    ax.legend(
        handles=handles,
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        ncols=len(handles),
        fontsize=8,
        frameon=False,
    )
    heading = f"{len(ordered)} spans, {total_ms:.2f} ms"
    names.set_title(f"{title}  ({heading})" if title else heading, loc="left", fontsize=10)
    return fig


def write_png(spans: Sequence[Span], path: str | Path, title: str = "") -> Path:
    """Draws the waterfall of `spans` into the PNG file `path` (its folder is
    created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    draw(spans, title).savefig(path, format="png")
    return path
