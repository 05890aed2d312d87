"""`polymesh bench` and ghz on the same open-loop scenario must agree.

Both drive polymesh-echo-server (the gateway benchmark's nghttp2 upstream)
with unary EchoService calls at a fixed rate for a fixed time. In an open
loop the number of completed calls is set by the rate and the duration, not
by how fast the machine is, so the counts of the two tools (and the echo
server's own count of what it answered) must agree within a few percent;
no time is asserted. Bounded: two runs of 3 seconds at 200 calls/s.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build/cmake"
POLYMESH = BUILD / "clients/cpp/polymesh"
ECHO_SERVER = BUILD / "bench/gateway/polymesh-echo-server"
DESCRIPTORS = BUILD / "descriptors/polymesh.binpb"
METHOD = "polymesh.testing.v1.EchoService.Unary"
REQUEST = '{"text": "cross-check", "payload": "AAECAwQFBgcICQ=="}'
RATE = 200
SECONDS = 3
# The share by which the tools' counts may differ: ghz's schedule ends at a
# wall-clock time, not after a fixed number of calls, so it may send one or
# two calls fewer or more.
TOLERANCE = 0.03


def ghz_binary() -> str:
    """ghz as ./dev setup installs it: on PATH under ./dev, else in the cache."""
    found = shutil.which("ghz")
    if found:
        return found
    match = re.search(r"(?m)^GHZ_VERSION=(\S+)", (ROOT / "deploy/dev/versions.sh").read_text())
    assert match, "deploy/dev/versions.sh pins no GHZ_VERSION"
    cache = os.environ.get("POLYMESH_CACHE") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "polymesh"
    )
    path = Path(cache) / f"ghz-{match.group(1)}" / "bin" / "ghz"
    assert path.exists(), f"no ghz at {path}: run ./dev setup"
    return str(path)


class EchoServer:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [str(ECHO_SERVER), "--threads", "1"], stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        self.port = int(json.loads(self.proc.stdout.readline())["port"])

    def calls_ok(self) -> int:
        assert self.proc.stdout is not None
        os.kill(self.proc.pid, signal.SIGUSR1)
        return int(json.loads(self.proc.stdout.readline())["calls_ok"])


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    try:
        yield server
    finally:
        server.proc.send_signal(signal.SIGTERM)
        server.proc.wait(timeout=10)


def run_polymesh(port: int) -> dict:
    argv = [str(POLYMESH), "bench", "--target", f"127.0.0.1:{port}", "--rate", str(RATE)]
    argv += ["--duration", f"{SECONDS}s", "--warmup", "0", "--connections", "1", "--quiet"]
    argv += ["--descriptor-set", str(DESCRIPTORS), "--json", "-", METHOD, REQUEST]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout))


def run_ghz(port: int) -> dict:
    argv = [ghz_binary(), "--insecure", "--protoset", str(DESCRIPTORS), "--call", METHOD]
    # At the end of -z, calls still in flight finish ("wait") rather than
    # being cut off with their connection and counted as errors ("close").
    argv += ["-d", REQUEST, "--rps", str(RATE), "-z", f"{SECONDS}s", "--duration-stop", "wait"]
    argv += ["-c", "10"]
    argv += ["--connections", "1", "-O", "json", f"127.0.0.1:{port}"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout))


def test_polymesh_bench_and_ghz_count_the_same_calls_at_a_fixed_rate(echo: EchoServer) -> None:
    expected = RATE * SECONDS

    before = echo.calls_ok()
    ours = run_polymesh(echo.port)
    answered_ours = echo.calls_ok() - before
    theirs = run_ghz(echo.port)
    answered_theirs = echo.calls_ok() - before - answered_ours

    assert ours["mode"] == "open"
    assert ours["errors_by_code"] == {}
    assert ours["calls"] == ours["ok"] == expected  # the schedule fixes the count
    assert answered_ours == ours["calls"]  # what it counted is what the server answered
    assert theirs["errorDistribution"] == {}
    assert theirs["statusCodeDistribution"] == {"OK": theirs["count"]}
    assert answered_theirs == theirs["count"]
    assert abs(theirs["count"] - ours["calls"]) <= TOLERANCE * expected, (ours, theirs["count"])
