"""Every RPC of inference.GRPCInferenceService against a real server."""

from __future__ import annotations

import asyncio
import shutil

import grpc
import grpc.aio
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from inference import grpc_service_pb2 as pb
from inference import grpc_service_pb2_grpc as pb_grpc
from opentelemetry.trace import SpanKind, StatusCode
from polymesh_inference.app import InferenceServer
from polymesh_inference.settings import Settings
from sklearn import datasets

SERVICE = "inference.GRPCInferenceService"


def iris_request(x: np.ndarray, datatype: str = "FP64", **kwargs) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="iris", **kwargs)
    tensor = request.inputs.add(name="input", datatype=datatype, shape=list(x.shape))
    field = {"FP64": "fp64_contents", "FP32": "fp32_contents"}[datatype]
    getattr(tensor.contents, field).extend(x.ravel().tolist())
    return request


def raw_request(model: str, x: np.ndarray, datatype: str) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name=model)
    request.inputs.add(name="input", datatype=datatype, shape=list(x.shape))
    request.raw_input_contents.append(x.astype(x.dtype.newbyteorder("<")).tobytes())
    return request


def output(response: pb.ModelInferResponse, name: str) -> np.ndarray:
    """An output's data, from typed contents or raw_output_contents."""
    for i, tensor in enumerate(response.outputs):
        if tensor.name == name:
            if response.raw_output_contents:
                dtype = {"INT64": "<i8", "FP32": "<f4", "FP64": "<f8"}[tensor.datatype]
                raw = response.raw_output_contents[i]
                return np.frombuffer(raw, dtype).reshape(tuple(tensor.shape))
            contents = tensor.contents
            values = {
                "INT64": contents.int64_contents,
                "FP32": contents.fp32_contents,
                "FP64": contents.fp64_contents,
            }[tensor.datatype]
            return np.array(values).reshape(tuple(tensor.shape))
    raise KeyError(name)


@pytest.fixture(scope="module")
def iris():
    return datasets.load_iris(return_X_y=True)


@pytest.fixture(scope="module")
def digits():
    x, y = datasets.load_digits(return_X_y=True)
    return x.astype(np.float32), y


async def test_server_live_and_ready(stub):
    assert (await stub.ServerLive(pb.ServerLiveRequest())).live
    assert (await stub.ServerReady(pb.ServerReadyRequest())).ready


async def test_server_metadata(stub):
    response = await stub.ServerMetadata(pb.ServerMetadataRequest())
    assert response.name == "polymesh-inference"
    assert response.version
    assert "model_repository" in response.extensions


@pytest.mark.parametrize("version", ["", "1"])
async def test_model_ready(stub, version):
    assert (await stub.ModelReady(pb.ModelReadyRequest(name="iris", version=version))).ready


async def test_model_metadata_iris(stub):
    response = await stub.ModelMetadata(pb.ModelMetadataRequest(name="iris"))
    assert response.name == "iris"
    assert list(response.versions) == ["1"]
    assert response.platform == "sklearn_joblib"
    assert [(t.name, t.datatype, list(t.shape)) for t in response.inputs] == [
        ("input", "FP64", [-1, 4])
    ]
    assert [(t.name, t.datatype, list(t.shape)) for t in response.outputs] == [
        ("label", "INT64", [-1]),
        ("probabilities", "FP64", [-1, 3]),
    ]


async def test_model_metadata_digits(stub):
    response = await stub.ModelMetadata(pb.ModelMetadataRequest(name="digits", version="1"))
    assert response.platform == "onnxruntime_onnx"
    assert [(t.name, t.datatype, list(t.shape)) for t in response.inputs] == [
        ("input", "FP32", [-1, 64])
    ]


async def test_repository_index(stub):
    response = await stub.RepositoryIndex(pb.RepositoryIndexRequest(ready=True))
    entries = {m.name: (m.version, m.state) for m in response.models}
    for name in ("iris", "digits", "diabetes"):
        assert entries[name] == ("1", "READY")


async def test_infer_iris_typed(stub, iris):
    x, y = iris
    response = await stub.ModelInfer(iris_request(x, id="req-1"))
    assert response.model_name == "iris"
    assert response.model_version == "1"
    assert response.id == "req-1"
    labels = output(response, "label")
    probabilities = output(response, "probabilities")
    assert labels.shape == (len(x),)
    assert probabilities.shape == (len(x), 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
    assert np.mean(labels == y) > 0.9
    assert [t.datatype for t in response.outputs] == ["INT64", "FP64"]


async def test_infer_iris_accepts_fp32(stub, iris):
    x, y = iris
    response = await stub.ModelInfer(iris_request(x[:10], datatype="FP32"))
    assert list(output(response, "label")) == list(y[:10])


async def test_infer_raw_inputs_match_typed(stub, iris):
    x, _ = iris
    typed = await stub.ModelInfer(iris_request(x))
    raw = await stub.ModelInfer(raw_request("iris", x, "FP64"))
    np.testing.assert_array_equal(output(raw, "label"), output(typed, "label"))
    np.testing.assert_allclose(output(raw, "probabilities"), output(typed, "probabilities"))


async def test_infer_digits_onnx(stub, digits):
    x, y = digits
    request = pb.ModelInferRequest(model_name="digits")
    request.inputs.add(name="input", datatype="FP32", shape=list(x.shape))
    request.inputs[0].contents.fp32_contents.extend(x.ravel().tolist())
    response = await stub.ModelInfer(request)
    labels = output(response, "label")
    assert np.mean(labels == y) > 0.9
    assert output(response, "probabilities").shape == (len(x), 10)
    raw = await stub.ModelInfer(raw_request("digits", x[:50], "FP32"))
    np.testing.assert_array_equal(output(raw, "label"), labels[:50])


async def test_infer_diabetes_regression(stub):
    x, _ = datasets.load_diabetes(return_X_y=True)
    response = await stub.ModelInfer(raw_request("diabetes", x[:5], "FP64"))
    assert output(response, "prediction").shape == (5,)


async def test_requested_outputs(stub, iris):
    x, _ = iris
    request = iris_request(x[:3])
    request.outputs.add(name="probabilities")
    response = await stub.ModelInfer(request)
    assert [t.name for t in response.outputs] == ["probabilities"]
    assert output(response, "probabilities").shape == (3, 3)


def _bad(mutate):
    x = np.ones((2, 4))
    request = iris_request(x)
    mutate(request)
    return request


def _set_raw(request, data: bytes):
    request.inputs[0].ClearField("contents")
    request.raw_input_contents.append(data)


BAD_REQUESTS = {
    "unknown model": (
        pb.ModelInferRequest(model_name="nope"),
        grpc.StatusCode.NOT_FOUND,
        "'nope'",
    ),
    "unknown version": (
        _bad(lambda r: setattr(r, "model_version", "7")),
        grpc.StatusCode.NOT_FOUND,
        "'7'",
    ),
    "missing input": (
        _bad(lambda r: r.ClearField("inputs")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "input 'input' is missing",
    ),
    "unknown input": (
        _bad(lambda r: setattr(r.inputs[0], "name", "features")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "'features'",
    ),
    "unknown datatype": (
        _bad(lambda r: setattr(r.inputs[0], "datatype", "FP128")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "input 'input'",
    ),
    "wrong datatype": (
        _bad(
            lambda r: (
                r.inputs[0].ClearField("contents"),
                setattr(r.inputs[0], "datatype", "INT32"),
                r.inputs[0].contents.int_contents.extend([1] * 8),
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "input 'input': datatype INT32",
    ),
    "contents field of another datatype": (
        _bad(lambda r: r.inputs[0].contents.int64_contents.append(1)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "input 'input'",
    ),
    "shape mismatch": (
        _bad(lambda r: r.inputs[0].shape.__setitem__(1, 2) or r.inputs[0].shape.__setitem__(0, 4)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "input 'input': shape [4, 2]",
    ),
    "element count mismatch": (
        _bad(lambda r: r.inputs[0].shape.__setitem__(0, 3)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "input 'input': 8 elements",
    ),
    "raw byte length mismatch": (
        _bad(lambda r: _set_raw(r, b"\0" * 63)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "input 'input': raw_input_contents has 63 bytes",
    ),
    "raw and typed contents": (
        _bad(lambda r: r.raw_input_contents.append(b"\0" * 64)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "input 'input'",
    ),
    "raw entries for inputs": (
        _bad(lambda r: (_set_raw(r, b"\0" * 64), r.raw_input_contents.append(b""))),
        grpc.StatusCode.INVALID_ARGUMENT,
        "raw_input_contents has 2 entries for 1 inputs",
    ),
    "unknown requested output": (
        _bad(lambda r: r.outputs.add(name="logits")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "'logits'",
    ),
    "batch above max_batch_size": (
        _bad(
            lambda r: (
                r.inputs[0].shape.__setitem__(0, 4097),
                r.inputs[0].contents.fp64_contents.extend([0.0] * (4095 * 4)),
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "max_batch_size 4096",
    ),
}


@pytest.mark.parametrize("case", BAD_REQUESTS)
async def test_infer_errors(stub, case):
    request, code, message = BAD_REQUESTS[case]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ModelInfer(request)
    assert err.value.code() == code
    assert message in err.value.details()
    # The server keeps serving.
    assert (await stub.ServerLive(pb.ServerLiveRequest())).live


@pytest.mark.parametrize(
    "call",
    [
        lambda stub: stub.ModelReady(pb.ModelReadyRequest(name="nope")),
        lambda stub: stub.ModelReady(pb.ModelReadyRequest(name="iris", version="2")),
        lambda stub: stub.ModelMetadata(pb.ModelMetadataRequest(name="nope")),
        lambda stub: stub.ModelMetadata(pb.ModelMetadataRequest(name="iris", version="2")),
    ],
)
async def test_unknown_model_or_version_not_found(stub, call):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call(stub)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_model_exception_is_internal_naming_the_model(stub, iris):
    x, _ = iris
    request = pb.ModelInferRequest(model_name="broken")
    request.inputs.add(name="input", datatype="FP64", shape=[1, 4])
    request.inputs[0].contents.fp64_contents.extend(x[0].tolist())
    for _ in range(3):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.ModelInfer(request)
        assert err.value.code() == grpc.StatusCode.INTERNAL
        assert "'broken'" in err.value.details()
        assert "fitted" not in err.value.details()
        assert "LogisticRegression" not in err.value.details()
    # Other models still serve.
    response = await stub.ModelInfer(iris_request(x[:2]))
    assert output(response, "label").shape == (2,)


async def test_model_queue_and_execution_spans(stub, exporter, iris):
    x, _ = iris
    await stub.ModelInfer(iris_request(x[:7]))
    spans = exporter.get_finished_spans()
    (server,) = [s for s in spans if s.kind == SpanKind.SERVER]
    queue, execute = sorted(
        (s for s in spans if s.kind == SpanKind.INTERNAL), key=lambda s: s.start_time
    )
    assert server.name == f"{SERVICE}/ModelInfer"
    assert server.attributes["rpc.method"] == f"{SERVICE}/ModelInfer"
    assert server.attributes["rpc.system.name"] == "grpc"
    assert server.attributes["rpc.response.status_code"] == "OK"
    assert (queue.name, execute.name) == ("model.queue iris", "model.execute iris")
    for internal in (queue, execute):
        assert internal.parent.span_id == server.context.span_id
        assert internal.context.trace_id == server.context.trace_id
        assert internal.attributes["polymesh.model.name"] == "iris"
        assert internal.attributes["polymesh.model.version"] == "1"
        assert internal.status.status_code == StatusCode.UNSET
        assert server.start_time <= internal.start_time <= internal.end_time <= server.end_time
    # The call waited, then ran: one span after the other.
    assert queue.end_time <= execute.start_time
    assert execute.attributes["polymesh.inference.rows"] == 7
    assert execute.attributes["polymesh.batch.size"] == 7
    assert execute.attributes["polymesh.batch.requests"] == 1


async def finished_spans(exporter, name: str) -> list:
    """The finished spans, once one is called name: an aborted call's status
    can reach the client before the server has ended its span."""
    for _ in range(500):
        spans = exporter.get_finished_spans()
        if any(s.name == name for s in spans):
            return list(spans)
        await asyncio.sleep(0.01)
    raise AssertionError(f"no span {name!r}")


async def test_model_execution_span_of_a_failing_model(stub, exporter):
    request = pb.ModelInferRequest(model_name="broken")
    request.inputs.add(name="input", datatype="FP64", shape=[1, 4])
    request.inputs[0].contents.fp64_contents.extend([1.0] * 4)
    with pytest.raises(grpc.aio.AioRpcError):
        await stub.ModelInfer(request)
    spans = await finished_spans(exporter, f"{SERVICE}/ModelInfer")
    (server,) = [s for s in spans if s.kind == SpanKind.SERVER]
    (internal,) = [s for s in spans if s.name == "model.execute broken"]
    assert internal.status.status_code == StatusCode.ERROR
    assert server.status.status_code == StatusCode.ERROR
    assert server.attributes["rpc.grpc.status_code"] == grpc.StatusCode.INTERNAL.value[0]


async def test_invalid_argument_server_span_is_not_an_error(stub, exporter):
    with pytest.raises(grpc.aio.AioRpcError):
        await stub.ModelInfer(pb.ModelInferRequest(model_name="iris"))
    spans = await finished_spans(exporter, f"{SERVICE}/ModelInfer")
    (server,) = [s for s in spans if s.kind == SpanKind.SERVER]
    assert server.attributes["rpc.grpc.status_code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert server.attributes["rpc.response.status_code"] == "INVALID_ARGUMENT"
    assert server.status.status_code == StatusCode.UNSET


@pytest.mark.parametrize(
    ("service", "status"),
    [
        ("", health_pb2.HealthCheckResponse.SERVING),
        (SERVICE, health_pb2.HealthCheckResponse.SERVING),
        ("iris", health_pb2.HealthCheckResponse.SERVING),
        ("digits", health_pb2.HealthCheckResponse.SERVING),
        ("diabetes", health_pb2.HealthCheckResponse.SERVING),
    ],
)
async def test_health(channel, service, status):
    stub = health_pb2_grpc.HealthStub(channel)
    response = await stub.Check(health_pb2.HealthCheckRequest(service=service))
    assert response.status == status


async def test_health_of_unknown_model(channel):
    stub = health_pb2_grpc.HealthStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Check(health_pb2.HealthCheckRequest(service="nope"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_health_is_not_traced(channel, exporter):
    await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert exporter.get_finished_spans() == ()


async def test_reflection_lists_services(channel):
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)

    async def requests():
        yield reflection_pb2.ServerReflectionRequest(list_services="")

    async for response in stub.ServerReflectionInfo(requests()):
        names = {s.name for s in response.list_services_response.service}
        break
    assert {SERVICE, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= names


async def test_model_runs_off_the_event_loop(stub, gate):
    request = pb.ModelInferRequest(model_name="blocking")
    request.inputs.add(name="input", datatype="FP32", shape=[2])
    request.inputs[0].contents.fp32_contents.extend([1.0, 2.0])
    call = asyncio.ensure_future(stub.ModelInfer(request))
    assert await asyncio.to_thread(gate.entered.wait, 10)
    # The model is blocked in a worker; the server still answers.
    assert (await stub.ServerLive(pb.ServerLiveRequest())).live
    gate.release.set()
    response = await call
    assert list(response.outputs[0].contents.fp32_contents) == [1.0, 2.0]


async def test_graceful_stop_finishes_in_flight_calls(server, stub, channel, gate):
    health = health_pb2_grpc.HealthStub(channel)
    watch = health.Watch(health_pb2.HealthCheckRequest(service="iris"))
    assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING

    request = pb.ModelInferRequest(model_name="blocking")
    request.inputs.add(name="input", datatype="FP32", shape=[1])
    request.inputs[0].contents.fp32_contents.append(5.0)
    call = asyncio.ensure_future(stub.ModelInfer(request))
    assert await asyncio.to_thread(gate.entered.wait, 10)

    stopping = asyncio.ensure_future(server.stop(grace_s=30))
    assert (await watch.read()).status == health_pb2.HealthCheckResponse.NOT_SERVING
    watch.cancel()
    assert not stopping.done()

    gate.release.set()
    response = await call
    assert list(response.outputs[0].contents.fp32_contents) == [5.0]
    await asyncio.wait_for(stopping, 30)


async def test_a_model_that_fails_to_load_is_listed_unavailable(model_repository, tmp_path):
    shutil.copytree(model_repository / "iris", tmp_path / "iris")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "model.yaml").write_text(
        "name: bad\nplatform: tensorflow_savedmodel\nmodel_file: m\n"
        "inputs: [{name: x, datatype: FP32, shape: [1]}]\n"
        "outputs: [{name: y, datatype: FP32, shape: [1]}]\n"
    )
    server = InferenceServer(
        Settings(model_repository=tmp_path, listen_addr="127.0.0.1:0", metrics_addr="127.0.0.1:0")
    )
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.host.port}") as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            index = await stub.RepositoryIndex(pb.RepositoryIndexRequest())
            entries = {m.name: m for m in index.models}
            assert entries["iris"].state == "READY"
            assert entries["bad"].state == "UNAVAILABLE"
            assert "unknown platform 'tensorflow_savedmodel'" in entries["bad"].reason
            ready_only = await stub.RepositoryIndex(pb.RepositoryIndexRequest(ready=True))
            assert [m.name for m in ready_only.models] == ["iris"]

            assert not (await stub.ServerReady(pb.ServerReadyRequest())).ready
            assert not (await stub.ModelReady(pb.ModelReadyRequest(name="bad"))).ready
            request = pb.ModelInferRequest(model_name="bad")
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.ModelInfer(request)
            assert err.value.code() == grpc.StatusCode.NOT_FOUND
            assert "model 'bad' has no available versions" in err.value.details()
            assert "unknown platform" in err.value.details()

            health = health_pb2_grpc.HealthStub(channel)
            check = health_pb2.HealthCheckRequest
            not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
            assert (await health.Check(check(service="bad"))).status == not_serving
            assert (await health.Check(check(service=""))).status == not_serving
            assert (await health.Check(check(service="iris"))).status == (
                health_pb2.HealthCheckResponse.SERVING
            )
    finally:
        await server.stop(0)
