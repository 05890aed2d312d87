"""The service in this process: settings, health, reflection, a call, stop."""

from __future__ import annotations

from pathlib import Path

import grpc
import grpc.aio
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from polymesh.users.v1 import users_pb2, users_pb2_grpc
from polymesh_users.app import DEFAULT_LISTEN_ADDR, Settings, SettingsError, UsersServer
from polymesh_users.store import StoreError

SERVICE = "polymesh.users.v1.UserService"


def test_settings_from_env() -> None:
    assert Settings.from_env({}) == Settings(DEFAULT_LISTEN_ADDR, "users.db", 10.0)
    assert DEFAULT_LISTEN_ADDR == "127.0.0.1:50054"
    got = Settings.from_env(
        {
            "POLYMESH_LISTEN_ADDR": "127.0.0.1:0",
            "POLYMESH_USERS_DB": "/data/u.db",
            "POLYMESH_SHUTDOWN_GRACE_S": "2.5",
        }
    )
    assert (got.listen_addr, got.db, got.grace_period_s) == ("127.0.0.1:0", "/data/u.db", 2.5)


@pytest.mark.parametrize(
    "env",
    [
        {"POLYMESH_USERS_DB": "postgres://u@h/db"},
        {"POLYMESH_SHUTDOWN_GRACE_S": "soon"},
        {"POLYMESH_SHUTDOWN_GRACE_S": "-1"},
    ],
)
def test_bad_settings(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        Settings.from_env(env)


async def test_serves_with_health_until_stopped(tmp_path: Path) -> None:
    server = UsersServer(Settings(listen_addr="127.0.0.1:0", db=str(tmp_path / "u.db")))
    port = await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            for name in ("", SERVICE):
                reply = await health.Check(health_pb2.HealthCheckRequest(service=name))
                assert reply.status == health_pb2.HealthCheckResponse.SERVING
            users = users_pb2_grpc.UserServiceStub(channel)
            created = await users.CreateUser(
                users_pb2.CreateUserRequest(email="ada@example.com", name="Ada")
            )
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await users.DeleteUser(users_pb2.DeleteUserRequest(id=created.user.id.upper()))
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            (details,) = [
                v for k, v in info.value.trailing_metadata() if k == "grpc-status-details-bin"
            ]
            bad = error_details_pb2.BadRequest()
            assert status_pb2.Status.FromString(details).details[0].Unpack(bad)
            assert [v.field for v in bad.field_violations] == ["id"]
            await server.host.health.enter_graceful_shutdown()
            reply = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE))
            assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING
    finally:
        await server.stop(0)
    assert server.store is None


async def test_a_database_that_cannot_open_fails_start(tmp_path: Path) -> None:
    server = UsersServer(Settings(listen_addr="127.0.0.1:0", db=str(tmp_path / "no/such/u.db")))
    with pytest.raises(StoreError, match="unable to open"):
        await server.start()
    await server.stop(0)


async def test_calls_are_traced_in_the_callers_trace(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    server = UsersServer(Settings(listen_addr="127.0.0.1:0", db=str(tmp_path / "u.db")), provider)
    port = await server.start()
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            users = users_pb2_grpc.UserServiceStub(channel)
            await users.CreateUser(
                users_pb2.CreateUserRequest(email="ada@example.com", name="Ada"),
                metadata=(("traceparent", f"00-{trace_id}-00f067aa0ba902b7-01"),),
            )
    finally:
        await server.stop(0)
    spans = [s for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert [s.name for s in spans] == [f"{SERVICE}/CreateUser"]
    assert format(spans[0].context.trace_id, "032x") == trace_id
    assert spans[0].parent is not None and spans[0].parent.span_id == 0x00F067AA0BA902B7
