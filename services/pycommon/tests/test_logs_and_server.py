"""JSON logs with trace ids, and the gRPC server host."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import time
from datetime import datetime

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from polymesh_common.logs import JsonFormatter, setup_logging, severity
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


RFC3339_MICROS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def test_json_log_line(log_stream):
    logger, stream = log_stream
    before = time.time()
    logger.info("hello %s", "world", extra={"model": "iris", "count": 2})
    after = time.time()
    line = stream.getvalue()
    assert line.count("\n") == 1 and line.endswith("\n")
    assert ", " not in line and ": " not in line  # compact, as the gateway's and Go's
    entry = json.loads(line)
    assert list(entry) == ["time", "severity", "body", "service.name", "model", "count"]
    assert entry["body"] == "hello world"
    assert entry["severity"] == "INFO"
    assert entry["service.name"] == "svc"
    assert entry["model"] == "iris"
    assert entry["count"] == 2
    assert RFC3339_MICROS.match(entry["time"]), entry["time"]
    stamp = datetime.fromisoformat(entry["time"]).timestamp()
    assert before - 1e-6 <= stamp <= after + 1e-6


def test_json_log_carries_trace_ids(log_stream):
    logger, stream = log_stream
    tracer = TracerProvider().get_tracer(__name__)
    with tracer.start_as_current_span("work") as span:
        logger.info("inside", extra={"k": "v"})
    entry = json.loads(stream.getvalue())
    context = span.get_span_context()
    assert list(entry) == [
        "time", "severity", "body", "service.name", "trace_id", "span_id", "k",
    ]  # fmt: skip
    assert entry["trace_id"] == f"{context.trace_id:032x}"
    assert entry["span_id"] == f"{context.span_id:016x}"
    assert re.fullmatch(r"[0-9a-f]{32}", entry["trace_id"])
    assert re.fullmatch(r"[0-9a-f]{16}", entry["span_id"])


@pytest.mark.parametrize(
    ("context", "want_ids"),
    [
        (SpanContext(0x4BF92F3577B34DA6A3CE929D0E0E4736, 0xF067AA0BA902B7, False), True),
        (
            SpanContext(
                0x4BF92F3577B34DA6A3CE929D0E0E4736,
                0xF067AA0BA902B7,
                False,
                trace_flags=TraceFlags(TraceFlags.SAMPLED),
            ),
            True,
        ),
        (SpanContext(0, 0, False), False),  # invalid: no ids
    ],
)
def test_trace_ids_only_for_a_valid_span(log_stream, context, want_ids):
    logger, stream = log_stream
    with trace.use_span(NonRecordingSpan(context)):
        logger.info("inside")
    entry = json.loads(stream.getvalue())
    if want_ids:
        assert entry["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
        assert entry["span_id"] == "00f067aa0ba902b7"
    else:
        assert "trace_id" not in entry
        assert "span_id" not in entry


def test_no_trace_ids_outside_a_span(log_stream):
    logger, stream = log_stream
    logger.info("outside")
    entry = json.loads(stream.getvalue())
    assert "trace_id" not in entry
    assert "span_id" not in entry


@pytest.mark.parametrize(
    ("level", "want"),
    [
        (logging.DEBUG, "DEBUG"),
        (logging.INFO, "INFO"),
        (logging.WARNING, "WARN"),
        (logging.ERROR, "ERROR"),
        (logging.CRITICAL, "FATAL"),
        (logging.INFO + 5, "INFO"),
        (logging.ERROR + 5, "ERROR"),
    ],
)
def test_severity(log_stream, level, want):
    assert severity(level) == want
    logger, stream = log_stream
    logger.setLevel(logging.DEBUG)
    logger.log(level, "m")
    assert json.loads(stream.getvalue())["severity"] == want


def test_extra_cannot_replace_the_shape(log_stream):
    logger, stream = log_stream
    logger.info("m", extra={"severity": "FATAL", "service.name": "other", "k": "v"})
    entry = json.loads(stream.getvalue())
    assert entry["severity"] == "INFO"
    assert entry["service.name"] == "svc"
    assert entry["k"] == "v"


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
        assert [e["body"] for e in lines] == ["kept"]
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


@pytest.mark.parametrize(
    ("env", "given", "want"),
    [("", "svc", "svc"), ("from-env", "svc", "from-env"), ("", None, "unknown_service")],
)
def test_setup_logging_service_name(monkeypatch, env, given, want):
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        monkeypatch.setenv("OTEL_SERVICE_NAME", env)
        stream = io.StringIO()
        setup_logging(given, stream)
        logging.getLogger("other.name").warning("m")
        assert json.loads(stream.getvalue())["service.name"] == want
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


async def test_host_logs_one_ready_line(host, log_stream):
    host, _ = host
    logger, stream = log_stream
    server_log = logging.getLogger("polymesh_common.server")
    server_log.addHandler(logger.handlers[0])
    server_log.setLevel(logging.INFO)
    try:
        host.log_ready(metrics_address="127.0.0.1:9999")
    finally:
        server_log.removeHandler(logger.handlers[0])
    entry = json.loads(stream.getvalue())
    assert list(entry) == [
        "time", "severity", "body", "service.name", "address", "metrics_address",
    ]  # fmt: skip
    assert entry["severity"] == "INFO"
    assert entry["body"] == "ready"
    assert entry["address"] == f"127.0.0.1:{host.port}"
    assert entry["metrics_address"] == "127.0.0.1:9999"


async def test_host_address_before_start():
    assert GrpcServerHost("0.0.0.0:50052", service_names=[]).address == "0.0.0.0:50052"


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
