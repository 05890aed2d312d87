"""The mesh as real processes on loopback, for the end-to-end tests.

One session starts Jaeger, the echo backend (in this process), the inference
service, the gateway and aiapi, each on a free port, waits for each through its
health endpoint, and stops them with SIGTERM at the end, asserting that each of
ours exits 0. Logs go to files that are printed when a test fails.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from polymesh_client.probe import grpc_serving, http_ok

from . import echo_backend

ROOT = Path(__file__).resolve().parents[2]
GATEWAY_BIN = ROOT / "build/cmake/gateway/polymesh-gateway"
AIAPI_BIN = ROOT / "build/bin/aiapi"
USERS_BIN = ROOT / "build/bin/users"
MODELS = ROOT / "build/models"
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def jaeger_binary() -> str:
    found = shutil.which("jaeger") or next(
        iter(sorted(glob.glob(os.path.expanduser("~/.cache/polymesh/tools-*/bin/jaeger")))), None
    )
    if not found:
        pytest.fail("no jaeger binary: run ./dev setup")
    return found


def require(path: Path) -> None:
    if not path.exists():
        pytest.fail(f"{path.relative_to(ROOT)} is missing: run ./dev build")


class Process:
    """A child process with its log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.log = logs / f"{name}.log"
        with self.log.open("wb") as out:
            self.popen = subprocess.Popen(
                argv, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT
            )

    def wait_until(self, ready, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                pytest.fail(f"{self.name} exited with {self.popen.returncode}:\n{self.tail()}")
            if ready():
                return
            time.sleep(0.1)
        pytest.fail(f"{self.name} not ready within {timeout:.0f}s:\n{self.tail()}")

    def stop(self) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return self.popen.returncode

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


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
API_KEYS = f"""\
keys:
  - name: e2e
    key: {API_KEY}
  - name: limited
    key: polymesh-e2e-limited-key
    requests_per_second: 0.01
    burst: 1
"""

GATEWAY_CONFIG = """\
listener: {{ address: {host}, port: {gateway} }}
local_services: {{ address: {host}, port: {local} }}
admin: {{ address: {{ address: {host}, port: {gateway_admin} }} }}
clusters:
  - name: echo
    endpoints: [{{ address: {host}, port: {echo} }}]
  - name: aiapi
    endpoints: [{{ address: {host}, port: {aiapi} }}]
  - name: inference
    endpoints: [{{ address: {host}, port: {inference} }}]
  - name: dead
    endpoints: [{{ address: {host}, port: {dead} }}]
  - name: users
    endpoints: [{{ address: {host}, port: {users} }}]
routes:
  - name: users
    match: {{ service: polymesh.users.v1.UserService }}
    cluster: users
  - name: echo
    match: {{ service: polymesh.testing.v1.EchoService }}
    cluster: echo
  - name: ai
    match: {{ service: polymesh.ai.v1.AIService }}
    cluster: aiapi
  - name: inference
    match: {{ service: inference.GRPCInferenceService }}
    cluster: inference
  - name: dead
    match: {{ method: polymesh.testing.v1.DeadService/Call }}
    cluster: dead
  - name: health
    match: {{ service: grpc.health.v1.Health }}
    cluster: local
"""


@pytest.fixture(scope="session")
def mesh(tmp_path_factory):
    for path in (GATEWAY_BIN, AIAPI_BIN, USERS_BIN, MODELS / ".complete"):
        require(path)
    logs = tmp_path_factory.mktemp("mesh")
    ports = {
        n: free_port()
        for n in (
            "otlp",
            "otlp_http",
            "ui",
            "query",
            "health",
            "gateway",
            "local",
            "gateway_admin",
            "echo",
            "aiapi",
            "aiapi_metrics",
            "users",
            "inference",
            "inference_metrics",
            "dead",
        )
    }
    jaeger_config = (ROOT / "tests/config/jaeger.yaml.in").read_text()
    for name, value in {
        "HOST": HOST,
        "OTLP_GRPC_PORT": ports["otlp"],
        "OTLP_HTTP_PORT": ports["otlp_http"],
        "UI_PORT": ports["ui"],
        "QUERY_GRPC_PORT": ports["query"],
        "HEALTH_PORT": ports["health"],
    }.items():
        jaeger_config = jaeger_config.replace(f"@{name}@", str(value))
    (logs / "jaeger.yaml").write_text(jaeger_config)
    (logs / "gateway.yaml").write_text(GATEWAY_CONFIG.format(host=HOST, **ports))
    (logs / "api-keys.yaml").write_text(API_KEYS)

    otel = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{HOST}:{ports['otlp']}",
        "OTEL_SEMCONV_STABILITY_OPT_IN": "rpc/dup",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    server, backend = echo_backend.start(ports["echo"])
    processes: list[Process] = []
    try:
        jaeger_argv = [jaeger_binary(), "--config", str(logs / "jaeger.yaml")]
        jaeger = Process("jaeger", jaeger_argv, {}, logs)
        processes.append(jaeger)
        jaeger.wait_until(lambda: http_ok(f"http://{HOST}:{ports['health']}/status"))

        inference = Process(
            "inference",
            [sys.executable, "-m", "polymesh_inference"],
            {
                **otel,
                "OTEL_SERVICE_NAME": "polymesh-inference",
                "POLYMESH_LISTEN_ADDR": f"{HOST}:{ports['inference']}",
                "POLYMESH_MODEL_REPOSITORY": str(MODELS),
                "POLYMESH_METRICS_ADDR": f"{HOST}:{ports['inference_metrics']}",
            },
            logs,
        )
        processes.append(inference)
        gateway = Process(
            "gateway",
            [str(GATEWAY_BIN), "--config", str(logs / "gateway.yaml")],
            {**otel, "OTEL_SERVICE_NAME": "polymesh-gateway"},
            logs,
        )
        processes.append(gateway)
        aiapi = Process(
            "aiapi",
            [str(AIAPI_BIN)],
            {
                **otel,
                "OTEL_SERVICE_NAME": "polymesh-aiapi",
                "POLYMESH_LISTEN_ADDR": f"{HOST}:{ports['aiapi']}",
                "POLYMESH_INFERENCE_ADDR": f"{HOST}:{ports['gateway']}",
                "POLYMESH_API_KEYS_FILE": str(logs / "api-keys.yaml"),
                "POLYMESH_METRICS_ADDR": f"{HOST}:{ports['aiapi_metrics']}",
            },
            logs,
        )
        processes.append(aiapi)
        users = Process(
            "users",
            [str(USERS_BIN)],
            {
                **otel,
                "OTEL_SERVICE_NAME": "polymesh-users",
                "POLYMESH_LISTEN_ADDR": f"{HOST}:{ports['users']}",
                "POLYMESH_USERS_DB": str(logs / "users.db"),
                "POLYMESH_METRICS_ADDR": "off",
            },
            logs,
        )
        processes.append(users)
        inference.wait_until(lambda: grpc_serving(f"{HOST}:{ports['inference']}"))
        gateway.wait_until(lambda: grpc_serving(f"{HOST}:{ports['gateway']}"))
        aiapi.wait_until(lambda: grpc_serving(f"{HOST}:{ports['aiapi']}"))
        users.wait_until(lambda: grpc_serving(f"{HOST}:{ports['users']}"))

        yield Mesh(
            gateway=f"{HOST}:{ports['gateway']}",
            jaeger=f"http://{HOST}:{ports['ui']}",
            otlp=otel["OTEL_EXPORTER_OTLP_ENDPOINT"],
            echo=backend,
            processes=processes,
            inference_metrics=f"http://{HOST}:{ports['inference_metrics']}/metrics",
            api_key=API_KEY,
            aiapi_metrics=f"http://{HOST}:{ports['aiapi_metrics']}/metrics",
            gateway_admin=f"http://{HOST}:{ports['gateway_admin']}",
            users=f"{HOST}:{ports['users']}",
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
