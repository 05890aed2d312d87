"""The model repository extension: RepositoryIndex, RepositoryModelLoad and
RepositoryModelUnload against a real server on a repository of its own."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import shutil

import grpc
import grpc.aio
import joblib
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc
from inference import grpc_service_pb2 as pb
from inference import grpc_service_pb2_grpc as pb_grpc
from opentelemetry.trace import SpanKind, format_trace_id
from polymesh_common.logs import JsonFormatter
from sklearn import datasets
from sklearn.dummy import DummyClassifier

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.fixture
async def server(own_repository, start_server):
    return await start_server(own_repository)


@pytest.fixture
async def channel(server):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.host.port}") as channel:
        yield channel


@pytest.fixture
def stub(channel) -> pb_grpc.GRPCInferenceServiceStub:
    return pb_grpc.GRPCInferenceServiceStub(channel)


@pytest.fixture
def health(channel) -> health_pb2_grpc.HealthStub:
    return health_pb2_grpc.HealthStub(channel)


async def health_of(health, service: str) -> int:
    return (await health.Check(health_pb2.HealthCheckRequest(service=service))).status


async def index(stub, **kwargs) -> dict[str, pb.RepositoryIndexResponse.ModelIndex]:
    response = await stub.RepositoryIndex(pb.RepositoryIndexRequest(**kwargs))
    return {m.name: m for m in response.models}


def iris_request(rows: int = 5) -> pb.ModelInferRequest:
    x, _ = datasets.load_iris(return_X_y=True)
    request = pb.ModelInferRequest(model_name="iris")
    request.inputs.add(name="input", datatype="FP64", shape=[rows, 4])
    request.inputs[0].contents.fp64_contents.extend(x[:rows].ravel().tolist())
    return request


def labels(response: pb.ModelInferResponse) -> list[int]:
    return list(response.outputs[0].contents.int64_contents)


def blocking_request(value: float) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="blocking")
    request.inputs.add(name="input", datatype="FP32", shape=[1])
    request.inputs[0].contents.fp32_contents.append(value)
    return request


async def expect_error(call, code: grpc.StatusCode, *fragments: str) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    assert err.value.code() == code, err.value.details()
    for fragment in fragments:
        assert fragment in err.value.details()
    return err.value.details()


async def test_index_lists_every_folder_with_state(stub, own_repository):
    # A folder added after the start is listed, not loaded, until loaded.
    shutil.copytree(own_repository / "iris", own_repository / "iris2")
    config = yaml.safe_load((own_repository / "iris2" / "model.yaml").read_text())
    config["name"] = "iris2"
    (own_repository / "iris2" / "model.yaml").write_text(yaml.safe_dump(config))

    entries = await index(stub)
    assert {n: (e.version, e.state, e.reason) for n, e in entries.items()} == {
        "blocking": ("1", "READY", ""),
        "broken": ("1", "READY", ""),
        "diabetes": ("1", "READY", ""),
        "digits": ("1", "READY", ""),
        "iris": ("1", "READY", ""),
        "iris2": ("", "UNAVAILABLE", "not loaded"),
    }
    assert "iris2" not in await index(stub, ready=True)
    await expect_error(
        stub.ModelInfer(pb.ModelInferRequest(model_name="iris2")), grpc.StatusCode.NOT_FOUND
    )

    await stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="iris2"))
    assert (await index(stub))["iris2"].state == "READY"
    request = iris_request()
    request.model_name = "iris2"
    response = await stub.ModelInfer(request)
    assert response.model_name == "iris2"
    assert labels(response) == labels(await stub.ModelInfer(iris_request()))


async def test_unload_then_load(stub, health):
    before = labels(await stub.ModelInfer(iris_request()))
    await stub.RepositoryModelUnload(pb.RepositoryModelUnloadRequest(model_name="iris"))

    assert not (await stub.ModelReady(pb.ModelReadyRequest(name="iris"))).ready
    await expect_error(
        stub.ModelInfer(iris_request()),
        grpc.StatusCode.NOT_FOUND,
        "model 'iris' has no available versions (unloaded)",
    )
    await expect_error(
        stub.ModelMetadata(pb.ModelMetadataRequest(name="iris")), grpc.StatusCode.NOT_FOUND
    )
    entry = (await index(stub))["iris"]
    assert (entry.version, entry.state, entry.reason) == ("1", "UNAVAILABLE", "unloaded")
    assert await health_of(health, "iris") == NOT_SERVING
    # A model unloaded on request does not make the server unready.
    assert await health_of(health, "") == SERVING
    assert (await stub.ServerReady(pb.ServerReadyRequest())).ready
    # Other models serve on.
    assert (await stub.ModelReady(pb.ModelReadyRequest(name="digits"))).ready

    # Unloading again is not an error.
    await stub.RepositoryModelUnload(pb.RepositoryModelUnloadRequest(model_name="iris"))

    await stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="iris"))
    assert (await stub.ModelReady(pb.ModelReadyRequest(name="iris"))).ready
    assert labels(await stub.ModelInfer(iris_request())) == before
    assert await health_of(health, "iris") == SERVING
    assert (await index(stub))["iris"].reason == ""


@pytest.mark.parametrize("name", ["nope", "", "../models", ".hidden", "iris/model.yaml"])
async def test_load_without_a_folder_is_not_found(stub, name):
    await expect_error(
        stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name=name)),
        grpc.StatusCode.NOT_FOUND,
        f"model {name!r} not found",
    )


async def test_unload_unknown_model_is_not_found(stub):
    await expect_error(
        stub.RepositoryModelUnload(pb.RepositoryModelUnloadRequest(model_name="nope")),
        grpc.StatusCode.NOT_FOUND,
        "'nope'",
    )


async def test_failed_reload_keeps_the_loaded_version(stub, health, own_repository):
    before = labels(await stub.ModelInfer(iris_request()))
    artefact = own_repository / "iris" / "model.joblib"
    good = artefact.read_bytes()
    artefact.write_bytes(b"not a joblib file")

    details = await expect_error(
        stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="iris")),
        grpc.StatusCode.INTERNAL,
        "failed to load model 'iris'",
        "iris/model.joblib",
    )
    assert str(own_repository) not in details  # no server paths to clients

    # Version 1 serves on, and the index says why the reload failed.
    assert labels(await stub.ModelInfer(iris_request())) == before
    entry = (await index(stub))["iris"]
    assert entry.state == "READY"
    assert entry.reason.startswith("reload failed, version 1 still serving:")
    assert await health_of(health, "iris") == SERVING

    artefact.write_bytes(good)
    await stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="iris"))
    assert (await index(stub))["iris"].reason == ""


async def test_reload_serves_the_new_artefact(stub, own_repository):
    x, y = datasets.load_iris(return_X_y=True)
    always_two = DummyClassifier(strategy="constant", constant=2).fit(x, y)
    assert labels(await stub.ModelInfer(iris_request())) == [0] * 5
    joblib.dump(always_two, own_repository / "iris" / "model.joblib")
    await stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="iris"))
    assert labels(await stub.ModelInfer(iris_request())) == [2] * 5


async def test_a_broken_model_fails_to_load_with_its_reason(stub, health, own_repository):
    folder = own_repository / "wrong"
    folder.mkdir()
    (folder / "model.yaml").write_text(
        "name: wrong\nplatform: sklearn_joblib\nmodel_file: model.joblib\n"
        "inputs: [{name: input, datatype: FP64, shape: [-1, 4]}]\n"
        "outputs: [{name: label, datatype: INT64, shape: [-1], source: no_such_method}]\n"
    )
    joblib.dump(DummyClassifier().fit([[0.0] * 4], [0]), folder / "model.joblib")

    await expect_error(
        stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="wrong")),
        grpc.StatusCode.INTERNAL,
        "failed to load model 'wrong'",
        "the estimator has no method 'no_such_method'",
    )
    entry = (await index(stub))["wrong"]
    assert entry.state == "UNAVAILABLE"
    assert "no_such_method" in entry.reason
    assert await health_of(health, "wrong") == NOT_SERVING
    # Asked to serve and broken: the server is not ready until it is unloaded.
    assert await health_of(health, "") == NOT_SERVING
    assert not (await stub.ServerReady(pb.ServerReadyRequest())).ready
    await stub.RepositoryModelUnload(pb.RepositoryModelUnloadRequest(model_name="wrong"))
    assert await health_of(health, "") == SERVING


@pytest.mark.parametrize("action", ["unload", "reload"])
async def test_in_flight_call_finishes(stub, gate, action):
    call = asyncio.ensure_future(stub.ModelInfer(blocking_request(7.0)))
    assert await asyncio.to_thread(gate.entered.wait, 10)
    if action == "unload":
        await stub.RepositoryModelUnload(pb.RepositoryModelUnloadRequest(model_name="blocking"))
        assert not (await stub.ModelReady(pb.ModelReadyRequest(name="blocking"))).ready
        await expect_error(stub.ModelInfer(blocking_request(1.0)), grpc.StatusCode.NOT_FOUND)
    else:
        await stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="blocking"))
        assert (await stub.ModelReady(pb.ModelReadyRequest(name="blocking"))).ready
    assert not call.done()
    gate.release.set()
    response = await call
    assert list(response.outputs[0].contents.fp32_contents) == [7.0]


async def test_repository_name(stub, own_repository):
    ours = own_repository.name
    assert "iris" in await index(stub, repository_name=ours)
    await stub.RepositoryModelLoad(
        pb.RepositoryModelLoadRequest(repository_name=ours, model_name="iris")
    )
    for call in (
        stub.RepositoryIndex(pb.RepositoryIndexRequest(repository_name="other")),
        stub.RepositoryModelLoad(
            pb.RepositoryModelLoadRequest(repository_name="other", model_name="iris")
        ),
        stub.RepositoryModelUnload(
            pb.RepositoryModelUnloadRequest(repository_name="other", model_name="iris")
        ),
    ):
        await expect_error(call, grpc.StatusCode.NOT_FOUND, "repository 'other' not found")


async def test_repository_parameters(stub):
    # tritonclient's unload_model always sends unload_dependents.
    unload = pb.RepositoryModelUnloadRequest(model_name="diabetes")
    unload.parameters["unload_dependents"].bool_param = False
    await stub.RepositoryModelUnload(unload)

    unload.parameters["unload_dependents"].string_param = "yes"
    await expect_error(
        stub.RepositoryModelUnload(unload),
        grpc.StatusCode.INVALID_ARGUMENT,
        "'unload_dependents' must be a bool_param",
    )
    # Triton's configuration override is not supported, and says so.
    load = pb.RepositoryModelLoadRequest(model_name="diabetes")
    load.parameters["config"].string_param = "{}"
    await expect_error(
        stub.RepositoryModelLoad(load),
        grpc.StatusCode.INVALID_ARGUMENT,
        "parameter 'config' is not supported",
    )
    assert not (await stub.ModelReady(pb.ModelReadyRequest(name="diabetes"))).ready


async def test_health_watch_follows_unload_and_load(stub, health):
    watch = health.Watch(health_pb2.HealthCheckRequest(service="digits"))
    assert (await watch.read()).status == SERVING
    await stub.RepositoryModelUnload(pb.RepositoryModelUnloadRequest(model_name="digits"))
    assert (await watch.read()).status == NOT_SERVING
    await stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="digits"))
    assert (await watch.read()).status == SERVING
    watch.cancel()


async def test_load_and_unload_logs_carry_the_trace_id(stub, exporter):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("polymesh-inference"))
    logger = logging.getLogger("polymesh_inference")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        await stub.RepositoryModelUnload(pb.RepositoryModelUnloadRequest(model_name="iris"))
        await stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="iris"))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    entries = {e["body"]: e for e in map(json.loads, stream.getvalue().splitlines())}
    spans = {s.name: s for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER}
    unload = spans["inference.GRPCInferenceService/RepositoryModelUnload"]
    load = spans["inference.GRPCInferenceService/RepositoryModelLoad"]
    assert entries["model unloaded"]["trace_id"] == format_trace_id(unload.context.trace_id)
    assert entries["model loaded"]["trace_id"] == format_trace_id(load.context.trace_id)
    assert entries["model ready"]["model"] == "iris"
