"""Worker processes and dynamic batching, against real servers: the same answers
with and without them, concurrent calls merged, workers that die replaced, and
queued calls run before the server stops.

The blocking model (testing_runtimes.py) holds its calls at the test's gate,
so that what is running, and what waits, is decided by the test, never by
timing; queue delays are long so that nothing leaves a queue on a timer.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import grpc.aio
import joblib
import numpy as np
import onnxruntime as ort
import pytest
import yaml
from inference import grpc_service_pb2 as pb
from inference import grpc_service_pb2_grpc as pb_grpc
from opentelemetry.trace import SpanKind
from sklearn import datasets

LONG = 120.0
"""A queue delay no test waits for."""


async def until(condition: Callable[[], bool], what: str, within_s: float = 30) -> None:
    """Waits for a condition of the server's state (polled; never a timing assertion)."""
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting for {what}")
        await asyncio.sleep(0.01)


def process_exists(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def blocking_request(values: list[float]) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="blocking")
    request.inputs.add(name="input", datatype="FP32", shape=[len(values)])
    request.inputs[0].contents.fp32_contents.extend(values)
    return request


def echoed(response: pb.ModelInferResponse) -> list[float]:
    return list(response.outputs[0].contents.fp32_contents)


def raw_request(model: str, x: np.ndarray, datatype: str, **kwargs) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name=model, **kwargs)
    request.inputs.add(name="input", datatype=datatype, shape=list(x.shape))
    request.raw_input_contents.append(x.astype(x.dtype.newbyteorder("<")).tobytes())
    return request


def raw_output(response: pb.ModelInferResponse, name: str) -> np.ndarray:
    dtypes = {"INT64": "<i8", "FP32": "<f4", "FP64": "<f8"}
    for i, tensor in enumerate(response.outputs):
        if tensor.name == name:
            raw = np.frombuffer(response.raw_output_contents[i], dtypes[tensor.datatype])
            return raw.reshape(tuple(tensor.shape))
    raise KeyError(name)


def metric(server, name: str, **labels) -> float:
    return server.metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def connect():
    """Opens channels to servers; closes them after the test."""
    channels = []

    async def stub_for(server) -> pb_grpc.GRPCInferenceServiceStub:
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.host.port}")
        channels.append(channel)
        return pb_grpc.GRPCInferenceServiceStub(channel)

    yield stub_for
    for channel in channels:
        await channel.close()


def without_batching(repository) -> None:
    for name in ("iris", "digits"):
        path = repository / name / "model.yaml"
        config = yaml.safe_load(path.read_text())
        config["dynamic_batching"] = {"max_batch_size": 1}
        path.write_text(yaml.safe_dump(config))


@pytest.mark.parametrize("batching", [True, False], ids=["batching", "no-batching"])
async def test_answers_are_the_models_own(own_repository, start_server, connect, batching):
    """Many concurrent calls of different sizes, typed and raw: each gets exactly
    what the model computes for its own rows alone, whether calls were merged
    or not, in worker processes or on a thread."""
    if not batching:
        without_batching(own_repository)
    server = await start_server(own_repository)
    stub = await connect(server)
    iris = joblib.load(own_repository / "iris" / "model.joblib")
    digits = ort.InferenceSession(
        str(own_repository / "digits" / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    iris_x, _ = datasets.load_iris(return_X_y=True)
    digits_x = datasets.load_digits(return_X_y=True)[0].astype(np.float32)
    rng = np.random.default_rng(7)

    calls = []
    for i in range(48):
        if i % 3 == 2:
            start = int(rng.integers(0, len(digits_x) - 20))
            x = digits_x[start : start + int(rng.integers(1, 20))]
            calls.append(("digits", x, raw_request("digits", x, "FP32", id=str(i))))
        else:
            start = int(rng.integers(0, len(iris_x) - 10))
            x = iris_x[start : start + int(rng.integers(1, 10))]
            datatype = "FP64" if i % 2 else "FP32"
            x = x.astype(np.float64 if datatype == "FP64" else np.float32)
            calls.append(("iris", x, raw_request("iris", x, datatype, id=str(i))))
    responses = await asyncio.gather(*(stub.ModelInfer(request) for _, _, request in calls))

    for (model, x, request), response in zip(calls, responses, strict=True):
        assert response.id == request.id
        if model == "iris":
            rows = x.astype(np.float64)
            np.testing.assert_array_equal(raw_output(response, "label"), iris.predict(rows))
            np.testing.assert_allclose(
                raw_output(response, "probabilities"), iris.predict_proba(rows), rtol=1e-12
            )
        else:
            labels, probabilities = digits.run(["label", "probabilities"], {"input": x})
            np.testing.assert_array_equal(raw_output(response, "label"), labels)
            np.testing.assert_allclose(
                raw_output(response, "probabilities"), probabilities, rtol=1e-5, atol=1e-7
            )
    executions = metric(server, "polymesh_inference_batch_size_count", model="iris")
    rows = metric(server, "polymesh_inference_batch_size_sum", model="iris")
    assert rows == sum(len(x) for model, x, _ in calls if model == "iris")
    if not batching:
        assert executions == sum(1 for model, _, _ in calls if model == "iris")


async def test_concurrent_calls_merge_into_one_execution(
    own_repository, start_server, connect, gate, exporter
):
    """While the model runs, calls queue (the delay is long); a batch that
    fills up runs as one execution, and each call gets its own rows back."""
    server = await start_server(own_repository, max_batch_size=4, max_queue_delay_s=LONG)
    stub = await connect(server)
    first = asyncio.ensure_future(stub.ModelInfer(blocking_request([9.0])))
    assert await asyncio.to_thread(gate.entered.wait, 30)

    # Four rows in three calls: the batch is full with the last one.
    merged = [[1.0], [2.0, 3.0], [4.0]]
    calls = [asyncio.ensure_future(stub.ModelInfer(blocking_request(v))) for v in merged]
    if server.settings.workers:
        # The full batch went to the other worker, where it waits at the gate.
        await until(lambda: len(gate.pids) == 2, "the batch at the gate")
        assert gate.pids[0] != gate.pids[1]
    else:
        # One thread, busy: the batch waits for it.
        await until(lambda: server.dataplane.batcher.queued("blocking") == 3, "three queued")
    assert not any(call.done() for call in calls)
    gate.release.set()

    assert echoed(await first) == [9.0]
    assert [echoed(await call) for call in calls] == merged
    assert metric(server, "polymesh_inference_batch_size_count", model="blocking") == 2
    assert metric(server, "polymesh_inference_batch_size_sum", model="blocking") == 5
    assert metric(server, "polymesh_inference_batch_size_bucket", model="blocking", le="1.0") == 1
    assert metric(server, "polymesh_inference_queue_seconds_count", model="blocking") == 4

    execute = [s for s in exporter.get_finished_spans() if s.name == "model.execute blocking"]
    sizes = sorted(
        (s.attributes["polymesh.batch.size"], s.attributes["polymesh.batch.requests"])
        for s in execute
    )
    assert sizes == [(1, 1), (4, 3), (4, 3), (4, 3)]
    rows = sorted(s.attributes["polymesh.inference.rows"] for s in execute)
    assert rows == [1, 1, 1, 2]
    queue = [s for s in exporter.get_finished_spans() if s.name == "model.queue blocking"]
    assert len(queue) == 4
    assert all(s.kind == SpanKind.INTERNAL for s in queue + execute)


async def test_queued_calls_run_when_the_model_is_idle(own_repository, start_server, connect, gate):
    """A batch that is not full does not wait out the delay: it runs as soon as
    the model's execution under way ends."""
    server = await start_server(own_repository, max_batch_size=64, max_queue_delay_s=LONG)
    stub = await connect(server)
    first = asyncio.ensure_future(stub.ModelInfer(blocking_request([0.5])))
    assert await asyncio.to_thread(gate.entered.wait, 30)
    calls = [asyncio.ensure_future(stub.ModelInfer(blocking_request([v]))) for v in (1.0, 2.0)]
    await until(lambda: server.dataplane.batcher.queued("blocking") == 2, "two queued")
    gate.release.set()
    assert echoed(await first) == [0.5]
    assert [echoed(await call) for call in calls] == [[1.0], [2.0]]
    assert metric(server, "polymesh_inference_batch_size_count", model="blocking") == 2
    assert metric(server, "polymesh_inference_batch_size_sum", model="blocking") == 3


async def test_calls_of_different_signatures_do_not_merge(own_repository, start_server, connect):
    server = await start_server(own_repository, max_batch_size=64, max_queue_delay_s=LONG)
    stub = await connect(server)
    x, _ = datasets.load_iris(return_X_y=True)
    requests = []
    for i in range(6):
        request = raw_request("iris", x[i : i + 1], "FP64")
        if i % 2:
            request.outputs.add(name="probabilities")
        requests.append(request)
    responses = await asyncio.gather(*(stub.ModelInfer(r) for r in requests))
    for i, response in enumerate(responses):
        names = [t.name for t in response.outputs]
        assert names == (["probabilities"] if i % 2 else ["label", "probabilities"])


@pytest.mark.parametrize("workers", [2])
async def test_a_killed_worker_is_replaced(own_repository, start_server, connect, gate):
    server = await start_server(own_repository)
    stub = await connect(server)
    before = server.runner.pids()
    assert len(before) == 2

    call = asyncio.ensure_future(stub.ModelInfer(blocking_request([1.0])))
    assert await asyncio.to_thread(gate.entered.wait, 30)
    (running,) = gate.pids
    assert running in before
    os.kill(running, signal.SIGKILL)

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    assert err.value.code() == grpc.StatusCode.INTERNAL
    assert "model 'blocking'" in err.value.details()
    assert "worker process exited" in err.value.details()
    await until(lambda: len(server.runner.pids()) == 2, "a new worker")
    after = server.runner.pids()
    assert running not in after
    assert set(before) - {running} <= set(after)
    errors = "polymesh_inference_errors_total"
    assert metric(server, errors, model="blocking", kind="worker_lost") == 1

    # Every model serves on, in both workers.
    gate.release.set()
    x, _ = datasets.load_iris(return_X_y=True)
    for _ in range(2):
        responses = await asyncio.gather(
            stub.ModelInfer(raw_request("iris", x[:3], "FP64")),
            stub.ModelInfer(blocking_request([2.0])),
        )
        assert raw_output(responses[0], "label").shape == (3,)
        assert echoed(responses[1]) == [2.0]


@pytest.mark.parametrize("workers", [2])
async def test_an_idle_worker_that_dies_is_replaced(own_repository, start_server, connect):
    server = await start_server(own_repository)
    stub = await connect(server)
    victim = server.runner.pids()[0]
    os.kill(victim, signal.SIGKILL)
    await until(
        lambda: victim not in server.runner.pids() and len(server.runner.pids()) == 2,
        "a new worker",
    )
    x, _ = datasets.load_iris(return_X_y=True)
    responses = await asyncio.gather(
        *(stub.ModelInfer(raw_request("iris", x[i : i + 1], "FP64")) for i in range(8))
    )
    assert [int(raw_output(r, "label")[0]) for r in responses] == [0] * 8


@pytest.mark.parametrize("workers", [2])
async def test_a_model_that_raises_leaves_its_worker_serving(own_repository, start_server, connect):
    server = await start_server(own_repository)
    stub = await connect(server)
    before = server.runner.pids()
    request = raw_request("broken", np.ones((2, 4)), "FP64")
    for _ in range(4):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.ModelInfer(request)
        assert err.value.code() == grpc.StatusCode.INTERNAL
        assert err.value.details() == "model 'broken' failed while running inference"
    assert server.runner.pids() == before
    response = await stub.ModelInfer(raw_request("iris", np.ones((1, 4)), "FP64"))
    assert raw_output(response, "label").shape == (1,)


@pytest.mark.parametrize("workers", [2])
async def test_stop_runs_queued_calls_then_stops_the_workers(
    own_repository, start_server, connect, gate
):
    """Calls waiting in a queue (the delay is long and the model busy) run at
    once when the server stops, all calls finish, then the workers exit."""
    server = await start_server(own_repository, max_batch_size=64, max_queue_delay_s=LONG)
    stub = await connect(server)
    workers = server.runner.pids()
    first = asyncio.ensure_future(stub.ModelInfer(blocking_request([0.5])))
    assert await asyncio.to_thread(gate.entered.wait, 30)
    calls = [asyncio.ensure_future(stub.ModelInfer(blocking_request([v]))) for v in (1.0, 2.0)]
    await until(lambda: server.dataplane.batcher.queued("blocking") == 2, "two queued")

    stopping = asyncio.ensure_future(server.stop(grace_s=60))
    # The queued batch left its queue for the idle worker, before any delay.
    await until(lambda: len(gate.pids) == 2, "the queued batch running")
    assert server.dataplane.batcher.queued("blocking") == 0
    assert not stopping.done()
    gate.release.set()

    assert echoed(await first) == [0.5]
    assert [echoed(await call) for call in calls] == [[1.0], [2.0]]
    await asyncio.wait_for(stopping, 60)
    assert server.runner.pids() == []
    for pid in workers:
        assert not process_exists(pid), f"worker {pid} still exists"


@pytest.mark.parametrize("workers", [2])
async def test_workers_follow_reload_and_unload(own_repository, start_server, connect):
    """Every worker serves the reloaded artefact; an unloaded model is gone."""
    from sklearn.dummy import DummyClassifier

    server = await start_server(own_repository)
    stub = await connect(server)
    x, y = datasets.load_iris(return_X_y=True)
    joblib.dump(
        DummyClassifier(strategy="constant", constant=2).fit(x, y),
        own_repository / "iris" / "model.joblib",
    )
    await stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="iris"))
    responses = await asyncio.gather(
        *(stub.ModelInfer(raw_request("iris", x[i : i + 1], "FP64")) for i in range(16))
    )
    assert {int(raw_output(r, "label")[0]) for r in responses} == {2}

    await stub.RepositoryModelUnload(pb.RepositoryModelUnloadRequest(model_name="iris"))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ModelInfer(raw_request("iris", x[:1], "FP64"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
