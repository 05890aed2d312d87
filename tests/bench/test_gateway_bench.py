"""The programs and pieces of ./dev bench gateway, on real processes.

polymesh-echo-server (both engines) must answer EchoService's contract and
count what it answered; polymesh-stream-load must drive BidiStream calls and
report failures; the h2load driver must parse real runs; the docs writer must
keep the other sections of docs/BENCHMARKS.md.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import grpc
import pytest
from polymesh.testing.v1 import echo_pb2, echo_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "build/cmake/bench/gateway"
HOST = "127.0.0.1"


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bench_gateway", ROOT / "bench/gateway/bench_gateway.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_gateway"] = module
    spec.loader.exec_module(module)
    return module


bench = load_bench()


class EchoServer:
    def __init__(self, engine: str) -> None:
        self.proc = subprocess.Popen(
            [str(BENCH / "polymesh-echo-server"), "--engine", engine, "--threads", "2"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.port = int(json.loads(self.proc.stdout.readline())["port"])

    def counts(self) -> dict[str, int]:
        assert self.proc.stdout is not None
        os.kill(self.proc.pid, signal.SIGUSR1)
        return dict(json.loads(self.proc.stdout.readline()))

    def stop(self) -> int:
        os.kill(self.proc.pid, signal.SIGTERM)
        return self.proc.wait(timeout=10)


@pytest.fixture(params=["nghttp2", "grpc"])
def echo(request: pytest.FixtureRequest) -> Iterator[EchoServer]:
    server = EchoServer(request.param)
    try:
        yield server
    finally:
        if server.proc.poll() is None:
            server.stop()


def stub(port: int) -> tuple[grpc.Channel, echo_pb2_grpc.EchoServiceStub]:
    channel = grpc.insecure_channel(f"{HOST}:{port}", options=[("grpc.enable_http_proxy", 0)])
    return channel, echo_pb2_grpc.EchoServiceStub(channel)


def test_echo_server_answers_the_contract(echo: EchoServer) -> None:
    channel, s = stub(echo.port)
    with channel:
        response = s.Unary(echo_pb2.UnaryRequest(text="hi", payload=b"\x00\xff" * 9000), timeout=10)
        assert (response.text, response.payload) == ("hi", b"\x00\xff" * 9000)

        sized = echo_pb2.Instruction(response_size=70000)
        response = s.Unary(echo_pb2.UnaryRequest(instruction=sized), timeout=10)
        assert len(response.payload) == 70000

        failing = echo_pb2.Instruction(fail_code=5, fail_message="nö such thing")
        with pytest.raises(grpc.RpcError) as error:
            s.Unary(echo_pb2.UnaryRequest(instruction=failing), timeout=10)
        assert error.value.code() == grpc.StatusCode.NOT_FOUND
        assert error.value.details() == "nö such thing"

        requests = [echo_pb2.BidiStreamRequest(text=str(i), payload=b"y" * i) for i in range(4)]
        responses = list(s.BidiStream(iter(requests), timeout=10))
        assert [(r.text, r.payload, r.index) for r in responses] == [
            (str(i), b"y" * i, i) for i in range(4)
        ]

        with pytest.raises(grpc.RpcError) as error:
            list(s.ServerStream(echo_pb2.ServerStreamRequest(text="x"), timeout=10))
        assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED

    # 2 unary OK + 1 stream OK; 1 failed; 2 unary + 4 stream messages.
    assert echo.counts() == {"calls_ok": 3, "calls_failed": 1, "messages": 6}
    assert echo.stop() == 0


def test_echo_server_rejects_bad_flags() -> None:
    out = subprocess.run(
        [str(BENCH / "polymesh-echo-server"), "--threads", "0"], capture_output=True, text=True
    )
    assert out.returncode == 2
    assert "--threads takes 1 to 256" in out.stderr


def test_stream_load_counts_round_trips(echo: EchoServer) -> None:
    argv = [str(BENCH / "polymesh-stream-load"), "--target", f"{HOST}:{echo.port}"]
    argv += ["--connections", "2", "--streams", "3", "--payload", "16384"]
    argv += ["--warmup", "0.1", "--duration", "0.3"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["streams_ok"] == 6
    assert report["streams_failed"] == 0
    assert report["statuses"] == {"0": 6}
    assert report["messages"] > 0
    latency = report["latency_us"]
    assert latency["p50"] <= latency["p99"] <= latency["p99.9"] <= latency["max"]
    counts = echo.counts()
    # Warm-up and the last round trips are answered but not measured.
    assert counts["messages"] >= report["messages"]
    assert counts["calls_ok"] == 6


def test_stream_load_fails_without_a_server() -> None:
    port = bench.free_port()  # nothing listens there
    argv = [str(BENCH / "polymesh-stream-load"), "--target", f"{HOST}:{port}"]
    argv += ["--warmup", "0", "--duration", "0.2"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    report = json.loads(out.stdout)
    assert report["streams_ok"] == 0
    assert report["errors"], report


def test_h2load_driver_measures_real_calls(echo: EchoServer, tmp_path: Path) -> None:
    scenario = bench.Scenario("t", "unary", 100, 2, 4)
    body = tmp_path / "body"
    body.write_bytes(bench.grpc_body(100))
    before = echo.counts()
    result = bench.run_h2load(scenario, echo.port, body, 0.3, tmp_path / "log")
    answered = echo.counts()["calls_ok"] - before["calls_ok"]
    assert result.errors == []
    assert result.rate > 0
    assert len(result.latencies_us) == result.calls > 0
    assert result.latencies_us == sorted(result.latencies_us)
    assert answered >= result.calls


def test_h2load_driver_reports_http_errors(echo: EchoServer, tmp_path: Path) -> None:
    # Calls that fail with a gRPC status come back as HTTP 200 with
    # grpc-status in trailers: h2load counts them as successes, the upstream
    # as failures, and the benchmark compares the two.
    failing = echo_pb2.UnaryRequest(instruction=echo_pb2.Instruction(fail_code=3))
    message = failing.SerializeToString()
    body = tmp_path / "body"
    body.write_bytes(b"\x00" + len(message).to_bytes(4, "big") + message)
    before = echo.counts()
    result = bench.run_h2load(bench.Scenario("t", "unary", 1, 1, 1), echo.port, body, 0.2, None)
    after = echo.counts()
    assert result.calls > 0
    assert after["calls_ok"] == before["calls_ok"]
    assert after["calls_failed"] - before["calls_failed"] >= result.calls


def test_write_docs_replaces_only_the_gateway_section(tmp_path: Path) -> None:
    docs = tmp_path / "BENCHMARKS.md"
    docs.write_text("# Benchmarks\n\n## Inference\n\nnumbers\n")
    bench.write_docs(docs, f"{bench.DOCS_BEGIN}\n## Gateway\n\nfirst\n{bench.DOCS_END}\n")
    bench.write_docs(docs, f"{bench.DOCS_BEGIN}\n## Gateway\n\nsecond\n{bench.DOCS_END}\n")
    text = docs.read_text()
    assert "## Inference\n\nnumbers\n" in text
    assert "second" in text and "first" not in text
    assert text.count(bench.DOCS_BEGIN) == 1 and text.count(bench.DOCS_END) == 1
    docs.write_text(text + "\n## Later\n\nkept\n")
    bench.write_docs(docs, f"{bench.DOCS_BEGIN}\n## Gateway\n\nthird\n{bench.DOCS_END}\n")
    assert docs.read_text().endswith("third\n" + bench.DOCS_END + "\n\n## Later\n\nkept\n")
