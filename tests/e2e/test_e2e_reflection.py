"""Server reflection through the gateway, with a reflection-based client.

A gateway runs with the local mesh's own configuration (gateway/config/
mesh.yaml.in: the build's descriptor set as contracts, reflection routed to
the local services), every upstream being the e2e mesh's gateway. A client
that knows no contract (grpcio-reflection's descriptor database) lists the
services, describes AIService, and calls the users service with messages
built from the descriptors it was sent.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor_pool import DescriptorPool
from google.protobuf.message_factory import GetMessageClass
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from polymesh_client.probe import grpc_serving

from .conftest import GATEWAY_BIN, HOST, ROOT, Process, free_port, require

DESCRIPTORS = ROOT / "build/cmake/descriptors/polymesh.binpb"


@pytest.fixture(scope="module")
def gateway(mesh, tmp_path_factory) -> Iterator[str]:
    """The gateway of ./dev up's configuration, in front of the e2e mesh."""
    require(DESCRIPTORS)
    logs = tmp_path_factory.mktemp("reflection")
    port = free_port()
    config = (ROOT / "gateway/config/mesh.yaml.in").read_text()
    for name, value in {
        "HOST": HOST,
        "GATEWAY_PORT": port,
        "GATEWAY_LOCAL_PORT": free_port(),
        "GATEWAY_ADMIN_PORT": free_port(),
        "ACCESS_LOG": logs / "access.log",
        "DESCRIPTORS": DESCRIPTORS,
    }.items():
        config = config.replace(f"@{name}@", str(value))
    # Every upstream cluster is the e2e mesh's gateway.
    mesh_port = mesh.gateway.rsplit(":", 1)[1]
    config = re.sub(r"@[A-Z_]+_PORT@", mesh_port, config)
    unfilled = [line for line in config.splitlines() if "@" in line.split("#", 1)[0]]
    assert not unfilled, unfilled
    (logs / "gateway.yaml").write_text(config)
    process = Process(
        "reflection-gateway",
        [str(GATEWAY_BIN), "--config", str(logs / "gateway.yaml")],
        {"OTEL_EXPORTER_OTLP_ENDPOINT": mesh.otlp, "OTEL_SERVICE_NAME": "polymesh-gateway-edge"},
        logs,
    )
    try:
        process.wait_until(lambda: grpc_serving(f"{HOST}:{port}"))
        yield f"{HOST}:{port}"
    finally:
        assert process.stop() == 0, process.tail()


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
