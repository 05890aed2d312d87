"""Prometheus metrics, scraped over HTTP from a real server after real calls."""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request

import grpc
import grpc.aio
import numpy as np
import pytest
from inference import grpc_service_pb2 as pb
from inference import grpc_service_pb2_grpc as pb_grpc
from polymesh_inference.app import InferenceServer
from polymesh_inference.converters import decode_request
from polymesh_inference.metrics import split_address
from polymesh_inference.settings import Settings
from prometheus_client.parser import text_string_to_metric_families
from sklearn import datasets


@pytest.fixture
async def server(own_repository, start_server):
    return await start_server(own_repository)


@pytest.fixture
async def stub(server):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.host.port}") as channel:
        yield pb_grpc.GRPCInferenceServiceStub(channel)


def scrape_text(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.status == 200
        return response.read().decode()


async def scrape(server) -> dict[tuple[str, tuple], float]:
    """Every sample as {(name, sorted labels): value}."""
    text = await asyncio.to_thread(scrape_text, server.metrics_server.port)
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def iris_request(rows: int) -> pb.ModelInferRequest:
    x, _ = datasets.load_iris(return_X_y=True)
    request = pb.ModelInferRequest(model_name="iris")
    request.inputs.add(name="input", datatype="FP64", shape=[rows, 4])
    request.inputs[0].contents.fp64_contents.extend(x[:rows].ravel().tolist())
    return request


async def test_metrics_after_real_calls(server, stub):
    for rows in (2, 5, 150):
        await stub.ModelInfer(iris_request(rows))
    digits = pb.ModelInferRequest(model_name="digits")
    digits.inputs.add(name="input", datatype="FP32", shape=[10, 64])
    digits.raw_input_contents.append(np.zeros((10, 64), dtype="<f4").tobytes())
    await stub.ModelInfer(digits)

    bad_shape = iris_request(2)
    bad_shape.inputs[0].shape[:] = [4, 2]
    broken = pb.ModelInferRequest(model_name="broken")
    broken.inputs.add(name="input", datatype="FP64", shape=[1, 4])
    broken.inputs[0].contents.fp64_contents.extend([1.0] * 4)
    for request, code in (
        (bad_shape, grpc.StatusCode.INVALID_ARGUMENT),
        (broken, grpc.StatusCode.INTERNAL),
        (pb.ModelInferRequest(model_name="nope"), grpc.StatusCode.NOT_FOUND),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.ModelInfer(request)
        assert err.value.code() == code

    samples = await scrape(server)
    requests = "polymesh_inference_requests_total"
    assert sample(samples, requests, model="iris", code="OK") == 3
    assert sample(samples, requests, model="digits", code="OK") == 1
    assert sample(samples, requests, model="iris", code="INVALID_ARGUMENT") == 1
    assert sample(samples, requests, model="broken", code="INTERNAL") == 1
    assert sample(samples, requests, model="_unknown", code="NOT_FOUND") == 1

    errors = "polymesh_inference_errors_total"
    assert sample(samples, errors, model="iris", kind="invalid_input") == 1
    assert sample(samples, errors, model="broken", kind="model_failed") == 1
    assert sample(samples, errors, model="_unknown", kind="model_not_found") == 1
    assert sample(samples, errors, model="iris", kind="model_failed") == 0

    batch = "polymesh_inference_batch_size"
    assert sample(samples, f"{batch}_count", model="iris") == 3
    assert sample(samples, f"{batch}_sum", model="iris") == 157
    assert sample(samples, f"{batch}_bucket", model="iris", le="2.0") == 1
    assert sample(samples, f"{batch}_bucket", model="iris", le="8.0") == 2
    assert sample(samples, f"{batch}_bucket", model="iris", le="256.0") == 3
    assert sample(samples, f"{batch}_sum", model="digits") == 10

    # Executions are timed, a failing one too; a rejected request never ran.
    for name in ("polymesh_inference_execution_seconds", "polymesh_inference_queue_seconds"):
        assert sample(samples, f"{name}_count", model="iris") == 3
        assert sample(samples, f"{name}_count", model="broken") == 1
        assert sample(samples, f"{name}_count", model="_unknown") == 0
    assert sample(samples, "polymesh_inference_execution_seconds_sum", model="iris") > 0

    assert sample(samples, "polymesh_inference_model_ready", model="iris") == 1
    await stub.RepositoryModelUnload(pb.RepositoryModelUnloadRequest(model_name="iris"))
    samples = await scrape(server)
    assert sample(samples, "polymesh_inference_model_ready", model="iris") == 0
    assert sample(samples, "polymesh_inference_model_ready", model="digits") == 1


async def test_queue_time_runs_from_arrival_to_execution(server):
    # A call that arrived 5 s before the data plane got it queued 5 s or more;
    # its execution is timed apart.
    request = decode_request(iris_request(3))
    await server.dataplane.infer(request, arrival=time.perf_counter() - 5)
    samples = await scrape(server)
    queue = "polymesh_inference_queue_seconds"
    assert sample(samples, f"{queue}_sum", model="iris") >= 5
    assert sample(samples, f"{queue}_bucket", model="iris", le="2.5") == 0
    assert sample(samples, f"{queue}_bucket", model="iris", le="+Inf") == 1
    execution = sample(samples, "polymesh_inference_execution_seconds_sum", model="iris")
    assert 0 < execution < sample(samples, f"{queue}_sum", model="iris")


async def test_two_servers_keep_their_own_counts(own_repository, start_server):
    first = await start_server(own_repository)
    second = await start_server(own_repository)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{first.host.port}") as channel:
        await pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(iris_request(1))
    requests = "polymesh_inference_requests_total"
    assert sample(await scrape(first), requests, model="iris", code="OK") == 1
    assert sample(await scrape(second), requests, model="iris", code="OK") == 0


async def test_metrics_stop_with_the_server(own_repository, start_server):
    server = await start_server(own_repository)
    port = server.metrics_server.port
    assert "polymesh_inference_model_ready" in await asyncio.to_thread(scrape_text, port)
    await server.stop(0)
    with pytest.raises(urllib.error.URLError):
        await asyncio.to_thread(scrape_text, port)


@pytest.mark.parametrize(
    ("address", "want"),
    [("127.0.0.1:9102", ("127.0.0.1", 9102)), ("[::1]:0", ("::1", 0)), ("host:1", ("host", 1))],
)
def test_split_address(address, want):
    assert split_address(address) == want


@pytest.mark.parametrize("address", ["9102", ":9102", "host:", "host:port", "host:70000"])
def test_split_address_rejects(address):
    with pytest.raises(ValueError, match="expected host:port"):
        split_address(address)


async def test_metrics_off(own_repository):
    settings = Settings(
        model_repository=own_repository, listen_addr="127.0.0.1:0", metrics_addr="off"
    )
    server = InferenceServer(settings)
    await server.start()
    try:
        assert server.metrics_server is None
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.host.port}") as channel:
            response = await pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(iris_request(1))
        assert response.outputs
    finally:
        await server.stop(0)
