"""The four gRPC call kinds through the gateway, with metadata, trailers,
status codes, deadlines, cancellation, flow control and health."""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.rpc import status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from polymesh.testing.v1 import echo_pb2, echo_pb2_grpc

MIB = 1 << 20


def call_id() -> str:
    return uuid.uuid4().hex


def metadata(test_id: str) -> tuple:
    return (("x-test-id", test_id), ("x-request", "hello"), ("x-request-bin", b"\x00\xff\x10"))


def trailers(call) -> dict:
    return dict(call.trailing_metadata() or ())


def test_unary_metadata_headers_and_trailers(mesh, channel):
    test_id = call_id()
    stub = echo_pb2_grpc.EchoServiceStub(channel)
    response, call = stub.Unary.with_call(
        echo_pb2.UnaryRequest(text="hi", payload=b"\x01\x02"), metadata=metadata(test_id), timeout=5
    )
    assert (response.text, response.payload) == ("hi", b"\x01\x02")
    seen = mesh.echo.observation(test_id).metadata
    assert seen["x-request"] == "hello"
    assert seen["x-request-bin"] == b"\x00\xff\x10"
    headers = dict(call.initial_metadata())
    assert headers["x-request"] == "hello"
    assert headers["x-request-bin"] == b"\x00\xff\x10"
    assert trailers(call)["x-trailer"] == "done"
    assert trailers(call)["x-trailer-bin"] == b"\x00\x01\xfe"


def test_client_stream(mesh, channel):
    stub = echo_pb2_grpc.EchoServiceStub(channel)
    requests = (echo_pb2.ClientStreamRequest(text=str(i), payload=b"x" * 10) for i in range(5))
    response, call = stub.ClientStream.with_call(requests, metadata=metadata(call_id()), timeout=5)
    assert (response.text, response.count, response.payload_bytes) == ("0,1,2,3,4", 5, 50)
    assert trailers(call)["x-trailer"] == "done"


def test_server_stream(mesh, channel):
    stub = echo_pb2_grpc.EchoServiceStub(channel)
    call = stub.ServerStream(
        echo_pb2.ServerStreamRequest(
            text="s", instruction=echo_pb2.Instruction(response_count=4, response_size=3)
        ),
        metadata=metadata(call_id()),
        timeout=5,
    )
    assert [(r.index, r.payload) for r in call] == [(i, b"sss") for i in range(4)]
    assert dict(call.initial_metadata())["x-request"] == "hello"
    assert trailers(call)["x-trailer-bin"] == b"\x00\x01\xfe"


def test_bidi_stream(mesh, channel):
    stub = echo_pb2_grpc.EchoServiceStub(channel)
    requests = [echo_pb2.BidiStreamRequest(text=t, payload=t.encode()) for t in "abc"]
    call = stub.BidiStream(iter(requests), metadata=metadata(call_id()), timeout=5)
    got = [(r.index, r.text, r.payload) for r in call]
    assert got == [(0, "a", b"a"), (1, "b", b"b"), (2, "c", b"c")]
    assert call.code() == grpc.StatusCode.OK


CODES = [
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNAVAILABLE,
]


def assert_error(error: grpc.RpcError, code: grpc.StatusCode, message: str) -> None:
    assert error.code() == code
    assert error.details() == message
    got = dict(error.trailing_metadata())
    assert got["x-trailer"] == "done"
    details = status_pb2.Status.FromString(got["grpc-status-details-bin"])
    assert (details.code, details.message) == (code.value[0], message)


@pytest.mark.parametrize("code", CODES, ids=lambda c: c.name)
def test_unary_error_status_message_and_details(mesh, channel, code):
    stub = echo_pb2_grpc.EchoServiceStub(channel)
    message = f"failed with {code.name}: ünïcode %"
    instruction = echo_pb2.Instruction(fail_code=code.value[0], fail_message=message)
    with pytest.raises(grpc.RpcError) as raised:
        stub.Unary(echo_pb2.UnaryRequest(instruction=instruction), timeout=5)
    assert_error(raised.value, code, message)


@pytest.mark.parametrize("code", CODES[:3], ids=lambda c: c.name)
def test_stream_error_after_messages(mesh, channel, code):
    stub = echo_pb2_grpc.EchoServiceStub(channel)
    requests = [
        echo_pb2.BidiStreamRequest(text="ok"),
        echo_pb2.BidiStreamRequest(
            instruction=echo_pb2.Instruction(fail_code=code.value[0], fail_message="second failed")
        ),
    ]
    call = stub.BidiStream(iter(requests), timeout=5)
    received = []
    with pytest.raises(grpc.RpcError) as raised:
        for response in call:
            received.append(response.text)
    assert received == ["ok"]
    assert_error(raised.value, code, "second failed")


def test_unrouted_method_is_unimplemented(mesh, channel):
    with pytest.raises(grpc.RpcError) as raised:
        channel.unary_unary("/polymesh.testing.v1.Nothing/Here")(b"", timeout=5)
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "/polymesh.testing.v1.Nothing/Here" in raised.value.details()


def test_unreachable_cluster_is_unavailable(mesh, channel):
    with pytest.raises(grpc.RpcError) as raised:
        channel.unary_unary("/polymesh.testing.v1.DeadService/Call")(b"", timeout=5)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "dead" in raised.value.details()


def test_deadline_reaches_the_backend(mesh, channel):
    test_id = call_id()
    stub = echo_pb2_grpc.EchoServiceStub(channel)
    request = echo_pb2.UnaryRequest(instruction=echo_pb2.Instruction(delay_ms=3000))
    with pytest.raises(grpc.RpcError) as raised:
        stub.Unary(request, metadata=metadata(test_id), timeout=0.5)
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    seen = mesh.echo.observation(test_id)
    # The remaining time, forwarded as grpc-timeout; a few ms of slack for the
    # clocks of the two hops and the header's rounding up.
    assert seen.time_remaining is not None and 0 < seen.time_remaining <= 0.52
    assert seen.ended.wait(5), "the backend's call did not end after the deadline"
    assert seen.cancelled


def test_client_cancellation_reaches_the_backend(mesh, channel):
    test_id = call_id()
    stub = echo_pb2_grpc.EchoServiceStub(channel)
    request = echo_pb2.ServerStreamRequest(instruction=echo_pb2.Instruction(delay_ms=10000))
    call = stub.ServerStream(request, metadata=metadata(test_id), timeout=30)
    seen = mesh.echo.observation(test_id)
    call.cancel()
    assert seen.ended.wait(5), "the backend's call did not end after the client cancelled"
    assert seen.cancelled


def test_large_payloads_stream_intact(mesh, channel):
    stub = echo_pb2_grpc.EchoServiceStub(channel)
    chunk = bytes(range(256)) * 4096  # 1 MiB
    requests = (echo_pb2.ClientStreamRequest(payload=chunk) for _ in range(8))
    response = stub.ClientStream(requests, timeout=30)
    assert (response.count, response.payload_bytes) == (8, 8 * MIB)

    call = stub.ServerStream(
        echo_pb2.ServerStreamRequest(
            instruction=echo_pb2.Instruction(response_count=8, response_size=MIB)
        ),
        timeout=30,
    )
    assert sum(len(r.payload) for r in call) == 8 * MIB

    requests = [echo_pb2.BidiStreamRequest(payload=chunk) for _ in range(4)]
    assert all(r.payload == chunk for r in stub.BidiStream(iter(requests), timeout=30))


def test_gateway_health_through_its_main_port(mesh, channel):
    answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
