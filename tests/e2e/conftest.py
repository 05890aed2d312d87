"""The mesh as real processes on loopback, for the end-to-end tests.

One session starts every process of deploy/mesh.yaml (through polymesh_mesh:
the commands and environment of `./dev up`) on free ports, plus the echo
backend in this process, waits for each through its health check, and stops
them with SIGTERM at the end, asserting that each of ours exits 0. Logs go to
files that are printed when a test fails. What the tests need beyond the
mesh file is stated as overrides on top of it (`gateway_config`, the key
file `API_KEYS`).

The mesh is secured as the mesh file says: the gateway's TLS listener with
the certificates of its pki (made in the run folder), its routes' rules, and
aiapi calling the inference tier over mTLS. The tests' key file holds the
demo meshes' keys (deploy/auth/api-keys.yaml: `demo`, `operator`) and the
tests' own: `e2e` (every group), `limited` (a tiny quota); the gateway and
aiapi both read it.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from polymesh_client.auth import with_api_key
from polymesh_mesh.config import write_files
from polymesh_mesh.model import ROOT, Folders, ResolvedMesh, load
from polymesh_mesh.testing import HOST, Process, free_ports

from . import echo_backend

GATEWAY_BIN = ROOT / "build/cmake/gateway/polymesh-gateway"
AIAPI_BIN = ROOT / "build/bin/aiapi"
USERS_BIN = ROOT / "build/bin/users"
MODELS = ROOT / "build/models"
SHARED_KEYS = ROOT / "deploy/auth/api-keys.yaml"
DEMO_KEY = "polymesh-demo-key"
OPERATOR_KEY = "polymesh-operator-key"


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
    gateway_tls: str = ""
    """The gateway's TLS listener (host:port)."""
    tls: Path = Path()
    """The folder of the mesh's certificates: ca.crt, gateway, aiapi, operator."""
    users_metrics: str = ""
    """The Go users service's Prometheus endpoint (its /metrics URL)."""


# The gateway admits callers by key; tests call with this one (every group,
# no quota).
API_KEY = "polymesh-e2e-key"
LIMITED_KEY = "polymesh-e2e-limited-key"


def sha256(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


API_KEYS = (
    SHARED_KEYS.read_text()
    + f"""
  # The end-to-end tests' own.
  - name: e2e
    sha256: {sha256(API_KEY)}
    groups: [ai-users, users, operators]
  - name: limited
    sha256: {sha256(LIMITED_KEY)}
    groups: [ai-users]
    requests_per_second: 0.01
    burst: 1
"""
)
assert yaml.safe_load(API_KEYS)["keys"][-1]["name"] == "limited", "the shared file ends in keys"


def with_keys(config: dict[str, Any], keys_file: Path) -> dict[str, Any]:
    """A gateway configuration whose API keys are those of `keys_file`."""
    config = copy.deepcopy(config)
    config["auth_providers"]["api_keys"]["keys_file"] = str(keys_file)
    return config


# The metadata that picks the test-only routes of gateway_config, and the
# rate limit of its ai-rate-limited route: two calls, then one every 100 s.
ROUTE_HEADER = "x-e2e-route"
RATE_LIMITED_RPS = 0.01
RATE_LIMITED_BURST = 2


def gateway_config(resolved: ResolvedMesh, echo_port: int, dead_port: int) -> dict[str, Any]:
    """The mesh's gateway configuration, plus the echo backend and a cluster
    nobody listens on. Without contracts: the dead route's service is in no
    contract of proto/ (test_e2e_reflection runs the gateway with them)."""
    config = copy.deepcopy(resolved.gateway)
    del config["contracts"]
    # Routes without `auth`: open, as the gateway's own services are.
    config["clusters"] += [
        {"name": "echo", "endpoints": [{"address": HOST, "port": echo_port}]},
        {"name": "dead", "endpoints": [{"address": HOST, "port": dead_port}]},
    ]
    ai_auth = next(r["auth"] for r in config["routes"] if r["name"] == "ai")
    config["routes"] = [
        # For test_e2e_security: a secured route to the echo backend, which
        # records what reached it; the AI API with a tiny rate limit.
        {
            "name": "echo-secured",
            "match": {
                "service": "polymesh.testing.v1.EchoService",
                "headers": [{"name": ROUTE_HEADER, "exact": "secured"}],
            },
            "cluster": "echo",
            "auth": {"groups": ["users"]},
        },
        {
            "name": "ai-rate-limited",
            "match": {
                "service": "polymesh.ai.v1.AIService",
                "headers": [{"name": ROUTE_HEADER, "exact": "rate-limited"}],
            },
            "cluster": "aiapi",
            "auth": ai_auth,
            "rate_limit": {"requests_per_second": RATE_LIMITED_RPS, "burst": RATE_LIMITED_BURST},
        },
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
    config = with_keys(gateway_config(resolved, echo_port, dead_port), run / "api-keys.yaml")
    write_files(resolved, gateway=config)
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
            gateway_tls=at("gateway", "POLYMESH_GATEWAY_TLS_PORT"),
            tls=resolved.pki.folder if resolved.pki else run,
            users_metrics=f"http://{at('users', 'POLYMESH_USERS_METRICS_PORT')}/metrics",
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
    """A plaintext channel to the gateway, without credentials (the open
    routes: echo, health, reflection)."""
    with grpc.insecure_channel(
        mesh.gateway, options=[("grpc.max_receive_message_length", 16 << 20)]
    ) as ch:
        yield ch


@pytest.fixture
def keyed(mesh, channel):
    """The same channel, every call carrying the tests' key (every group)."""
    return with_api_key(channel, mesh.api_key)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    mesh = item.funcargs.get("mesh") if hasattr(item, "funcargs") else None
    if report.failed and mesh is not None:
        for process in mesh.processes:
            report.sections.append((f"{process.name} log", process.tail()))
