"""Fixtures: a trained model repository and a real grpc.aio server on port 0.

Servers run their models in worker processes or on a thread (the `workers`
fixture runs each server test both ways). The test runtimes live in
testing_runtimes.py, which worker processes import too (from its file), so it
imports little.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import sys
import tempfile
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import grpc.aio
import joblib
import pytest
import yaml
from inference import grpc_service_pb2_grpc as pb_grpc
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from polymesh_inference import train
from polymesh_inference.app import InferenceServer
from polymesh_inference.settings import Settings
from sklearn.linear_model import LogisticRegression


def _import_testing_runtimes() -> None:
    name = "polymesh_testing_runtimes"
    spec = importlib.util.spec_from_file_location(
        name, Path(__file__).with_name("testing_runtimes.py")
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


_import_testing_runtimes()  # registers the test_* platforms


class Gate:
    """Lets a test hold the blocking model's calls while they run, in whichever
    process they run: the model connects to the gate's Unix socket, sends its
    process id and waits for the test to open the gate."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.entered = threading.Event()
        """Set once a call is held at the gate."""
        self.release = threading.Event()
        """Set by the test to let held (and later) calls through."""
        self.pids: list[int] = []
        """The processes whose calls entered, in order."""
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(path)
        self._listener.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:  # closed
                return
            threading.Thread(target=self._hold, args=(conn,), daemon=True).start()

    def _hold(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as lines:
            self.pids.append(int(lines.readline()))
            self.entered.set()
            if self.release.wait(timeout=60):
                try:
                    conn.sendall(b"go")
                except OSError:  # the process holding the call is gone
                    pass

    def reset(self) -> None:
        self.entered.clear()
        self.release.clear()
        self.pids.clear()

    def close(self) -> None:
        self._listener.close()


def write_model(root: Path, config: dict, model_file_content=None) -> None:
    folder = root / config["name"]
    folder.mkdir(parents=True)
    (folder / "model.yaml").write_text(yaml.safe_dump(config))
    if model_file_content is not None:
        joblib.dump(model_file_content, folder / config["model_file"])


@pytest.fixture(scope="session")
def gate() -> Gate:
    folder = tempfile.mkdtemp(prefix="polymesh-gate-")  # short: a socket path has a limit
    gate = Gate(os.path.join(folder, "gate.sock"))
    yield gate
    gate.close()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def model_repository(tmp_path_factory, gate) -> Path:
    """The project's models, plus a model that raises and a model that blocks."""
    root = tmp_path_factory.mktemp("models")
    train.build_repository(root)
    # An estimator that was never fitted: its predict raises inside the model.
    write_model(
        root,
        {
            "name": "broken",
            "platform": "sklearn_joblib",
            "version": "1",
            "model_file": "model.joblib",
            "inputs": [{"name": "input", "datatype": "FP64", "shape": [-1, 4]}],
            "outputs": [{"name": "label", "datatype": "INT64", "shape": [-1]}],
        },
        LogisticRegression(),
    )
    write_model(
        root,
        {
            "name": "blocking",
            "platform": "test_blocking",
            "version": "1",
            "model_file": "none",
            "parameters": {"gate": gate.path},
            "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1]}],
            "outputs": [{"name": "output", "datatype": "FP32", "shape": [-1]}],
        },
    )
    return root


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer_provider(exporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


@pytest.fixture(params=[0, 2], ids=["thread", "processes"])
def workers(request) -> int:
    """POLYMESH_WORKERS of the servers a test starts: 0 (a thread) or 2 processes."""
    return request.param


@pytest.fixture
async def server(model_repository, tracer_provider, monkeypatch, gate, workers):
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "rpc/dup")
    settings = Settings(
        model_repository=model_repository,
        listen_addr="127.0.0.1:0",
        metrics_addr="127.0.0.1:0",
        workers=workers,
    )
    server = InferenceServer(settings, tracer_provider)
    await server.start()
    yield server
    gate.release.set()
    await server.stop(0)
    gate.reset()


@pytest.fixture
def own_repository(model_repository, tmp_path) -> Path:
    """A copy of the session's model repository that a test may change."""
    root = tmp_path / "models"
    shutil.copytree(model_repository, root)
    return root


@pytest.fixture
async def start_server(
    tracer_provider, monkeypatch, gate, workers
) -> Callable[..., Awaitable[InferenceServer]]:
    """Starts servers (gRPC and metrics on port 0) on a repository; stops them after.

    Keyword arguments override the other settings."""
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "rpc/dup")
    servers = []

    async def start(repository: Path, **overrides) -> InferenceServer:
        settings = Settings(
            model_repository=repository,
            listen_addr="127.0.0.1:0",
            metrics_addr="127.0.0.1:0",
            workers=overrides.pop("workers", workers),
            **overrides,
        )
        server = InferenceServer(settings, tracer_provider)
        await server.start()
        servers.append(server)
        return server

    yield start
    gate.release.set()
    for server in servers:
        await server.stop(0)
    gate.reset()


@pytest.fixture
async def channel(server):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.host.port}") as channel:
        yield channel


@pytest.fixture
def stub(channel) -> pb_grpc.GRPCInferenceServiceStub:
    return pb_grpc.GRPCInferenceServiceStub(channel)
