"""End to end through the compose stack's published gateway ports: the AI
API over TLS and its trace across gateway, aiapi and inference (aiapi's
east-west call over mTLS); the users API on both of its implementations;
the standard Open Inference Protocol client with the operator's client
certificate; and what the gateway refuses."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import uuid
from pathlib import Path

import grpc
import pytest
from google.protobuf import field_mask_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from inference import grpc_service_pb2 as infer_pb2
from inference import grpc_service_pb2_grpc as infer_pb2_grpc
from polymesh.ai.v1 import ai_pb2_grpc
from polymesh.users.v1 import users_pb2, users_pb2_grpc
from polymesh_client.ai import output_values, rows_request
from polymesh_client.traces import (
    MODEL_INFER,
    PREDICT,
    PREDICT_HOPS,
    Span,
    fetch_trace,
    hops,
    predict_chain,
)
from sklearn import datasets

from .conftest import API_KEY, OPERATOR_KEY

KEY = (("x-api-key", API_KEY),)

ROOT = Path(__file__).resolve().parents[2]
# tritonclient runs in a process of its own: its generated protocol code and
# ours define the same protobuf names.
TRITON_CALLS = ROOT / "services/inference/tests/tritonclient_calls.py"


def traceparent() -> tuple[str, tuple[tuple[str, str], ...]]:
    """A new sampled W3C trace context: the trace id, and the metadata that
    carries it. The parent span is the caller's, which is not exported: the
    stack's collector is not published."""
    trace_id = secrets.token_hex(16)
    return trace_id, (("traceparent", f"00-{trace_id}-{secrets.token_hex(8)}-01"),)


def test_the_gateway_is_serving(channel):
    health = health_pb2_grpc.HealthStub(channel)
    answer = health.Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_one_predict_is_one_trace_across_gateway_aiapi_and_inference(stack, tls_channel):
    ai = ai_pb2_grpc.AIServiceStub(tls_channel)
    trace_id, metadata = traceparent()
    answer = ai.Predict(
        rows_request("iris", [[5.1, 3.5, 1.4, 0.2], [6.9, 3.2, 5.7, 2.3]]),
        metadata=(("x-api-key", API_KEY), *metadata),
        timeout=20,
    )
    assert output_values(answer, "label") == [0, 2]

    services = ["polymesh-gateway", "polymesh-aiapi", "polymesh-inference"]
    spans = fetch_trace(stack.jaeger, trace_id, services=services, min_spans=7, timeout=30)
    chain = predict_chain(spans)
    assert hops(chain) == list(PREDICT_HOPS)
    for s in chain:
        assert s.attributes.get("rpc.response.status_code") == "OK", s
    # The gateway's upstreams are the compose services, by their DNS names.
    upstreams = {s.name: s.attributes.get("server.address") for s in chain if _gateway_client(s)}
    assert upstreams == {PREDICT: "aiapi", MODEL_INFER: "inference"}


def _gateway_client(span: Span) -> bool:
    return span.service == "polymesh-gateway" and span.kind == "client"


def test_a_predict_needs_a_known_key(channel):
    ai = ai_pb2_grpc.AIServiceStub(channel)
    with pytest.raises(grpc.RpcError) as raised:
        ai.Predict(rows_request("iris", [[5.1, 3.5, 1.4, 0.2]]), timeout=10)
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_the_gateway_refuses_what_a_key_may_not_call(channel):
    users = users_pb2_grpc.UserServiceStub(channel)
    with pytest.raises(grpc.RpcError) as raised:
        users.DeleteUser(users_pb2.DeleteUserRequest(id=str(uuid.uuid4())), timeout=10)
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    inference = infer_pb2_grpc.GRPCInferenceServiceStub(channel)
    for metadata, code in (
        (KEY, grpc.StatusCode.PERMISSION_DENIED),
        ((("x-api-key", OPERATOR_KEY),), grpc.StatusCode.OK),
    ):
        try:
            inference.RepositoryIndex(
                infer_pb2.RepositoryIndexRequest(), metadata=metadata, timeout=10
            )
            got = grpc.StatusCode.OK
        except grpc.RpcError as e:
            got = e.code()
        assert got == code, metadata


@pytest.mark.parametrize(
    ("impl", "metadata", "service"),
    [("go", (), "polymesh-users"), ("python", (("x-users-impl", "python"),), "polymesh-users-py")],
)
def test_users_crud(stack, channel, impl, metadata, service):
    users = users_pb2_grpc.UserServiceStub(channel)
    metadata = (*metadata, *KEY)
    address = f"stack-{impl}-{uuid.uuid4().hex[:8]}@example.com"
    trace_id, context = traceparent()
    created = users.CreateUser(
        users_pb2.CreateUserRequest(email=address, name="Ada Lovelace"),
        metadata=(*metadata, *context),
        timeout=10,
    ).user
    assert (created.email, created.name) == (address, "Ada Lovelace")
    got = users.GetUser(users_pb2.GetUserRequest(id=created.id), metadata=metadata, timeout=10)
    assert got.user == created

    renamed = users.UpdateUser(
        users_pb2.UpdateUserRequest(
            user=users_pb2.User(id=created.id, name="Ada King"),
            update_mask=field_mask_pb2.FieldMask(paths=["name"]),
        ),
        metadata=metadata,
        timeout=10,
    ).user
    assert (renamed.id, renamed.name, renamed.email) == (created.id, "Ada King", address)

    seen, token = [], ""
    while True:
        page = list(
            users.ListUsers(
                users_pb2.ListUsersRequest(page_size=50, page_token=token),
                metadata=metadata,
                timeout=10,
            )
        )
        seen += [item.user.id for item in page[:-1]]
        token = page[-1].end.next_page_token
        if not token:
            break
    assert created.id in seen

    users.DeleteUser(users_pb2.DeleteUserRequest(id=created.id), metadata=metadata, timeout=10)
    with pytest.raises(grpc.RpcError) as raised:
        users.GetUser(users_pb2.GetUserRequest(id=created.id), metadata=metadata, timeout=10)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND

    # The implementation that answered is the one asked for: the create's
    # trace has its server span.
    spans = fetch_trace(stack.jaeger, trace_id, services=["polymesh-gateway", service], timeout=30)
    served = {s.service for s in spans if s.kind == "server"}
    assert served == {"polymesh-gateway", service}


def test_the_two_users_implementations_keep_their_own_data(channel):
    users = users_pb2_grpc.UserServiceStub(channel)
    address = f"stack-only-go-{uuid.uuid4().hex[:8]}@example.com"
    created = users.CreateUser(
        users_pb2.CreateUserRequest(email=address, name="Grace"), metadata=KEY, timeout=10
    ).user
    with pytest.raises(grpc.RpcError) as raised:
        users.GetUser(
            users_pb2.GetUserRequest(id=created.id),
            metadata=(("x-users-impl", "python"), *KEY),
            timeout=10,
        )
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    users.DeleteUser(users_pb2.DeleteUserRequest(id=created.id), metadata=KEY, timeout=10)


def test_tritonclient_through_the_gateway(stack):
    # An operator's tool: the TLS port, the operator's client certificate.
    run = subprocess.run(
        [
            sys.executable,
            str(TRITON_CALLS),
            stack.gateway_tls,
            "--cycle",
            "diabetes",
            f"--ca-file={stack.tls / 'ca.crt'}",
            f"--cert={stack.tls / 'operator.crt'}",
            f"--key={stack.tls / 'operator.key'}",
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr.decode()
    answers = json.loads(run.stdout)
    assert answers["live"] is True and answers["ready"] is True
    assert answers["server_metadata"]["name"] == "polymesh-inference"
    index = {m["name"]: m["state"] for m in answers["index"]["models"]}
    assert {"iris": "READY", "digits": "READY", "diabetes": "READY"}.items() <= index.items()

    # The models were trained into the image when it was built: their
    # answers are those of models of the bundled data sets, not of a copy.
    _, iris_y = datasets.load_iris(return_X_y=True)
    labels = answers["iris"]["outputs"]["label"]["data"]
    assert sum(a == b for a, b in zip(labels, iris_y, strict=True)) / len(iris_y) > 0.9
    _, digits_y = datasets.load_digits(return_X_y=True)
    labels = answers["digits"]["outputs"]["label"]["data"]
    assert sum(a == b for a, b in zip(labels, digits_y, strict=True)) / len(digits_y) > 0.9

    assert answers["unknown_model"]["status"] == "StatusCode.NOT_FOUND"
    cycle = answers["cycle"]
    assert cycle["ready_after_unload"] is False
    assert cycle["infer_after_unload"]["status"] == "StatusCode.NOT_FOUND"
    assert cycle["ready_after_load"] is True
