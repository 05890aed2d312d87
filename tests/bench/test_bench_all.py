"""./dev bench (bench/bench_all.py) in a tiny profile, on real processes.

One short run of the whole suite (the gateway benchmark in one scenario, the
users services, the AI API and the inference tier; not MLServer, whose own
environment takes minutes to install) into a temporary folder. Asserted:
structure only (every scenario made calls, every process was measured, the
document has its sections), never timings.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
POLYMESH_CLI = ROOT / "build/cmake/clients/cpp/polymesh"


def load_suite() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_all", ROOT / "bench/bench_all.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_all"] = module
    spec.loader.exec_module(module)
    return module


suite = load_suite()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str, Path]:
    tmp = tmp_path_factory.mktemp("suite")
    docs = tmp / "BENCHMARKS.md"
    docs.write_text("# Benchmarks\n\nHow polymesh performs, measured by `./dev bench`.\n")
    argv = [sys.executable, str(ROOT / "bench/bench_all.py")]
    argv += ["--concurrency", "1,2", "--ai-concurrency", "2", "--duration", "0.3"]
    argv += ["--warmup", "0", "--skip", "inference"]
    argv += ["--gateway-duration", "0.3", "--gateway-warmup", "0"]
    argv += ["--gateway-scenarios", "unary-100B-1x1"]
    argv += ["--output", str(tmp / "all.json"), "--gateway-json", str(tmp / "gateway.json")]
    argv += ["--docs", str(docs), "--images", str(tmp / "images")]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return json.loads((tmp / "all.json").read_text()), docs.read_text(), tmp


def test_every_scenario_made_calls_at_every_concurrency(
    tiny_run: tuple[dict[str, Any], str, Path],
) -> None:
    results, _, _ = tiny_run
    names = {s["name"] for s in results["scenarios"]}
    assert names == {
        f"users-{impl}-{via}-{method}"
        for impl in ("go", "python")
        for via in ("direct", "gateway")
        for method in ("GetUser", "CreateUser")
    } | {"ai-inference-direct", "ai-inference-gateway", "ai-aiapi-direct", "ai-aiapi-mesh"}
    for s in results["scenarios"]:
        levels = [1, 2] if s["group"] == "users" else [2]
        points = [p for p in results["points"] if p["scenario"] == s["name"]]
        assert sorted(p["concurrency"] for p in points) == levels, s["name"]
        for p in points:
            assert p["calls"] > 0, p
            assert p["errors_by_code"] == {}, p
            assert set(p["latency_us"]) == {"p50", "p90", "p99", "p999", "max"}
            # Every process on the call's path has its CPU per 1,000 calls.
            assert set(s["path"]) <= set(p["cpu_s_per_1k"]), p
        assert {p["generator"] for p in points} == {"polymesh bench"}


def test_every_process_was_measured(tiny_run: tuple[dict[str, Any], str, Path]) -> None:
    results, _, _ = tiny_run
    processes = results["processes"]
    assert set(processes) == {"users", "users-py", "inference", "gateway", "aiapi", "aiapi-mesh"}
    for name, memory in processes.items():
        assert 0 < memory["idle_rss_kib"] <= memory["peak_rss_kib"], name
    assert results["tracing"], "the gateway benchmark's tracing numbers were not reused"
    assert results["settings"]["subbench_status"] == {"gateway": 0}
    for key in ("cpu_model", "cores", "kernel"):
        assert results["machine"][key]
    for key in ("go", "python", "grpcio", "grpc_cpp", "h2load"):
        assert results["versions"][key] not in ("", "unknown"), key


def test_the_document_has_every_section(tiny_run: tuple[dict[str, Any], str, Path]) -> None:
    _, docs, tmp = tiny_run
    assert docs.count(suite.BEGIN) == 1 and docs.count(suite.END) == 1
    # The suite's section comes first; the gateway benchmark wrote its own.
    assert docs.index(suite.END) < docs.index("<!-- gateway-bench:begin")
    for heading in (
        "## The whole suite: Go and Python side by side",
        "### Machine and versions",
        "### Method",
        "### Commonly quoted figures, and ours",
        "### Go and Python, same contract",
        "### The AI API (Go) in front of the inference tier (Python)",
        "### Resources",
        "### Tracing cost",
        "## Gateway",
    ):
        assert heading in docs, heading
    for claim in ("Go ~200k req/s", "p99 0.5-2 ms", "8-20 MB", "Go front door"):
        assert claim in docs, claim
    for image in ("users-throughput", "users-latency", "ai", "rss"):
        path = tmp / "images" / f"bench-suite-{image}.png"
        assert path.stat().st_size > 0
        assert f"images/bench-suite-{image}.png" in docs
    assert (tmp / "benchmarks/all.json").exists()


@pytest.mark.parametrize(
    ("log", "want"),
    [
        ('{"severity":"INFO","body":"ready","service.name":"g","address":"h:1"}\n', "h:1"),
        ('{"level":"INFO","msg":"gateway started","fields":{"listener":"h:2"}}\n', "h:2"),
        ('not json\n{"body":"starting"}\n{"body":"ready","address":"h:3"}\n', "h:3"),
        ('{"body":"starting"}\n', None),
        ("", None),
    ],
)
def test_ready_address(log: str, want: str | None) -> None:
    assert suite.ready_address(log) == want


def test_write_docs_keeps_the_other_sections(tmp_path: Path) -> None:
    docs = tmp_path / "BENCHMARKS.md"
    docs.write_text("# Benchmarks\n\nintro\n\n<!-- gateway-bench:begin -->\ngw\n")
    suite.write_docs(docs, f"{suite.BEGIN}\nfirst\n{suite.END}\n")
    suite.write_docs(docs, f"{suite.BEGIN}\nsecond\n{suite.END}\n")
    text = docs.read_text()
    assert text == (
        f"# Benchmarks\n\nintro\n\n{suite.BEGIN}\nsecond\n{suite.END}\n\n"
        "<!-- gateway-bench:begin -->\ngw\n"
    )


def test_polymesh_bench_counts_errors_by_status_code(tmp_path: Path) -> None:
    # Nothing listens on this port: every call fails with UNAVAILABLE.
    generator = suite.PolymeshBench(POLYMESH_CLI)
    call = suite.Call(
        target=f"127.0.0.1:{suite.free_port()}",
        method="/polymesh.users.v1.UserService/CreateUser",
        message=b"\x0a\x0au0000@x.y",
        unique="0000",
    )
    with pytest.raises(suite.BenchError, match="connect"):
        generator.run(call, concurrency=1, seconds=0.2, work=tmp_path)


def test_polymesh_bench_refuses_a_marker_that_is_not_in_the_message(tmp_path: Path) -> None:
    body = tmp_path / "body"
    body.write_bytes(b"\x0a\x03abc")
    argv = [str(POLYMESH_CLI), "bench", "--target", "127.0.0.1:1", "--data-file", str(body)]
    argv += ["--unique", "0000", "--calls", "1", "/a.B/C"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert out.returncode == 2, out.stderr
    assert "does not occur in the request" in out.stderr
