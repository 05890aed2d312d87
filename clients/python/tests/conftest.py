"""Real servers on loopback for the client tests.

- `users_server`: the Python users service in this process, or the Go users binary
  (build/bin/users) as a child process, each on a fresh SQLite file;
- `inference_server`: the Python inference service in this process, serving the
  trained models of build/models (one per session);
- `aiapi`: the Go AI API binary (build/bin/aiapi) in front of that inference service,
  with an API key, exporting its spans to an OTLP receiver in this process;
- `calls_seen`: a channel interceptor that records each call's timeout and metadata
  as the channel got them from the client.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import grpc.aio
import pytest
import pytest_asyncio
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from polymesh_mesh.probe import grpc_serving
from polymesh_mesh.testing import Process, free_port

ROOT = Path(__file__).resolve().parents[3]
MODELS = ROOT / "build/models"
USERS_BIN = ROOT / "build/bin/users"
AIAPI_BIN = ROOT / "build/bin/aiapi"
HOST = "127.0.0.1"
API_KEY = "polymesh-client-test-key"


def require(path: Path) -> None:
    if not path.exists():
        pytest.fail(f"{path.relative_to(ROOT)} is missing: run ./dev build")


def start_process(
    name: str, argv: list[str], env: dict[str, str], address: str, logs: Path
) -> Process:
    """Starts argv, its output to logs/<name>.log, and waits until it serves
    grpc.health.v1 at address.

    Blocking: async fixtures run it with asyncio.to_thread, so that the servers of
    this process keep answering meanwhile."""
    process = Process(name, argv, env, logs)
    try:
        process.wait_until(lambda: grpc_serving(address))
    except BaseException:
        process.stop()
        raise
    return process


@dataclass
class UsersServer:
    address: str
    exporter: InMemorySpanExporter | None
    """The server's finished spans, when it runs in this process."""


@pytest_asyncio.fixture(params=["python", "go"])
async def users_server(request, tmp_path) -> AsyncIterator[UsersServer]:
    """The users service, in Python (this process) or Go (a child process)."""
    if request.param == "python":
        from polymesh_users.app import Settings
        from polymesh_users.app import UsersServer as PythonUsers

        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        server = PythonUsers(
            Settings(listen_addr=f"{HOST}:0", db=str(tmp_path / "users.db")), provider
        )
        port = await server.start()
        try:
            yield UsersServer(f"{HOST}:{port}", exporter)
        finally:
            await server.stop(0)
        return
    require(USERS_BIN)
    address = f"{HOST}:{free_port()}"
    env = {
        "POLYMESH_LISTEN_ADDR": address,
        "POLYMESH_USERS_DB": str(tmp_path / "users.db"),
        "POLYMESH_METRICS_ADDR": "off",
        "OTEL_SDK_DISABLED": "true",
    }
    process = await asyncio.to_thread(
        start_process, "users", [str(USERS_BIN)], env, address, tmp_path
    )
    try:
        yield UsersServer(address, None)
    finally:
        code = await asyncio.to_thread(process.stop)
        assert code == 0, process.tail()


@dataclass
class InferenceServer:
    address: str
    exporter: InMemorySpanExporter


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def inference_server() -> AsyncIterator[InferenceServer]:
    """The inference service on the project's trained models."""
    from polymesh_inference.app import InferenceServer as Server
    from polymesh_inference.settings import Settings

    require(MODELS / ".complete")
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    settings = Settings(
        model_repository=MODELS, listen_addr=f"{HOST}:0", metrics_addr="off", workers=1
    )
    server = Server(settings, provider)
    port = await server.start()
    try:
        yield InferenceServer(f"{HOST}:{port}", exporter)
    finally:
        await server.stop(0)


class SpanReceiver(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP/gRPC trace receiver that keeps every span."""

    def __init__(self) -> None:
        self.spans: list[trace_pb2.Span] = []
        self._arrived = asyncio.Event()

    async def Export(self, request, context):
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                self.spans.extend(scope_spans.spans)
        self._arrived.set()
        return trace_service_pb2.ExportTraceServiceResponse()

    async def wait_for(self, match, within_s: float = 30) -> trace_pb2.Span:
        """The first span for which match is true, waiting for exports up to within_s."""
        deadline = time.monotonic() + within_s
        while True:
            for span in self.spans:
                if match(span):
                    return span
            self._arrived.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [(s.name, s.trace_id.hex(), s.kind) for s in self.spans]
                pytest.fail(f"no matching span among {seen}")
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                pass


@dataclass
class AIAPI:
    address: str
    spans: SpanReceiver


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def aiapi(inference_server, tmp_path_factory) -> AsyncIterator[AIAPI]:
    """The Go AI API in front of inference_server, admitting API_KEY."""
    require(AIAPI_BIN)
    folder = tmp_path_factory.mktemp("aiapi")
    receiver = SpanReceiver()
    otlp = grpc.aio.server()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, otlp)
    otlp_port = otlp.add_insecure_port(f"{HOST}:0")
    await otlp.start()
    key_hash = hashlib.sha256(API_KEY.encode()).hexdigest()
    (folder / "api-keys.yaml").write_text(f"keys:\n  - name: test\n    sha256: {key_hash}\n")
    address = f"{HOST}:{free_port()}"
    env = {
        "POLYMESH_LISTEN_ADDR": address,
        "POLYMESH_INFERENCE_ADDR": inference_server.address,
        "POLYMESH_API_KEYS_FILE": str(folder / "api-keys.yaml"),
        "POLYMESH_METRICS_ADDR": "off",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{HOST}:{otlp_port}",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    process = await asyncio.to_thread(
        start_process, "aiapi", [str(AIAPI_BIN)], env, address, folder
    )
    try:
        yield AIAPI(address, receiver)
    finally:
        code = await asyncio.to_thread(process.stop)
        await otlp.stop(0)
        assert code == 0, process.tail()


class _Recorder:
    def __init__(self, calls: list) -> None:
        self.calls = calls

    def _record(self, details) -> None:
        method = details.method.decode() if isinstance(details.method, bytes) else details.method
        self.calls.append((method, details.timeout, dict(details.metadata or ())))

    async def intercept_unary_unary(self, continuation, client_call_details, request):
        self._record(client_call_details)
        return await continuation(client_call_details, request)

    async def intercept_unary_stream(self, continuation, client_call_details, request):
        self._record(client_call_details)
        return await continuation(client_call_details, request)


class _UnaryUnary(_Recorder, grpc.aio.UnaryUnaryClientInterceptor):
    pass


class _UnaryStream(_Recorder, grpc.aio.UnaryStreamClientInterceptor):
    pass


@dataclass
class CallsSeen:
    """Records the method, timeout and metadata of each call, as the channel got them."""

    calls: list[tuple[str, float | None, dict[str, str]]] = field(default_factory=list)

    @property
    def interceptors(self) -> list[grpc.aio.ClientInterceptor]:
        """For grpc.aio.insecure_channel(interceptors=...): one per kind of call."""
        return [_UnaryUnary(self.calls), _UnaryStream(self.calls)]


@pytest.fixture
def calls_seen() -> CallsSeen:
    return CallsSeen()
