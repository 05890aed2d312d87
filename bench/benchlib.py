"""Helpers shared by the benchmark scripts (bench/bench_all.py,
bench/inference_vs_mlserver.py, bench/gateway/bench_gateway.py): process
accounting from /proc, percentiles, signal handling, and the generated
sections of docs/BENCHMARKS.md."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

CLOCK_TICK = os.sysconf("SC_CLK_TCK")

DOCS_PREAMBLE = "# Benchmarks\n\nHow polymesh performs, measured by `./dev bench`.\n"


def percentile(sorted_values: list[float], q: float) -> float:
    """The value at rank q (0..1) of sorted values (nearest rank); 0 if none."""
    if not sorted_values:
        return 0.0
    return sorted_values[min(round(q * (len(sorted_values) - 1)), len(sorted_values) - 1)]


def group_members(pgid: int) -> list[int]:
    """The processes of a process group (a server and the processes it started)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            members.append(int(stat.parent.name))
    return members


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of every thread of these processes (gone ones count 0)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / CLOCK_TICK


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP unwind like Ctrl-C, so that every process is stopped."""

    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def write_section(path: Path, begin: str, end: str, text: str, *, first: bool = False) -> None:
    """Puts `text` (which starts with `begin` and ends with `end` and a newline)
    in place of the section between those markers in `path`; a new section goes
    at the end, or with `first` before the first other generated section. The
    other sections stay as they are."""
    current = path.read_text() if path.exists() else DOCS_PREAMBLE
    start, stop = current.find(begin), current.find(end)
    if start >= 0 and stop > start:
        updated = current[:start] + text + current[stop + len(end) + 1 :]
    elif first and (other := current.find("<!-- ")) >= 0:
        updated = current[:other] + text + "\n" + current[other:]
    else:
        updated = current.rstrip("\n") + "\n\n" + text
    path.write_text(updated)
