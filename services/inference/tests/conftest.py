"""Fixtures: a trained model repository and a real grpc.aio server on port 0."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import joblib
import numpy as np
import pytest
import yaml
from inference import grpc_service_pb2_grpc as pb_grpc
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from polymesh_inference import train
from polymesh_inference.app import InferenceServer
from polymesh_inference.runtimes import Runtime, register_runtime
from polymesh_inference.settings import Settings
from sklearn.linear_model import LogisticRegression


class Gate:
    """Lets a test hold a model call while it is running."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()


GATE = Gate()


@register_runtime
class BlockingRuntime(Runtime):
    """Echoes its input once the test opens the gate."""

    platform = "test_blocking"

    def load(self) -> None:
        pass

    def predict(
        self,
        inputs: Mapping[str, np.ndarray],
        outputs: Sequence[str],
        parameters: Mapping[str, Any],
    ) -> dict[str, np.ndarray]:
        GATE.entered.set()
        if not GATE.release.wait(timeout=30):
            raise TimeoutError("the test never opened the gate")
        (x,) = inputs.values()
        return {"output": x}


@register_runtime
class ParametersRuntime(Runtime):
    """Answers with the request parameters it was given, as JSON."""

    platform = "test_parameters"

    def load(self) -> None:
        pass

    def predict(
        self,
        inputs: Mapping[str, np.ndarray],
        outputs: Sequence[str],
        parameters: Mapping[str, Any],
    ) -> dict[str, np.ndarray]:
        answer = np.empty(1, dtype=object)
        answer[0] = json.dumps(dict(parameters), sort_keys=True).encode()
        return {"parameters": answer}


def write_model(root: Path, config: dict, model_file_content=None) -> None:
    folder = root / config["name"]
    folder.mkdir(parents=True)
    (folder / "model.yaml").write_text(yaml.safe_dump(config))
    if model_file_content is not None:
        joblib.dump(model_file_content, folder / config["model_file"])


@pytest.fixture(scope="session")
def model_repository(tmp_path_factory) -> Path:
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


@pytest.fixture
async def server(model_repository, tracer_provider, monkeypatch):
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "rpc/dup")
    settings = Settings(
        model_repository=model_repository,
        listen_addr="127.0.0.1:0",
        metrics_addr="127.0.0.1:0",
        workers=2,
    )
    server = InferenceServer(settings, tracer_provider)
    await server.start()
    yield server
    GATE.release.set()
    await server.stop(0)
    GATE.entered.clear()
    GATE.release.clear()


@pytest.fixture
def own_repository(model_repository, tmp_path) -> Path:
    """A copy of the session's model repository that a test may change."""
    root = tmp_path / "models"
    shutil.copytree(model_repository, root)
    return root


@pytest.fixture
async def start_server(tracer_provider, monkeypatch) -> Callable[..., Awaitable[InferenceServer]]:
    """Starts servers (gRPC and metrics on port 0) on a repository; stops them after."""
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "rpc/dup")
    servers = []

    async def start(repository: Path) -> InferenceServer:
        settings = Settings(
            model_repository=repository,
            listen_addr="127.0.0.1:0",
            metrics_addr="127.0.0.1:0",
            workers=2,
        )
        server = InferenceServer(settings, tracer_provider)
        await server.start()
        servers.append(server)
        return server

    yield start
    GATE.release.set()
    for server in servers:
        await server.stop(0)
    GATE.entered.clear()
    GATE.release.clear()


@pytest.fixture
async def channel(server):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.host.port}") as channel:
        yield channel


@pytest.fixture
def stub(channel) -> pb_grpc.GRPCInferenceServiceStub:
    return pb_grpc.GRPCInferenceServiceStub(channel)


@pytest.fixture
def gate() -> Gate:
    return GATE
