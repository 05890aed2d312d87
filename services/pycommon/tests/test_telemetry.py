"""Tests of the tracing setup and the RPC semantic-convention hook."""

import asyncio

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from polymesh.testing.v1 import echo_pb2, echo_pb2_grpc
from polymesh_common import telemetry
from polymesh_common.telemetry import SemconvMode

SERVICE = "polymesh.testing.v1.EchoService"


class Echo(echo_pb2_grpc.EchoServiceServicer):
    async def Unary(self, request, context):
        if request.text == "not-found":
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")
        if request.text == "internal":
            await context.abort(grpc.StatusCode.INTERNAL, "broken")
        if request.text == "raise":
            raise RuntimeError("handler bug")
        return echo_pb2.UnaryResponse(text=request.text)

    async def ClientStream(self, request_iterator, context):
        count = 0
        async for _ in request_iterator:
            count += 1
        return echo_pb2.ClientStreamResponse(count=count)

    async def ServerStream(self, request, context):
        for i in range(3):
            yield echo_pb2.ServerStreamResponse(index=i)
        if request.text == "fail":
            await context.abort(grpc.StatusCode.UNAVAILABLE, "gone")

    async def BidiStream(self, request_iterator, context):
        i = 0
        async for request in request_iterator:
            yield echo_pb2.BidiStreamResponse(text=request.text, index=i)
            i += 1


@pytest.fixture
def exporter():
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter):
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


@pytest.fixture
async def echo(provider):
    """An Echo server and a channel to it, both traced in rpc/dup mode."""
    server = grpc.aio.server(
        interceptors=telemetry.server_interceptors(provider, mode=SemconvMode.DUP)
    )
    echo_pb2_grpc.add_EchoServiceServicer_to_server(Echo(), server)
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    target = f"127.0.0.1:{port}"
    channel = grpc.aio.insecure_channel(
        target, interceptors=telemetry.client_interceptors(target, provider, mode=SemconvMode.DUP)
    )
    yield channel, port
    await channel.close()
    await server.stop(None)


def spans_by_kind(exporter):
    spans = exporter.get_finished_spans()
    server = [s for s in spans if s.kind == SpanKind.SERVER]
    client = [s for s in spans if s.kind == SpanKind.CLIENT]
    return server, client


async def ended_spans(exporter, server: int, client: int):
    """spans_by_kind once `server` SERVER and `client` CLIENT spans have
    ended, or after 5 s: the server's interceptor ends its span after the
    answer has gone out, so the client can see the answer first."""
    deadline = asyncio.get_running_loop().time() + 5.0
    while True:
        got = spans_by_kind(exporter)
        if len(got[0]) >= server and len(got[1]) >= client:
            return got
        if asyncio.get_running_loop().time() >= deadline:
            return got
        await asyncio.sleep(0.01)


@pytest.mark.parametrize(
    ("value", "want"),
    [
        ("rpc/dup", SemconvMode.DUP),
        ("http, rpc/dup", SemconvMode.DUP),
        ("rpc", SemconvMode.NEW),
        ("http", SemconvMode.OLD),
        ("", SemconvMode.OLD),
    ],
)
def test_semconv_mode(value, want):
    assert telemetry.semconv_mode(value) == want


def test_semconv_mode_reads_env(monkeypatch):
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "rpc/dup")
    assert telemetry.semconv_mode() == SemconvMode.DUP


@pytest.mark.parametrize(
    ("target", "want"),
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("dns:///inference.local:50052", ("inference.local", 50052)),
        ("[::1]:50052", ("::1", 50052)),
        ("ipv4:10.0.0.1:81,10.0.0.2:81", ("10.0.0.1", 81)),
        ("localhost", ("localhost", None)),
        ("unix:/run/x.sock", ("/run/x.sock", None)),
    ],
)
def test_parse_target(target, want):
    assert telemetry.parse_target(target) == want


async def test_unary_ok_spans_carry_old_and_new_attributes(echo, exporter):
    channel, port = echo
    stub = echo_pb2_grpc.EchoServiceStub(channel)
    assert (await stub.Unary(echo_pb2.UnaryRequest(text="hi"))).text == "hi"

    (server,), (client,) = await ended_spans(exporter, 1, 1)
    for span in (server, client):
        assert span.name == f"{SERVICE}/Unary"
        assert span.attributes["rpc.system"] == "grpc"
        assert span.attributes["rpc.system.name"] == "grpc"
        assert span.attributes["rpc.service"] == SERVICE
        assert span.attributes["rpc.method"] == f"{SERVICE}/Unary"
        assert span.attributes["rpc.grpc.status_code"] == 0
        assert span.attributes["rpc.response.status_code"] == "OK"
        assert span.status.status_code == StatusCode.UNSET
    assert client.attributes["server.address"] == "127.0.0.1"
    assert client.attributes["server.port"] == port
    assert server.parent.span_id == client.context.span_id
    assert server.context.trace_id == client.context.trace_id


@pytest.mark.parametrize(
    ("text", "code", "server_error"),
    [
        ("not-found", grpc.StatusCode.NOT_FOUND, False),
        ("internal", grpc.StatusCode.INTERNAL, True),
        ("raise", grpc.StatusCode.UNKNOWN, True),
    ],
)
async def test_unary_error_codes(echo, exporter, text, code, server_error):
    channel, _ = echo
    stub = echo_pb2_grpc.EchoServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Unary(echo_pb2.UnaryRequest(text=text))
    assert err.value.code() == code

    (server,), (client,) = await ended_spans(exporter, 1, 1)
    for span in (server, client):
        assert span.attributes["rpc.grpc.status_code"] == code.value[0]
        assert span.attributes["rpc.response.status_code"] == code.name
    assert client.status.status_code == StatusCode.ERROR
    want = StatusCode.ERROR if server_error else StatusCode.UNSET
    assert server.status.status_code == want


async def test_streaming_kinds(echo, exporter):
    channel, _ = echo
    stub = echo_pb2_grpc.EchoServiceStub(channel)

    async def requests(cls):
        for text in ("a", "b"):
            yield cls(text=text)

    got = await stub.ClientStream(requests(echo_pb2.ClientStreamRequest))
    assert got.count == 2
    got = [r.index async for r in stub.ServerStream(echo_pb2.ServerStreamRequest(text="x"))]
    assert got == [0, 1, 2]
    got = [r.text async for r in stub.BidiStream(requests(echo_pb2.BidiStreamRequest))]
    assert got == ["a", "b"]
    with pytest.raises(grpc.aio.AioRpcError):
        async for _ in stub.ServerStream(echo_pb2.ServerStreamRequest(text="fail")):
            pass

    server, client = await ended_spans(exporter, 4, 4)
    assert len(server) == 4
    assert len(client) == 4
    for span in server + client:
        method = span.name.rsplit("/", 1)[1]
        assert span.attributes["rpc.method"] == f"{SERVICE}/{method}"
        assert span.attributes["rpc.system.name"] == "grpc"
    codes = sorted(s.attributes["rpc.response.status_code"] for s in client)
    assert codes == ["OK", "OK", "OK", "UNAVAILABLE"]
    codes = sorted(s.attributes["rpc.response.status_code"] for s in server)
    assert codes == ["OK", "OK", "OK", "UNAVAILABLE"]


async def test_health_checks_are_not_traced(echo, provider, exporter):
    channel, _ = echo
    stub = health_pb2_grpc.HealthStub(channel)
    with provider.get_tracer(__name__).start_as_current_span("parent"):
        response = await stub.Check(health_pb2.HealthCheckRequest(service=""))
    assert response.status == health_pb2.HealthCheckResponse.SERVING
    server, client = spans_by_kind(exporter)
    assert server == []
    assert client == []
    (parent,) = exporter.get_finished_spans()
    assert parent.name == "parent"
    assert not any(key.startswith("rpc.") for key in parent.attributes)


async def test_new_only_mode_drops_old_server_attributes(provider, exporter):
    server = grpc.aio.server(
        interceptors=telemetry.server_interceptors(provider, mode=SemconvMode.NEW)
    )
    echo_pb2_grpc.add_EchoServiceServicer_to_server(Echo(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            await echo_pb2_grpc.EchoServiceStub(channel).Unary(echo_pb2.UnaryRequest(text="x"))
    finally:
        await server.stop(None)
    (span,), _ = spans_by_kind(exporter)
    assert span.attributes["rpc.method"] == f"{SERVICE}/Unary"
    assert span.attributes["rpc.response.status_code"] == "OK"
    assert "rpc.service" not in span.attributes
    assert "rpc.grpc.status_code" not in span.attributes


def test_setup_tracing_resource_from_env(monkeypatch, exporter):
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test")
    provider = telemetry.setup_tracing("polymesh-x", exporter=exporter, set_global=False)
    assert provider.resource.attributes["service.name"] == "polymesh-x"
    assert provider.resource.attributes["deployment.environment"] == "test"

    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    provider = telemetry.setup_tracing("polymesh-x", exporter=exporter, set_global=False)
    assert provider.resource.attributes["service.name"] == "from-env"


def test_setup_tracing_sampler_from_env(monkeypatch, exporter):
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    provider = telemetry.setup_tracing("polymesh-x", exporter=exporter, set_global=False)
    with provider.get_tracer(__name__).start_as_current_span("dropped"):
        pass
    provider.shutdown()
    assert exporter.get_finished_spans() == ()


def test_setup_tracing_shutdown_flushes(monkeypatch, exporter):
    monkeypatch.delenv("OTEL_TRACES_SAMPLER", raising=False)
    provider = telemetry.setup_tracing("polymesh-x", exporter=exporter, set_global=False)
    with provider.get_tracer(__name__).start_as_current_span("kept"):
        pass
    provider.shutdown()
    assert [s.name for s in exporter.get_finished_spans()] == ["kept"]


async def test_old_only_mode_keeps_old_attributes(provider, exporter):
    server = grpc.aio.server(
        interceptors=telemetry.server_interceptors(provider, mode=SemconvMode.OLD)
    )
    echo_pb2_grpc.add_EchoServiceServicer_to_server(Echo(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError):
                await echo_pb2_grpc.EchoServiceStub(channel).Unary(
                    echo_pb2.UnaryRequest(text="not-found")
                )
    finally:
        await server.stop(None)
    (span,), _ = spans_by_kind(exporter)
    assert span.name == f"{SERVICE}/Unary"
    assert span.attributes["rpc.method"] == "Unary"
    assert span.attributes["rpc.grpc.status_code"] == grpc.StatusCode.NOT_FOUND.value[0]
    assert "rpc.response.status_code" not in span.attributes
    assert "rpc.system.name" not in span.attributes


async def test_instrument_patches_grpc_aio(provider, exporter, monkeypatch):
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "rpc/dup")
    telemetry.instrument_grpc_server(provider)
    telemetry.instrument_grpc_client(provider)
    try:
        server = grpc.aio.server()
        echo_pb2_grpc.add_EchoServiceServicer_to_server(Echo(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            await echo_pb2_grpc.EchoServiceStub(channel).Unary(echo_pb2.UnaryRequest(text="x"))
        await server.stop(None)
    finally:
        telemetry.uninstrument_grpc()
    (server_span,), (client_span,) = spans_by_kind(exporter)
    assert server_span.parent.span_id == client_span.context.span_id
    assert client_span.attributes["server.port"] == port
    assert client_span.attributes["rpc.method"] == f"{SERVICE}/Unary"


_IDS = "0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331"


@pytest.mark.parametrize(
    "value, want",
    [
        (f"00-{_IDS}-03", f"00-{_IDS}-01"),
        (f"00-{_IDS}-02", f"00-{_IDS}-00"),
        (f"00-{_IDS}-01", f"00-{_IDS}-01"),
        (f"01-{_IDS}-03-x", f"01-{_IDS}-03-x"),
    ],
)
def test_sampled_flag_only(value, want):
    assert telemetry.sampled_flag_only(value) == want


def test_propagator_writes_only_the_sampled_flag():
    provider = TracerProvider()
    with provider.get_tracer("t").start_as_current_span("parent") as span:
        carrier: dict[str, str] = {}
        telemetry.SampledFlagTraceContextPropagator().inject(carrier)
        context = span.get_span_context()
    assert carrier["traceparent"] == f"00-{context.trace_id:032x}-{context.span_id:016x}-01"
