#!/usr/bin/env python3
"""The ceiling of `polymesh bench`: how much load it makes per core.

Drives the gateway benchmark's nghttp2 echo server (polymesh-echo-server,
a few microseconds of CPU per call) with unary EchoService calls, closed
loop, from `polymesh bench` and from h2load (nghttp2's load tool, the
reference) on the same scenario, and reports for each run the calls per
second and the CPU the load generator spent per call (user + system, from
the kernel's accounting of the child). CPU per call is what bounds a load
generator: 1e6 / (CPU us per call) is the most calls per second one core of
it can make, whatever else runs on the machine.

    bench/bench_ceiling.py [--build build/cmake] [--runs 3] [--seconds 5]
        [--connections 4] [--streams 25] [--echo-threads 1] [--json FILE]

Bounded: runs x 2 tools x seconds, plus start-up.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PATH = "/polymesh.testing.v1.EchoService/Unary"


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_polymesh(binary: Path, port: int, args: argparse.Namespace) -> tuple[float, float]:
    argv = [str(binary), "bench", "--target", f"127.0.0.1:{port}", "--quiet", "--json", "-"]
    argv += ["--connections", str(args.connections), "--threads", "1"]
    argv += ["--concurrency", str(args.connections * args.streams), "--warmup", "0"]
    argv += ["--duration", f"{args.seconds}s", PATH, '{"text": "hi"}']
    before = cpu_of_children()
    out = subprocess.run(argv, capture_output=True, text=True, check=True)
    cpu = cpu_of_children() - before
    report = json.loads(out.stdout)
    if report["errors"]:
        sys.exit(f"polymesh bench: errors {report['errors_by_code']}")
    return float(report["calls_per_s"]), cpu * 1e6 / report["calls"]


def run_h2load(port: int, body: Path, args: argparse.Namespace) -> tuple[float, float]:
    argv = ["h2load", "-t1", f"-c{args.connections}", f"-m{args.streams}"]
    argv += [f"-D{args.seconds}s", "-d", str(body)]
    argv += ["-H", "content-type: application/grpc", "-H", "te: trailers"]
    argv.append(f"http://127.0.0.1:{port}{PATH}")
    before = cpu_of_children()
    out = subprocess.run(argv, capture_output=True, text=True, check=True)
    cpu = cpu_of_children() - before
    finished = [line for line in out.stdout.splitlines() if line.startswith("finished in")]
    done = [line for line in out.stdout.splitlines() if line.startswith("requests:")]
    rate = float(finished[0].split(", ")[1].split()[0])
    succeeded = int(done[0].split(", ")[3].split()[0])
    return rate, cpu * 1e6 / max(1, succeeded)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", type=Path, default=ROOT / "build/cmake")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--streams", type=int, default=25)
    parser.add_argument("--echo-threads", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    polymesh = args.build / "clients/cpp/polymesh"
    echo_server = args.build / "bench/gateway/polymesh-echo-server"
    if not shutil.which("h2load"):
        sys.exit("h2load is not installed: run ./dev setup")

    echo = subprocess.Popen(
        [str(echo_server), "--threads", str(args.echo_threads)], stdout=subprocess.PIPE, text=True
    )
    assert echo.stdout is not None
    port = int(json.loads(echo.stdout.readline())["port"])
    # The same request for both: UnaryRequest{text: "hi"}, gRPC-framed.
    message = b"\x0a\x02hi"
    with tempfile.NamedTemporaryFile(suffix=".bin", delete=False) as body_file:
        body_file.write(b"\x00" + len(message).to_bytes(4, "big") + message)
    body = Path(body_file.name)
    results: dict[str, list[tuple[float, float]]] = {"polymesh bench": [], "h2load": []}
    try:
        for _ in range(args.runs):
            results["polymesh bench"].append(run_polymesh(polymesh, port, args))
            time.sleep(0.5)
            results["h2load"].append(run_h2load(port, body, args))
            time.sleep(0.5)
    finally:
        echo.terminate()
        echo.wait(timeout=10)
        os.unlink(body)

    summary = {
        "scenario": {
            "connections": args.connections,
            "streams_per_connection": args.streams,
            "seconds": args.seconds,
            "runs": args.runs,
            "echo_threads": args.echo_threads,
            "cores": os.cpu_count(),
        }
    }
    print(
        f"unary, closed loop, 1 thread, {args.connections} connections x {args.streams} streams,"
        f" {args.seconds} s, {args.runs} runs (median)"
    )
    for tool, runs in results.items():
        rate = statistics.median(r for r, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        summary[tool] = {"calls_per_s": rate, "cpu_us_per_call": cpu, "runs": runs}
        print(
            f"  {tool:15} {rate:10.0f} calls/s  {cpu:5.2f} us CPU per call"
            f"  (one core: {1e6 / cpu:9.0f} calls/s)"
        )
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
