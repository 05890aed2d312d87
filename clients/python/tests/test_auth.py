"""Credentials on the wire: the API key on every kind of call, TLS with the
mesh's CA and a client certificate, against real servers on loopback."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from polymesh_client.auth import (
    API_KEY_HEADER,
    add_arguments,
    aio_channel,
    channel_from_args,
    tls_credentials,
    with_api_key,
)
from polymesh_mesh.model import ROOT, Folders, load
from polymesh_mesh.pki import Made, ensure

HOST = "127.0.0.1"


class _Seen(grpc.aio.ServerInterceptor):
    """Records each call's metadata and the peer's certificate names."""

    def __init__(self) -> None:
        self.metadata: list[dict[str, str]] = []

    async def intercept_service(self, continuation, handler_call_details):
        self.metadata.append(dict(handler_call_details.invocation_metadata or ()))
        return await continuation(handler_call_details)


async def start(server_credentials: grpc.ServerCredentials | None = None):
    seen = _Seen()
    server = grpc.aio.server(interceptors=[seen])
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    if server_credentials is None:
        port = server.add_insecure_port(f"{HOST}:0")
    else:
        port = server.add_secure_port(f"{HOST}:0", server_credentials)
    await server.start()
    return server, f"{HOST}:{port}", seen


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Made:
    """The mesh file's certificates, made in a folder of the test."""
    run = tmp_path_factory.mktemp("run")
    resolved = load().resolve(Folders.of_checkout(ROOT, run=run, tools=run))
    assert resolved.pki is not None
    return ensure(resolved.pki)


async def test_every_kind_of_aio_call_carries_the_key() -> None:
    server, target, seen = await start()
    try:
        async with aio_channel(target, api_key="k1") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            await stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
            watch = stub.Watch(health_pb2.HealthCheckRequest(), timeout=5)
            await watch.read()
            watch.cancel()
            # A call's own key wins, and goes alone.
            await stub.Check(
                health_pb2.HealthCheckRequest(), metadata=((API_KEY_HEADER, "other"),), timeout=5
            )
        async with aio_channel(target) as channel:
            await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    finally:
        await server.stop(None)
    keys = [m.get(API_KEY_HEADER) for m in seen.metadata]
    assert keys == ["k1", "k1", "other", None]


async def test_a_sync_channel_with_the_key() -> None:
    server, target, seen = await start()
    try:
        with grpc.insecure_channel(target) as plain:
            stub = health_pb2_grpc.HealthStub(with_api_key(plain, "k2"))
            # The server runs on this event loop: call from a thread.
            await asyncio.to_thread(stub.Check, health_pb2.HealthCheckRequest(), timeout=5)
    finally:
        await server.stop(None)
    assert seen.metadata[0][API_KEY_HEADER] == "k2"


async def test_tls_with_the_mesh_ca_and_a_client_certificate(pki: Made) -> None:
    gateway = pki.files["gateway"]
    server_creds = grpc.ssl_server_credentials(
        [(gateway.key.read_bytes(), gateway.certificate.read_bytes())],
        root_certificates=pki.ca.read_bytes(),
        require_client_auth=True,
    )
    server, target, seen = await start(server_creds)
    operator = pki.files["operator"]
    try:
        async with aio_channel(
            target,
            api_key="k3",
            ca_file=pki.ca,
            cert_file=operator.certificate,
            key_file=operator.key,
        ) as channel:
            answer = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5
            )
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
        # Without a client certificate, this server refuses the handshake.
        async with aio_channel(target, ca_file=pki.ca) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=5
                )
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        await server.stop(None)
    assert seen.metadata[0][API_KEY_HEADER] == "k3"


def test_tls_credentials_want_a_certificate_and_its_key(pki: Made) -> None:
    with pytest.raises(ValueError, match="both"):
        tls_credentials(pki.ca, cert_file=pki.files["operator"].certificate)


def test_the_command_line_flags(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("POLYMESH_API_KEY", "from-env")
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", default="127.0.0.1:8443")
    add_arguments(parser)
    args = parser.parse_args([])
    assert args.api_key == "from-env" and args.ca_file is None
    monkeypatch.delenv("POLYMESH_API_KEY")
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", default="127.0.0.1:8443")
    add_arguments(parser, default_key="polymesh-operator-key")
    args = parser.parse_args(["--ca-file", str(tmp_path / "ca.crt")])
    assert args.api_key == "polymesh-operator-key"
    with pytest.raises(FileNotFoundError):
        channel_from_args(args)
