"""InferenceClient against the inference service on the project's trained models."""

from __future__ import annotations

import grpc
import grpc.aio
import numpy as np
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind
from polymesh_client.calls import DEFAULT_TIMEOUT
from polymesh_client.inference import InferenceClient

pytestmark = pytest.mark.asyncio(loop_scope="session")

# A setosa (label 0) and a virginica (label 2).
IRIS = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]])


async def test_server_and_model_state(inference_server) -> None:
    async with grpc.aio.insecure_channel(inference_server.address) as channel:
        inference = InferenceClient(channel)
        assert await inference.live()
        assert await inference.ready()
        assert await inference.model_ready("iris")
        assert (await inference.metadata()).name
        metadata = await inference.model_metadata("iris")
        assert metadata.name == "iris"
        assert [t.name for t in metadata.inputs] == ["input"]


@pytest.mark.parametrize("raw", [False, True], ids=["typed", "raw"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
async def test_infer_from_numpy(inference_server, raw, dtype) -> None:
    async with grpc.aio.insecure_channel(inference_server.address) as channel:
        outputs = await InferenceClient(channel).infer(
            "iris", {"input": IRIS.astype(dtype)}, raw=raw
        )
    np.testing.assert_array_equal(outputs["label"], [0, 2])
    assert outputs["label"].dtype == np.int64
    probabilities = outputs["probabilities"]
    assert probabilities.shape == (2, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), [1, 1], atol=1e-6)
    assert probabilities.argmax(axis=1).tolist() == [0, 2]


async def test_infer_asks_for_outputs_by_name(inference_server) -> None:
    async with grpc.aio.insecure_channel(inference_server.address) as channel:
        outputs = await InferenceClient(channel).infer("iris", {"input": IRIS}, outputs=["label"])
    assert list(outputs) == ["label"]


async def test_errors_keep_their_status_codes(inference_server) -> None:
    async with grpc.aio.insecure_channel(inference_server.address) as channel:
        inference = InferenceClient(channel)
        cases = [
            (inference.infer("no-such-model", {"input": IRIS}), grpc.StatusCode.NOT_FOUND),
            (inference.infer("iris", {"input": IRIS[:, :2]}), grpc.StatusCode.INVALID_ARGUMENT),
            (inference.infer("iris", {"wrong": IRIS}), grpc.StatusCode.INVALID_ARGUMENT),
            (inference.model_metadata("no-such-model"), grpc.StatusCode.NOT_FOUND),
        ]
        for call, code in cases:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await call
            assert info.value.code() == code, info.value.details()


async def test_deadline_and_trace_context(inference_server, calls_seen) -> None:
    tracer = TracerProvider().get_tracer("polymesh-client-test")
    async with grpc.aio.insecure_channel(
        inference_server.address, interceptors=calls_seen.interceptors
    ) as channel:
        inference = InferenceClient(
            channel, metadata=(("x-request-source", "test"),), api_key="operator"
        )
        with tracer.start_as_current_span("test root") as root:
            await inference.infer("iris", {"input": IRIS})
            await inference.live(deadline=9)
        await InferenceClient(channel, timeout=2.5).live()
    assert [t for _, t, _ in calls_seen.calls] == [DEFAULT_TIMEOUT, 9, 2.5]
    _, _, metadata = calls_seen.calls[0]
    assert metadata["x-request-source"] == "test"
    assert metadata["x-api-key"] == "operator"
    context = root.get_span_context()
    assert metadata["traceparent"].startswith(f"00-{context.trace_id:032x}-{context.span_id:016x}-")
    (server,) = [
        s
        for s in inference_server.exporter.get_finished_spans()
        if s.kind == SpanKind.SERVER
        and s.context.trace_id == context.trace_id
        and s.name.endswith("/ModelInfer")
    ]
    assert server.parent is not None and server.parent.span_id == context.span_id
