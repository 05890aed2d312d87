"""The mesh as real processes on loopback, for the end-to-end tests.

One session starts every process of deploy/mesh.yaml (through polymesh_mesh:
the commands and environment of `./dev up`) on free ports, plus the echo
backend in this process, waits for each through its health check, and stops
them with SIGTERM at the end, asserting that each of ours exits 0. Logs go to
files that are printed when a test fails. What the tests need beyond the
mesh file is stated as overrides on top of it (`OVERRIDES`, `gateway_config`).
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from polymesh_mesh.config import write_files
from polymesh_mesh.model import ROOT, Folders, ResolvedMesh, load
from polymesh_mesh.testing import HOST, Process, free_ports

from . import echo_backend

GATEWAY_BIN = ROOT / "build/cmake/gateway/polymesh-gateway"
AIAPI_BIN = ROOT / "build/bin/aiapi"
USERS_BIN = ROOT / "build/bin/users"
MODELS = ROOT / "build/models"


def require(path: Path) -> None:
    if not path.exists():
        pytest.fail(f"{path.relative_to(ROOT)} is missing: run ./dev build or ./dev setup")


def resolve_mesh(run: Path, overrides: dict[str, int] | None = None) -> ResolvedMesh:
    """deploy/mesh.yaml with every port free (or as `overrides` says), its
    run folder `run`."""
    mesh = load()
    ports = dict(zip(mesh.port_variables, free_ports(len(mesh.port_variables)), strict=True))
    ports.update(overrides or {})
    return mesh.resolve(Folders.of_checkout(ROOT, run=run), {}, {"POLYMESH_HOST": HOST, **ports})


@dataclass
class Mesh:
    """Where the mesh listens, and the echo backend's servicer."""

    gateway: str
    jaeger: str
    otlp: str
    echo: echo_backend.EchoBackend
    processes: list[Process]
    api_key: str
    aiapi_metrics: str
    gateway_admin: str
    inference_metrics: str = ""
    """The inference service's Prometheus endpoint (its /metrics URL)."""
    users: str = ""
    """The Go users service itself (host:port), for tests that go around the gateway."""


# The AI API admits callers by key; tests call with this one (no quota).
API_KEY = "polymesh-e2e-key"
LIMITED_KEY = "polymesh-e2e-limited-key"


def sha256(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


API_KEYS = f"""\
keys:
  - name: e2e
    sha256: {sha256(API_KEY)}
  - name: limited
    sha256: {sha256(LIMITED_KEY)}
    requests_per_second: 0.01
    burst: 1
"""


def gateway_config(resolved: ResolvedMesh, echo_port: int, dead_port: int) -> dict[str, Any]:
    """The mesh's gateway configuration, plus the echo backend and a cluster
    nobody listens on. Without contracts: the dead route's service is in no
    contract of proto/ (test_e2e_reflection runs the gateway with them)."""
    config = copy.deepcopy(resolved.gateway)
    del config["contracts"]
    config["clusters"] += [
        {"name": "echo", "endpoints": [{"address": HOST, "port": echo_port}]},
        {"name": "dead", "endpoints": [{"address": HOST, "port": dead_port}]},
    ]
    config["routes"] = [
        {
            "name": "echo",
            "match": {"service": "polymesh.testing.v1.EchoService"},
            "cluster": "echo",
        },
        {
            "name": "dead",
            "match": {"method": "polymesh.testing.v1.DeadService/Call"},
            "cluster": "dead",
        },
        *config["routes"],
    ]
    return config


@pytest.fixture(scope="session")
def mesh(tmp_path_factory):
    for path in (GATEWAY_BIN, AIAPI_BIN, USERS_BIN, MODELS / ".complete"):
        require(path)
    run = tmp_path_factory.mktemp("mesh")
    resolved = resolve_mesh(run)
    require(Path(resolved.process("jaeger").argv[0]))
    (run / "api-keys.yaml").write_text(API_KEYS)
    echo_port, dead_port = free_ports(2)
    # Test-only settings on top of the mesh file: spans exported every 100 ms,
    # the tests' own API keys.
    overrides = {
        "aiapi": {"POLYMESH_API_KEYS_FILE": str(run / "api-keys.yaml")},
    }
    extra = {"OTEL_BSP_SCHEDULE_DELAY": "100"}
    write_files(resolved, gateway=gateway_config(resolved, echo_port, dead_port))
    server, backend = echo_backend.start(echo_port)
    processes: list[Process] = []
    try:
        for spec in resolved.processes:
            spec = spec.with_env(overrides.get(spec.name, {}))
            if spec.name != "jaeger":
                spec = spec.with_env(extra, only_known=False)
            process = Process.start(spec, run)
            processes.append(process)
            process.wait_until()

        def at(name: str, variable: str) -> str:
            return f"{HOST}:{resolved.process(name).port(variable)}"

        yield Mesh(
            gateway=at("gateway", "POLYMESH_GATEWAY_PORT"),
            jaeger=f"http://{at('jaeger', 'POLYMESH_JAEGER_UI_PORT')}",
            otlp=resolved.process("gateway").env["OTEL_EXPORTER_OTLP_ENDPOINT"],
            echo=backend,
            processes=processes,
            inference_metrics=f"http://{at('inference', 'POLYMESH_INFERENCE_METRICS_PORT')}"
            "/metrics",
            api_key=API_KEY,
            aiapi_metrics=f"http://{at('aiapi', 'POLYMESH_AIAPI_METRICS_PORT')}/metrics",
            gateway_admin=f"http://{at('gateway', 'POLYMESH_GATEWAY_ADMIN_PORT')}",
            users=at("users", "POLYMESH_USERS_PORT"),
        )
    finally:
        codes = {p.name: p.stop() for p in reversed(processes)}
        server.stop(grace=None)
    bad = {name: code for name, code in codes.items() if name != "jaeger" and code != 0}
    assert not bad, f"processes did not stop cleanly on SIGTERM: {bad}\n" + "\n".join(
        f"--- {p.name}\n{p.tail()}" for p in processes if p.name in bad
    )


@pytest.fixture
def channel(mesh):
    with grpc.insecure_channel(
        mesh.gateway, options=[("grpc.max_receive_message_length", 16 << 20)]
    ) as ch:
        yield ch


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    mesh = item.funcargs.get("mesh") if hasattr(item, "funcargs") else None
    if report.failed and mesh is not None:
        for process in mesh.processes:
            report.sections.append((f"{process.name} log", process.tail()))
