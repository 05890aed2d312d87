"""JSON logs with trace ids, and the gRPC server host."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from opentelemetry.sdk.trace import TracerProvider
from polymesh_common.logs import JsonFormatter, setup_logging
from polymesh_common.server import GrpcServerHost


@pytest.fixture
def log_stream():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("svc"))
    logger = logging.getLogger("polymesh.test")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield logger, stream
    logger.removeHandler(handler)


def test_json_log_line(log_stream):
    logger, stream = log_stream
    logger.info("hello %s", "world", extra={"model": "iris"})
    entry = json.loads(stream.getvalue())
    assert entry["message"] == "hello world"
    assert entry["level"] == "INFO"
    assert entry["service"] == "svc"
    assert entry["logger"] == "polymesh.test"
    assert entry["model"] == "iris"
    assert entry["time"].endswith("Z")
    assert "trace_id" not in entry


def test_json_log_carries_trace_ids(log_stream):
    logger, stream = log_stream
    tracer = TracerProvider().get_tracer(__name__)
    with tracer.start_as_current_span("work") as span:
        logger.info("inside")
    entry = json.loads(stream.getvalue())
    context = span.get_span_context()
    assert entry["trace_id"] == f"{context.trace_id:032x}"
    assert entry["span_id"] == f"{context.span_id:016x}"


def test_json_log_exception(log_stream):
    logger, stream = log_stream
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed")
    entry = json.loads(stream.getvalue())
    assert "ValueError: boom" in entry["exception"]


def test_setup_logging_level_from_env(monkeypatch):
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        monkeypatch.setenv("POLYMESH_LOG_LEVEL", "warning")
        stream = io.StringIO()
        setup_logging("svc", stream)
        logging.getLogger("other.env").info("dropped")
        logging.getLogger("other.env").warning("kept")
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
        assert [e["message"] for e in lines] == ["kept"]
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


@pytest.fixture
async def host():
    host = GrpcServerHost("127.0.0.1:0", service_names=[], grace_s=5)
    port = await host.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    yield host, channel
    await channel.close()
    await host.stop(0)


async def test_host_health(host):
    host, channel = host
    stub = health_pb2_grpc.HealthStub(channel)
    await host.set_serving("")
    await host.set_not_serving("thing")
    assert (await stub.Check(health_pb2.HealthCheckRequest())).status == (
        health_pb2.HealthCheckResponse.SERVING
    )
    assert (await stub.Check(health_pb2.HealthCheckRequest(service="thing"))).status == (
        health_pb2.HealthCheckResponse.NOT_SERVING
    )


async def test_host_reflection(host):
    _, channel = host
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)

    async def requests():
        yield reflection_pb2.ServerReflectionRequest(list_services="")

    async for response in stub.ServerReflectionInfo(requests()):
        names = {s.name for s in response.list_services_response.service}
        break
    assert names == {"grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"}


async def test_host_stop_marks_not_serving_and_refuses_calls(host):
    host, channel = host
    stub = health_pb2_grpc.HealthStub(channel)
    await host.set_serving("")
    watch = stub.Watch(health_pb2.HealthCheckRequest())
    assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
    stopping = asyncio.ensure_future(host.stop())
    assert (await watch.read()).status == health_pb2.HealthCheckResponse.NOT_SERVING
    watch.cancel()
    await asyncio.wait_for(stopping, 10)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_wait_for_signal_returns_on_request_stop(host):
    host, _ = host
    waiting = asyncio.ensure_future(host.wait_for_signal())
    await asyncio.sleep(0)
    host.request_stop()
    await asyncio.wait_for(waiting, 5)


async def test_listen_failure_raises():
    first = GrpcServerHost("127.0.0.1:0", service_names=[])
    port = await first.start()
    try:
        second = GrpcServerHost(f"127.0.0.1:{port}", service_names=[])
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}"):
            await second.start()
        await second.stop(0)
    finally:
        await first.stop(0)
