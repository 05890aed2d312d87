"""UsersClient against the users service, Python and Go."""

from __future__ import annotations

import grpc
import grpc.aio
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind
from polymesh_client.calls import DEFAULT_TIMEOUT
from polymesh_client.users import UsersClient

UNKNOWN_ID = "0f8fad5b-d9cb-469f-a165-70867728950e"


def bad_request_fields(error: grpc.aio.AioRpcError) -> list[str]:
    (details,) = [v for k, v in error.trailing_metadata() if k == "grpc-status-details-bin"]
    bad = error_details_pb2.BadRequest()
    assert status_pb2.Status.FromString(details).details[0].Unpack(bad)
    return [v.field for v in bad.field_violations]


async def test_round_trip(users_server) -> None:
    async with grpc.aio.insecure_channel(users_server.address) as channel:
        users = UsersClient(channel)
        ada = await users.create("ada@example.com", "Ada Lovelace")
        assert ada.id and ada.email == "ada@example.com"
        assert await users.get(ada.id) == ada
        renamed = await users.update(ada.id, name="Augusta Ada King")
        assert (renamed.name, renamed.email) == ("Augusta Ada King", "ada@example.com")
        moved = await users.update(ada.id, email="ada@example.org")
        assert (moved.name, moved.email) == ("Augusta Ada King", "ada@example.org")
        await users.delete(ada.id)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await users.get(ada.id)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND


async def test_list_follows_the_pages(users_server) -> None:
    async with grpc.aio.insecure_channel(users_server.address) as channel:
        users = UsersClient(channel)
        created = [await users.create(f"u{i}@example.com", f"User {i}") for i in range(5)]
        listed = [u async for u in users.list(page_size=2)]
        assert [u.id for u in listed] == sorted(u.id for u in created)
        page, token = await users.list_page(page_size=3)
        assert len(page) == 3 and token
        rest, last = await users.list_page(page_size=3, page_token=token)
        assert len(rest) == 2 and last == ""
        assert [u.id for u in page + rest] == [u.id for u in listed]
        # Leaving the iteration early ends the stream in flight.
        seen = []
        async for user in users.list(page_size=2):
            seen.append(user.id)
            if len(seen) == 3:
                break
        assert seen == [u.id for u in listed[:3]]


async def test_errors_keep_their_status_codes(users_server) -> None:
    async with grpc.aio.insecure_channel(users_server.address) as channel:
        users = UsersClient(channel)
        await users.create("grace@example.com", "Grace Hopper")
        cases = [
            (users.create("not an address", "Grace"), grpc.StatusCode.INVALID_ARGUMENT),
            (users.create("grace@example.com", "Grace"), grpc.StatusCode.ALREADY_EXISTS),
            (users.get(UNKNOWN_ID), grpc.StatusCode.NOT_FOUND),
            (users.update(UNKNOWN_ID), grpc.StatusCode.INVALID_ARGUMENT),  # an empty mask
            (users.update(UNKNOWN_ID, name="Nobody"), grpc.StatusCode.NOT_FOUND),
            (users.delete(UNKNOWN_ID), grpc.StatusCode.NOT_FOUND),
            (users.list_page(page_token="not a token"), grpc.StatusCode.INVALID_ARGUMENT),
        ]
        for call, code in cases:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await call
            assert info.value.code() == code, info.value.details()
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await users.create("not an address", "Grace")
        assert bad_request_fields(info.value) == ["email"]


async def test_deadline_and_metadata_of_each_call(users_server, calls_seen) -> None:
    async with grpc.aio.insecure_channel(
        users_server.address, interceptors=calls_seen.interceptors
    ) as channel:
        users = UsersClient(channel, metadata=(("X-Users-Impl", "python"),), api_key="k")
        ada = await users.create("ada@example.com", "Ada")
        await users.get(ada.id, deadline=12.5)
        _ = [u async for u in users.list()]
        custom = UsersClient(channel, timeout=7.0)
        await custom.get(ada.id)
        untimed = UsersClient(channel, timeout=None)
        await untimed.get(ada.id)
    method = "/polymesh.users.v1.UserService/"
    assert [(m, t) for m, t, _ in calls_seen.calls] == [
        (method + "CreateUser", DEFAULT_TIMEOUT),
        (method + "GetUser", 12.5),
        (method + "ListUsers", DEFAULT_TIMEOUT),
        (method + "GetUser", 7.0),
        (method + "GetUser", None),
    ]
    for _, _, metadata in calls_seen.calls[:3]:
        assert metadata.get("x-users-impl") == "python"
        assert metadata.get("x-api-key") == "k"
        assert "traceparent" not in metadata  # no span is active
    assert "x-api-key" not in calls_seen.calls[3][2]


async def test_trace_context_reaches_the_server(users_server) -> None:
    if users_server.exporter is None:
        pytest.skip("the Go server's spans are checked by the Go client's tests")
    tracer = TracerProvider().get_tracer("polymesh-client-test")
    async with grpc.aio.insecure_channel(users_server.address) as channel:
        users = UsersClient(channel)
        with tracer.start_as_current_span("test root") as root:
            await users.create("ada@example.com", "Ada")
            async for _ in users.list():
                pass
    context = root.get_span_context()
    spans = [s for s in users_server.exporter.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert [s.name for s in spans] == [
        "polymesh.users.v1.UserService/CreateUser",
        "polymesh.users.v1.UserService/ListUsers",
    ]
    for span in spans:
        assert span.context.trace_id == context.trace_id
        assert span.parent is not None and span.parent.span_id == context.span_id
    assert trace.get_current_span().get_span_context().is_valid is False
