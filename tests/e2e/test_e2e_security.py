"""Security at the front door, on the running mesh: hostile calls are refused
by the gateway and never reach a service; admitted calls do.

Each test reads the services' own call counters before and after its calls
(aiapi's and the users service's gRPC server metrics, the inference
service's requests), so "refused at the gateway" means the service never
saw the call, not only that the client got an error. The calls:

- no credential, an unknown key: UNAUTHENTICATED, on every secured route;
- the demo key on the operator routes (the model repository, the inference
  tier): PERMISSION_DENIED;
- a forged `x-polymesh-principal`: not a credential, stripped on every route
  and replaced by the gateway's own on secured ones;
- TLS with a client certificate of another CA, or an expired one of the
  mesh's CA: the handshake fails;
- over a route's rate limit: RESOURCE_EXHAUSTED with google.rpc.RetryInfo.
"""

from __future__ import annotations

import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from inference import grpc_service_pb2 as infer_pb2
from inference import grpc_service_pb2_grpc as infer_pb2_grpc
from polymesh.ai.v1 import ai_pb2_grpc
from polymesh.testing.v1 import echo_pb2, echo_pb2_grpc
from polymesh.users.v1 import users_pb2, users_pb2_grpc
from polymesh_client.ai import rows_request
from polymesh_client.auth import tls_credentials, with_api_key
from polymesh_mesh.pki import Certificate, Files, files, issue, make_ca, openssl
from prometheus_client.parser import text_string_to_metric_families

from .conftest import (
    API_KEY,
    DEMO_KEY,
    OPERATOR_KEY,
    RATE_LIMITED_BURST,
    ROUTE_HEADER,
)

IRIS_ROW = [5.1, 3.5, 1.4, 0.2]
OPERATOR_URI = "spiffe://polymesh.local/operator"


def scrape(url: str) -> list[tuple[str, dict[str, str], float]]:
    with urllib.request.urlopen(url, timeout=10) as answer:
        text = answer.read().decode()
    return [
        (s.name, s.labels, s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def total(samples, name: str, **labels: str) -> float:
    return sum(
        value
        for n, have, value in samples
        if n == name and all(have.get(k) == v for k, v in labels.items())
    )


@dataclass(frozen=True)
class Reached:
    """Calls the services themselves counted."""

    aiapi: float
    users: float
    inference: float

    def __sub__(self, other: Reached) -> Reached:
        return Reached(
            self.aiapi - other.aiapi, self.users - other.users, self.inference - other.inference
        )


def reached(mesh) -> Reached:
    served = "rpc_server_duration_milliseconds_count"
    return Reached(
        aiapi=total(scrape(mesh.aiapi_metrics), served, rpc_service="polymesh.ai.v1.AIService"),
        users=total(
            scrape(mesh.users_metrics), served, rpc_service="polymesh.users.v1.UserService"
        ),
        inference=total(scrape(mesh.inference_metrics), "polymesh_inference_requests_total"),
    )


def gateway_refusals(mesh) -> dict[str, float]:
    """The gateway's refusal counters, by kind and route."""
    samples = scrape(f"{mesh.gateway_admin}/metrics")
    out: dict[str, float] = {}
    for kind in ("unauthenticated", "permission_denied", "rate_limited"):
        for name, labels, value in samples:
            if name == f"polymesh_gateway_{kind}_total":
                out[f"{kind} {labels.get('route', '')}"] = value
    return out


def assert_reached(mesh, before: Reached, want: Reached, timeout: float = 10.0) -> None:
    """The services' counters moved by exactly `want` since `before`. A
    service counts a call when it ends, a moment after the client's answer:
    wait until every count is reached, then check that none is over."""
    deadline = time.monotonic() + timeout
    while True:
        moved = reached(mesh) - before
        done = all(getattr(moved, f) >= getattr(want, f) for f in ("aiapi", "users", "inference"))
        if done or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert moved == want, f"the services counted {moved}, want {want}"


def code_of(call: Callable[[], object]) -> grpc.StatusCode:
    try:
        call()
    except grpc.RpcError as e:
        return e.code()
    return grpc.StatusCode.OK


def tls_channel(mesh, cert: Files | None = None) -> grpc.Channel:
    creds = tls_credentials(
        mesh.tls / "ca.crt",
        cert.certificate if cert else None,
        cert.key if cert else None,
    )
    return grpc.secure_channel(mesh.gateway_tls, creds)


class Calls:
    """One call of each secured contract over a channel, with metadata; each
    returns the status code."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.ai = ai_pb2_grpc.AIServiceStub(channel)
        self.users = users_pb2_grpc.UserServiceStub(channel)
        self.inference = infer_pb2_grpc.GRPCInferenceServiceStub(channel)

    def predict(self, metadata=()) -> grpc.StatusCode:
        request = rows_request("iris", [IRIS_ROW])
        return code_of(lambda: self.ai.Predict(request, metadata=metadata, timeout=10))

    def create_user(self, metadata=()) -> grpc.StatusCode:
        request = users_pb2.CreateUserRequest(
            email=f"sec-{uuid.uuid4().hex[:12]}@example.com", name="Mallory"
        )
        return code_of(lambda: self.users.CreateUser(request, metadata=metadata, timeout=10))

    def delete_user(self, metadata=()) -> grpc.StatusCode:
        request = users_pb2.DeleteUserRequest(id=str(uuid.uuid4()))
        return code_of(lambda: self.users.DeleteUser(request, metadata=metadata, timeout=10))

    def model_infer(self, metadata=()) -> grpc.StatusCode:
        request = infer_pb2.ModelInferRequest(
            model_name="iris",
            inputs=[
                infer_pb2.ModelInferRequest.InferInputTensor(
                    name="input",
                    datatype="FP64",
                    shape=[1, 4],
                    contents=infer_pb2.InferTensorContents(fp64_contents=IRIS_ROW),
                )
            ],
        )
        return code_of(lambda: self.inference.ModelInfer(request, metadata=metadata, timeout=10))

    def repository_index(self, metadata=()) -> grpc.StatusCode:
        request = infer_pb2.RepositoryIndexRequest()
        return code_of(
            lambda: self.inference.RepositoryIndex(request, metadata=metadata, timeout=10)
        )

    def unload(self, model: str, metadata=()) -> grpc.StatusCode:
        request = infer_pb2.RepositoryModelUnloadRequest(model_name=model)
        return code_of(
            lambda: self.inference.RepositoryModelUnload(request, metadata=metadata, timeout=10)
        )

    def load(self, model: str, metadata=()) -> grpc.StatusCode:
        request = infer_pb2.RepositoryModelLoadRequest(model_name=model)
        return code_of(
            lambda: self.inference.RepositoryModelLoad(request, metadata=metadata, timeout=10)
        )

    def every(self, metadata=()) -> dict[str, grpc.StatusCode]:
        return {
            "Predict": self.predict(metadata),
            "CreateUser": self.create_user(metadata),
            "DeleteUser": self.delete_user(metadata),
            "ModelInfer": self.model_infer(metadata),
            "RepositoryIndex": self.repository_index(metadata),
            "RepositoryModelUnload": self.unload("iris", metadata),
            "RepositoryModelLoad": self.load("iris", metadata),
        }


def key(value: str) -> tuple[tuple[str, str], ...]:
    return (("x-api-key", value),)


def model_ready(mesh, model: str) -> float:
    return total(scrape(mesh.inference_metrics), "polymesh_inference_model_ready", model=model)


@pytest.fixture
def plain(channel) -> Calls:
    return Calls(channel)


def test_no_credential_and_unknown_keys_are_unauthenticated(mesh, plain):
    refused_before = gateway_refusals(mesh)
    before = reached(mesh)
    with tls_channel(mesh) as tls:
        for calls in (plain, Calls(tls)):
            for metadata in ((), key("not-a-key"), key("")):
                codes = calls.every(metadata)
                assert set(codes.values()) == {grpc.StatusCode.UNAUTHENTICATED}, (metadata, codes)
    assert_reached(mesh, before, Reached(0, 0, 0))
    assert model_ready(mesh, "iris") == 1
    refused = gateway_refusals(mesh)
    for route in ("ai", "users", "inference", "inference-repository-unload"):
        name = f"unauthenticated {route}"
        assert refused.get(name, 0) > refused_before.get(name, 0), (name, refused)


def test_the_demo_key_may_not_call_the_operator_routes(mesh, plain):
    before = reached(mesh)
    codes = {
        "ModelInfer": plain.model_infer(key(DEMO_KEY)),
        "RepositoryIndex": plain.repository_index(key(DEMO_KEY)),
        "RepositoryModelUnload": plain.unload("iris", key(DEMO_KEY)),
        "RepositoryModelLoad": plain.load("iris", key(DEMO_KEY)),
    }
    assert set(codes.values()) == {grpc.StatusCode.PERMISSION_DENIED}, codes
    # Nor the operator key the AI API (it is no ai-users').
    assert plain.predict(key(OPERATOR_KEY)) == grpc.StatusCode.PERMISSION_DENIED
    assert_reached(mesh, before, Reached(0, 0, 0))
    assert model_ready(mesh, "iris") == 1
    # What the demo key may call, it does.
    assert plain.predict(key(DEMO_KEY)) == grpc.StatusCode.OK
    assert plain.create_user(key(DEMO_KEY)) == grpc.StatusCode.OK
    assert_reached(mesh, before, Reached(aiapi=1, users=1, inference=1))


def test_the_repository_is_the_operators(mesh, plain):
    """Anonymous callers and the demo key may not touch the model
    repository; the operator key may, and so may the operator's client
    certificate over TLS."""
    anonymous = {plain.repository_index(), plain.unload("diabetes"), plain.load("diabetes")}
    demo = {
        plain.repository_index(key(DEMO_KEY)),
        plain.unload("diabetes", key(DEMO_KEY)),
        plain.load("diabetes", key(DEMO_KEY)),
    }
    assert anonymous == {grpc.StatusCode.UNAUTHENTICATED}
    assert demo == {grpc.StatusCode.PERMISSION_DENIED}
    assert model_ready(mesh, "diabetes") == 1

    operator = key(OPERATOR_KEY)
    assert plain.repository_index(operator) == grpc.StatusCode.OK
    assert plain.unload("diabetes", operator) == grpc.StatusCode.OK
    assert model_ready(mesh, "diabetes") == 0
    assert plain.load("diabetes", operator) == grpc.StatusCode.OK
    assert model_ready(mesh, "diabetes") == 1

    before = reached(mesh)
    with tls_channel(mesh, files(mesh.tls, "operator")) as tls:
        calls = Calls(tls)
        assert calls.repository_index() == grpc.StatusCode.OK
        assert calls.model_infer() == grpc.StatusCode.OK
    # aiapi's certificate reads the index (its ListModels does), and may
    # change nothing.
    with tls_channel(mesh, files(mesh.tls, "aiapi")) as tls:
        calls = Calls(tls)
        assert calls.repository_index() == grpc.StatusCode.OK
        assert calls.unload("diabetes") == grpc.StatusCode.PERMISSION_DENIED
        assert calls.create_user() == grpc.StatusCode.PERMISSION_DENIED
    assert model_ready(mesh, "diabetes") == 1
    assert_reached(mesh, before, Reached(aiapi=0, users=0, inference=1))


def test_a_forged_principal_header_is_no_credential_and_never_arrives(mesh, channel, plain):
    forged = (("x-polymesh-principal", "operator"),)
    before = reached(mesh)
    # Not a credential: without a key it is still no one.
    assert plain.predict(forged) == grpc.StatusCode.UNAUTHENTICATED
    assert plain.unload("iris", forged) == grpc.StatusCode.UNAUTHENTICATED
    # With the demo key, the demo key's rights, not the operator's.
    assert plain.unload("iris", (*forged, *key(DEMO_KEY))) == grpc.StatusCode.PERMISSION_DENIED
    assert_reached(mesh, before, Reached(0, 0, 0))

    echo = echo_pb2_grpc.EchoServiceStub(channel)

    def echoed(metadata) -> dict:
        test_id = uuid.uuid4().hex
        echo.Unary(
            echo_pb2.UnaryRequest(text="who"),
            metadata=(("x-test-id", test_id), *metadata),
            timeout=5,
        )
        return mesh.echo.observation(test_id).metadata

    # An open route: the forged header is stripped.
    assert "x-polymesh-principal" not in echoed(forged)
    # A secured one: the gateway says who called, and keeps the key to itself.
    seen = echoed((*forged, *key(DEMO_KEY), (ROUTE_HEADER, "secured")))
    assert seen.get("x-polymesh-principal") == "demo"
    assert "x-api-key" not in seen


def make_ca_elsewhere(folder: Path) -> Files:
    folder.mkdir(mode=0o700)
    return make_ca(folder, "not the mesh's CA", days=1)


def expired_certificate(ca: Files, folder: Path, uri: str) -> Files:
    """A client certificate for `uri`, signed by `ca`, valid for a day in 2020
    (openssl ca: it sets the dates that openssl x509 cannot)."""
    folder.mkdir(mode=0o700, exist_ok=True)
    out = files(folder, "expired")
    (folder / "index.txt").write_text("")
    (folder / "serial").write_text("1000\n")
    config = folder / "ca.cnf"
    config.write_text(
        f"[ca]\ndefault_ca = expired\n[expired]\ndatabase = {folder}/index.txt\n"
        f"new_certs_dir = {folder}\nserial = {folder}/serial\ndefault_md = sha256\n"
        "policy = any\n[any]\ncommonName = supplied\n"
        "[ext]\nbasicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\n"
        f"extendedKeyUsage = clientAuth\nsubjectAltName = URI:{uri}\n"
        "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = expired operator\n"
    )
    csr = folder / "expired.csr"
    openssl(
        "req", "-new", "-config", config, "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-noenc", "-keyout", out.key, "-out", csr,
    )  # fmt: skip
    openssl(
        "ca", "-batch", "-config", config, "-cert", ca.certificate, "-keyfile", ca.key,
        "-in", csr, "-out", out.certificate, "-extensions", "ext", "-notext",
        "-startdate", "20200101000000Z", "-enddate", "20200102000000Z",
    )  # fmt: skip
    return out


def test_client_certificates_the_gateway_does_not_trust_fail_the_handshake(mesh, tmp_path):
    other_ca = make_ca_elsewhere(tmp_path / "other")
    impostor = issue(
        tmp_path / "other",
        other_ca,
        Certificate(name="operator", usage="client", uris=(OPERATOR_URI,)),
        days=1,
    )
    expired = expired_certificate(files(mesh.tls, "ca"), tmp_path / "expired", OPERATOR_URI)
    # The mesh's CA refuses both (as the gateway's handshake will).
    for cert in (impostor, expired):
        checked = subprocess.run(
            ["openssl", "verify", "-CAfile", str(mesh.tls / "ca.crt"), str(cert.certificate)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert checked.returncode != 0, checked.stdout
    before = reached(mesh)
    for cert in (impostor, expired):
        with tls_channel(mesh, cert) as tls:
            codes = Calls(tls).every()
        # No call completes: the connection fails at the handshake.
        assert set(codes.values()) == {grpc.StatusCode.UNAVAILABLE}, (cert, codes)
    assert_reached(mesh, before, Reached(0, 0, 0))
    assert model_ready(mesh, "iris") == 1
    # The operator's own certificate, for comparison, is admitted.
    with tls_channel(mesh, files(mesh.tls, "operator")) as tls:
        assert Calls(tls).repository_index() == grpc.StatusCode.OK


def test_over_the_rate_limit_is_resource_exhausted_with_retry_info(mesh, channel):
    refused_before = gateway_refusals(mesh)
    ai = ai_pb2_grpc.AIServiceStub(with_api_key(channel, API_KEY))
    limited = ((ROUTE_HEADER, "rate-limited"),)
    request = rows_request("iris", [IRIS_ROW])
    before = reached(mesh)
    for _ in range(RATE_LIMITED_BURST):
        ai.Predict(request, metadata=limited, timeout=10)
    with pytest.raises(grpc.RpcError) as raised:
        ai.Predict(request, metadata=limited, timeout=10)
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    details = status_pb2.Status.FromString(
        dict(raised.value.trailing_metadata())["grpc-status-details-bin"]
    )
    retry = error_details_pb2.RetryInfo()
    assert any(d.Unpack(retry) for d in details.details), details
    assert retry.retry_delay.ToTimedelta().total_seconds() > 1
    # The burst reached aiapi; the call over it did not.
    burst = RATE_LIMITED_BURST
    assert_reached(mesh, before, Reached(aiapi=burst, users=0, inference=burst))
    refused = gateway_refusals(mesh)
    name = "rate_limited ai-rate-limited"
    assert refused.get(name, 0) == refused_before.get(name, 0) + 1, refused


def test_admitted_calls_reach_the_services(mesh, plain):
    before = reached(mesh)
    with tls_channel(mesh) as tls:
        secure = Calls(tls)
        assert secure.predict(key(DEMO_KEY)) == grpc.StatusCode.OK
        assert secure.create_user(key(DEMO_KEY)) == grpc.StatusCode.OK
        assert secure.model_infer(key(OPERATOR_KEY)) == grpc.StatusCode.OK
    assert plain.predict(key(DEMO_KEY)) == grpc.StatusCode.OK
    assert plain.delete_user(key(OPERATOR_KEY)) == grpc.StatusCode.NOT_FOUND
    # Each Predict is one ModelInfer of aiapi's, over mTLS through the gateway.
    assert_reached(mesh, before, Reached(aiapi=2, users=2, inference=3))
