"""Server reflection through the gateway, with a reflection-based client.

A gateway runs with the local mesh's own configuration (generated from
deploy/mesh.yaml: the build's descriptor set as contracts, reflection routed
to the local services), every upstream being the e2e mesh's gateway. A client
that knows no contract (grpcio-reflection's descriptor database) lists the
services, describes AIService, and calls the users service with messages
built from the descriptors it was sent. A second gateway has no descriptor
set at all: its contracts come from the users service's own server
reflection (contracts.reflection), and the same client works through it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor_pool import DescriptorPool
from google.protobuf.message_factory import GetMessageClass
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from polymesh_client.auth import with_api_key
from polymesh_mesh.config import gateway_yaml
from polymesh_mesh.model import ROOT, load
from polymesh_mesh.pki import ensure
from polymesh_mesh.probe import grpc_serving
from polymesh_mesh.testing import HOST, Process, free_port

from .conftest import API_KEY, GATEWAY_BIN, require, resolve_mesh

DESCRIPTORS = ROOT / "build/cmake/descriptors/polymesh.binpb"


@pytest.fixture(scope="module")
def gateway(mesh, tmp_path_factory) -> Iterator[str]:
    """The gateway of ./dev up's configuration, in front of the e2e mesh."""
    require(DESCRIPTORS)
    logs = tmp_path_factory.mktemp("reflection")
    # Every upstream cluster is the e2e mesh's gateway; its own ports are free.
    mesh_port = int(mesh.gateway.rsplit(":", 1)[1])
    gateway_ports = (
        "POLYMESH_GATEWAY_PORT",
        "POLYMESH_GATEWAY_TLS_PORT",
        "POLYMESH_GATEWAY_LOCAL_PORT",
        "POLYMESH_GATEWAY_ADMIN_PORT",
    )
    resolved = resolve_mesh(
        logs, {v: mesh_port for v in load().port_variables if v not in gateway_ports}
    )
    config = resolved.gateway
    assert config["contracts"] == {"descriptor_sets": [str(DESCRIPTORS)]}
    # Who may call is the e2e mesh's gateway's to check: this one passes the
    # key on (a route with auth would keep it).
    del config["auth_providers"]
    config["routes"] = [
        {k: v for k, v in route.items() if k not in ("auth", "rate_limit")}
        for route in config["routes"]
    ]
    # Its TLS listener's certificates: the mesh file's pki, in its run folder.
    assert resolved.pki is not None
    ensure(resolved.pki)
    yield from serve_gateway(
        "reflection-gateway",
        gateway_yaml(config),
        {"OTEL_EXPORTER_OTLP_ENDPOINT": mesh.otlp, "OTEL_SERVICE_NAME": "polymesh-gateway-edge"},
        logs,
        resolved.process("gateway").port("POLYMESH_GATEWAY_PORT"),
    )


def serve_gateway(
    name: str, config: str, env: dict[str, str], logs: Path, port: int
) -> Iterator[str]:
    """Runs a gateway with `config` until the generator is closed; yields its address."""
    (logs / "gateway.yaml").write_text(config)
    (logs / "logs").mkdir(exist_ok=True)  # the access log's folder
    process = Process(name, [str(GATEWAY_BIN), "--config", str(logs / "gateway.yaml")], env, logs)
    try:
        process.wait_until(lambda: grpc_serving(f"{HOST}:{port}"))
        yield f"{HOST}:{port}"
    finally:
        assert process.stop() == 0, process.tail()


REFLECTED_CONFIG = """\
listener: {{ address: {host}, port: {port} }}
local_services: {{ address: {host}, port: {local} }}
admin: {{ address: {{ address: {host}, port: {admin} }} }}
contracts: {{ reflection: [{{ cluster: users, timeout: 5s }}] }}
clusters:
  - name: users
    endpoints: [{{ address: {host}, port: {users} }}]
routes:
  - name: get-user
    match: {{ method: polymesh.users.v1.UserService/GetUser }}
    cluster: users
    retry: {{}}
  - name: users
    match: {{ service: polymesh.users.v1.UserService }}
    cluster: users
  - name: reflection
    match: {{ package: grpc.reflection }}
    cluster: local
  - name: health
    match: {{ service: grpc.health.v1.Health }}
    cluster: local
"""


@pytest.fixture(scope="module")
def reflected_gateway(mesh, tmp_path_factory) -> Iterator[str]:
    """A gateway whose only contracts are what the users service's reflection says."""
    logs = tmp_path_factory.mktemp("reflected")
    port = free_port()
    config = REFLECTED_CONFIG.format(
        host=HOST,
        port=port,
        local=free_port(),
        admin=free_port(),
        users=mesh.users.rsplit(":", 1)[1],
    )
    yield from serve_gateway("reflected-gateway", config, {"OTEL_SDK_DISABLED": "true"}, logs, port)


@pytest.fixture
def reflection(gateway):
    with grpc.insecure_channel(gateway) as channel:
        yield channel, ProtoReflectionDescriptorDatabase(channel)


def test_lists_the_routed_services(reflection):
    _, database = reflection
    assert sorted(database.get_services()) == [
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
        "inference.GRPCInferenceService",
        "polymesh.ai.v1.AIService",
        "polymesh.users.v1.UserService",
    ]


def test_describes_the_ai_service(reflection):
    _, database = reflection
    pool = DescriptorPool(database)
    service = pool.FindServiceByName("polymesh.ai.v1.AIService")
    assert service.file.name == "polymesh/ai/v1/ai.proto"
    methods = {m.name: m for m in service.methods}
    assert list(methods) == ["ListModels", "GetModel", "Predict", "PredictStream"]
    predict = methods["Predict"]
    assert predict.input_type.full_name == "polymesh.ai.v1.PredictRequest"
    assert predict.output_type.full_name == "polymesh.ai.v1.PredictResponse"
    assert not predict.client_streaming and not predict.server_streaming
    stream = methods["PredictStream"]
    assert stream.client_streaming and stream.server_streaming
    # The contract's options came along: Predict may be retried.
    assert predict.GetOptions().idempotency_level == descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS
    # And its imports: PredictResponse's fields are described down to the leaves.
    tensor = pool.FindMessageTypeByName("polymesh.ai.v1.Tensor")
    assert [f.name for f in tensor.fields][:3] == ["name", "datatype", "shape"]


def test_unknown_symbols_are_not_found(reflection):
    _, database = reflection
    pool = DescriptorPool(database)
    with pytest.raises(KeyError):
        pool.FindServiceByName("polymesh.ai.v1.NoSuchService")


def test_calls_the_users_service_from_descriptors_alone(reflection):
    channel, database = reflection
    create_get_delete_user(with_api_key(channel, API_KEY), database)


def test_contracts_can_come_from_the_upstreams_reflection(reflected_gateway):
    with grpc.insecure_channel(reflected_gateway) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        # The routed services only, described by the gateway's own
        # reflection from what the users service's reflection said.
        assert sorted(database.get_services()) == [
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
            "polymesh.users.v1.UserService",
        ]
        # The retried GetUser route passed the idempotency check: the
        # reflected contract carries the methods' idempotency_level.
        create_get_delete_user(channel, database)


def create_get_delete_user(channel: grpc.Channel, database) -> None:
    """CreateUser, GetUser, DeleteUser with messages built from descriptors alone."""
    pool = DescriptorPool(database)
    service = pool.FindServiceByName("polymesh.users.v1.UserService")

    def call(method_name: str, **fields):
        method = service.methods_by_name[method_name]
        request_class = GetMessageClass(method.input_type)
        response_class = GetMessageClass(method.output_type)
        stub = channel.unary_unary(
            f"/{service.full_name}/{method.name}",
            request_serializer=request_class.SerializeToString,
            response_deserializer=response_class.FromString,
        )
        return stub(request_class(**fields), timeout=10)

    email = f"reflection-{uuid.uuid4().hex[:12]}@example.com"
    created = call("CreateUser", email=email, name="Grace Hopper")
    assert created.user.email == email and created.user.id
    got = call("GetUser", id=created.user.id)
    assert got.user.name == "Grace Hopper"
    assert got.user.create_time.seconds > 0
    call("DeleteUser", id=created.user.id)
    with pytest.raises(grpc.RpcError) as error:
        call("GetUser", id=created.user.id)
    assert error.value.code() == grpc.StatusCode.NOT_FOUND
