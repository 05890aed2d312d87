"""The programs and pieces of ./dev bench gateway, on real processes.

polymesh-echo-server (both engines) must answer EchoService's contract and
count what it answered; polymesh-stream-load must drive BidiStream calls and
report failures; the h2load driver must parse real runs, over TLS too; the
generated configurations must start a gateway and nginx that serve in
plaintext and with TLS, and a gateway whose route takes only valid tokens;
the certificate must chain to its CA and the token verify with its JWKS; the
docs writer must keep the other sections of docs/BENCHMARKS.md and show the
TLS and JWT figures.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import grpc
import pytest
from polymesh.testing.v1 import echo_pb2, echo_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "build/cmake/bench/gateway"
GATEWAY = ROOT / "build/cmake/gateway/polymesh-gateway"
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


# --- TLS and JWT -----------------------------------------------------------------


credentials = sys.modules["bench_credentials"]  # loaded by bench_gateway


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory):  # -> bench_credentials.TlsFiles
    return credentials.make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory):  # -> bench_credentials.Issuer
    return credentials.make_issuer(tmp_path_factory.mktemp("jwt"))


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[object]:
    started = bench.Processes(tmp_path)
    try:
        yield started
    finally:
        started.stop_all()


def claims(**changes: object) -> dict[str, object]:
    now = int(time.time())
    base: dict[str, object] = {
        "iss": bench.JWT_ISSUER,
        "sub": bench.JWT_PRINCIPAL,
        "aud": bench.JWT_AUDIENCE,
        "iat": now,
        "exp": now + 3600,
    }
    return {**base, **changes}


def test_gateway_config_with_tls_serves_both_listeners(
    echo: EchoServer, tls, procs, tmp_path: Path
) -> None:
    config = bench.gateway_config(echo.port, 1, tracing=False, admin_field=True, tls=tls)
    assert "tls_listener:" in config and "auth" not in config
    proxy, workers, tls_port = bench.start_gateway(procs, GATEWAY, "gw", tmp_path, config)
    assert workers == 1 and tls_port is not None and tls_port != proxy.port
    unary = bench.Scenario("t", "unary", 100, 1, 1)
    bench.check_path(bench.Endpoint(proxy.port), unary, None)
    bench.check_path(bench.Endpoint(tls_port, tls=True), unary, tls.ca)
    bench.check_path(
        bench.Endpoint(tls_port, tls=True), bench.Scenario("t", "bidi", 10, 1, 1), tls.ca
    )
    body = tmp_path / "body"
    body.write_bytes(bench.grpc_body(100))
    result = bench.run_h2load(
        bench.Scenario("t", "unary", 100, 2, 4), tls_port, body, 0.3, tmp_path / "log", tls=True
    )
    assert result.errors == []
    assert result.calls > 0
    assert result.tls is not None
    assert (result.tls["protocol"], result.tls["cipher"], result.tls["alpn"]) == (
        "TLSv1.3",
        bench.TLS13_SUITE,
        "h2",
    )
    plain = bench.gateway_config(echo.port, 1, tracing=False, admin_field=True)
    assert "tls_listener" not in plain
    _, _, none = bench.start_gateway(procs, GATEWAY, "gw-plain", tmp_path, plain)
    assert none is None


def test_gateway_config_with_jwt_takes_only_valid_tokens(
    echo: EchoServer, issuer, procs, tmp_path: Path
) -> None:
    jwt = bench.JwtRoute(issuer.jwks, bench.JWT_ISSUER, bench.JWT_AUDIENCE, bench.JWT_PRINCIPAL)
    config = bench.gateway_config(echo.port, 1, tracing=False, admin_field=True, jwt=jwt)
    proxy, _, _ = bench.start_gateway(procs, GATEWAY, "gw-jwt", tmp_path, config)
    token = bench.bench_token(issuer)
    endpoint = bench.Endpoint(proxy.port, headers=(f"authorization: Bearer {token}",))
    bench.check_path(endpoint, bench.Scenario("t", "unary", 100, 1, 1), None)
    bench.check_auth(endpoint, None)

    import grpc

    def code(token: str) -> grpc.StatusCode:
        channel, s = stub(proxy.port)
        with channel:
            try:
                s.Unary(
                    echo_pb2.UnaryRequest(text="t"),
                    timeout=10,
                    metadata=[("authorization", f"Bearer {token}")],
                )
            except grpc.RpcError as e:
                return e.code()
        return grpc.StatusCode.OK

    assert code(issuer.token(claims(sub="someone-else"))) == grpc.StatusCode.PERMISSION_DENIED
    assert code(issuer.token(claims(exp=int(time.time()) - 3600))) == (
        grpc.StatusCode.UNAUTHENTICATED
    )
    assert code(issuer.token(claims(aud="another"))) == grpc.StatusCode.UNAUTHENTICATED
    # Through the unchecked gateway, the same header is only forwarded.
    plain = bench.gateway_config(echo.port, 1, tracing=False, admin_field=True)
    unchecked, _, _ = bench.start_gateway(procs, GATEWAY, "gw-plain", tmp_path, plain)
    bench.check_path(
        bench.Endpoint(unchecked.port, headers=endpoint.headers),
        bench.Scenario("t", "unary", 100, 1, 1),
        None,
    )


def test_nginx_config_with_tls_proxies_both_listeners(
    echo: EchoServer, tls, procs, tmp_path: Path
) -> None:
    text = bench.nginx_config(tmp_path, 1, echo.port, 1234, tls=tls, tls_port=1235)
    assert f"listen {HOST}:1234 http2;" in text
    assert f"listen {HOST}:1235 ssl http2;" in text
    assert f"ssl_certificate {tls.certificate};" in text
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in text
    assert "ssl" not in bench.nginx_config(tmp_path, 1, echo.port, 1234)
    with pytest.raises(ValueError):
        bench.nginx_config(tmp_path, 1, echo.port, 1234, tls=tls)

    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    proxy, tls_port = bench.start_nginx(procs, nginx, tmp_path, echo.port, 1, tls)
    assert tls_port is not None
    unary = bench.Scenario("t", "unary", 100, 1, 1)
    bench.check_path(bench.Endpoint(proxy.port), unary, None)
    bench.check_path(bench.Endpoint(tls_port, tls=True), unary, tls.ca)
    body = tmp_path / "body"
    body.write_bytes(bench.grpc_body(100))
    result = bench.run_h2load(unary, tls_port, body, 0.2, None, tls=True)
    assert result.errors == [] and result.calls > 0
    assert result.tls is not None and result.tls["cipher"] == bench.TLS13_SUITE


def test_h2load_tls_report_is_checked() -> None:
    text = (
        "TLS Protocol: TLSv1.2\nCipher: ECDHE-ECDSA-AES128-GCM-SHA256\n"
        "Server Temp Key: X25519 253 bits\nApplication protocol: h2\n"
    )
    session, errors = bench.h2load_tls(text)
    assert session == {
        "protocol": "TLSv1.2",
        "cipher": "ECDHE-ECDSA-AES128-GCM-SHA256",
        "key_exchange": "X25519 253 bits",
        "alpn": "h2",
    }
    assert len(errors) == 2 and "TLSv1.2" in errors[0]
    _, errors = bench.h2load_tls("")
    assert len(errors) == 3


def test_targets_option() -> None:
    args = bench.parse_args([])
    assert args.targets.split(",") == list(bench.TARGETS)
    args = bench.parse_args(["--targets", "polymesh,polymesh-tls"])
    assert args.targets == "polymesh,polymesh-tls"
    with pytest.raises(SystemExit):
        bench.parse_args(["--targets", "polymesh,haproxy"])
    four = next(s for s in bench.SCENARIOS if s.name == "unary-100B-4x50")
    assert set(bench.TLS_TARGETS + bench.JWT_TARGETS) <= set(four.targets)
    others = [s for s in bench.SCENARIOS if s is not four]
    assert all(s.targets == bench.BASE_TARGETS for s in others)


def security_results() -> dict[str, object]:
    """Results of a run with every target at 4x50, as benchmark() writes them."""
    rates = {"polymesh": 100000, "polymesh-tls": 80000, "nginx": 40000, "nginx-tls": 30000}
    rates |= {"polymesh-bearer": 95000, "polymesh-jwt": 90000, "direct": 200000}
    cpu = {"polymesh": 8.0, "polymesh-tls": 12.5, "nginx": 20.0, "nginx-tls": 28.0}
    cpu |= {"polymesh-bearer": 8.6, "polymesh-jwt": 9.9, "direct": None}
    session = {"protocol": "TLSv1.3", "cipher": bench.TLS13_SUITE}
    session |= {"key_exchange": "X25519 253 bits", "alpn": "h2"}

    def run(target: str) -> dict[str, object]:
        tls = session if target.endswith("-tls") else None
        return {
            **bench.asdict(bench.RunResult(rates[target], 1000, 1, 2, 3, cpu[target], 3, 4, 1000)),
            "tls": tls,
        }

    runs = {t: [run(t)] for t in rates}
    medians = {t: {**r[0], "collector_cpu_us": None} for t, r in runs.items()}
    results: dict[str, object] = {
        "finished": "2026-01-01 00:00 UTC",
        "elapsed_s": 60.0,
        "machine": {"cpu_model": "cpu", "cores": 2, "memory_gib": 4.0, "kernel": "6"},
        "versions": dict.fromkeys(
            ("nginx", "h2load", "compiler", "build_type", "libnghttp2", "grpc_cpp", "jaeger"), "v"
        )
        | {"commit": "abc"},
        "settings": {
            "duration_s": 1.0,
            "warmup_s": 0.0,
            "repetitions": 1,
            "upstream_engine": "nghttp2",
            "upstream_threads": 2,
            "nice": 0,
            "workers": 2,
        },
        "tls": {
            "certificate": "ECDSA P-256",
            "offered": {"tls1.3": bench.TLS13_SUITE, "tls1.2": bench.TLS12_SUITE},
            "negotiated": {"polymesh-tls": session, "nginx-tls": session},
        },
        "jwt": {
            "alg": "ES256",
            "issuer": bench.JWT_ISSUER,
            "audience": bench.JWT_AUDIENCE,
            "principal": bench.JWT_PRINCIPAL,
            "token_bytes": 400,
            "header_bytes": 420,
        },
        "memory": {"polymesh": {"idle_rss_kib": 8000, "peak_rss_kib": 9000}},
        "scenarios": [
            {
                "name": "unary-100B-4x50",
                "kind": "unary",
                "title": "unary 100 B, 4x50",
                "runs": runs,
                "median": medians,
            }
        ],
    }
    results.update(bench.summarize(results))
    return results


def test_summary_judges_the_tls_and_jwt_goals() -> None:
    rows = {row["target"]: row for row in security_results()["targets"]}
    tls_rate = rows["throughput over TLS vs nginx over TLS, unary 100 B 4x50"]
    assert (tls_rate["text"], tls_rate["met"]) == ("2.67x", True)
    (tls_cpu,) = [r for name, r in rows.items() if name.startswith("TLS extra")]
    assert (tls_cpu["measured"], tls_cpu["met"]) == (pytest.approx(4.5), True)
    (nginx_cpu,) = [r for name, r in rows.items() if name.startswith("nginx's TLS")]
    assert (nginx_cpu["measured"], nginx_cpu["goal"], nginx_cpu["met"]) == (8.0, "-", None)
    (jwt,) = [r for name, r in rows.items() if "over no auth and no header" in name]
    assert (jwt["measured"], jwt["met"]) == (pytest.approx(1.9), True)
    (check,) = [r for name, r in rows.items() if "over the same header unchecked" in name]
    assert (check["measured"], check["met"]) == (pytest.approx(1.3), None)


def test_docs_and_plots_show_the_tls_and_jwt_figures(tmp_path: Path) -> None:
    results = security_results()
    text = bench.docs_section(results, "benchmarks/gateway.json")
    assert "- **TLS**:" in text and "- **JWT**:" in text
    assert f"--tls13-ciphers={bench.TLS13_SUITE}" in text
    assert "| polymesh, TLS | 80,000 | 12.5 | +4.5 over *polymesh* |" in text
    assert "+1.9 over *polymesh*; +1.3 over *polymesh, bearer header unchecked*" in text
    assert "images/bench-gateway-security.png" in text
    written = bench.plot(results, tmp_path)
    assert tmp_path / "bench-gateway-security.png" in written
    # Results from before the TLS and JWT targets still render.
    old = {k: v for k, v in results.items() if k not in ("tls", "jwt")}
    old["scenarios"] = [
        {
            **results["scenarios"][0],
            "runs": {t: r for t, r in results["scenarios"][0]["runs"].items() if "-" not in t},
            "median": {t: m for t, m in results["scenarios"][0]["median"].items() if "-" not in t},
        }
    ]
    text = bench.docs_section(old, "benchmarks/gateway.json")
    assert "**TLS**" not in text and "bench-gateway-security" not in text
