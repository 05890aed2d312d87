"""AIClient against the Go AI API in front of the inference service."""

from __future__ import annotations

import grpc
import grpc.aio
import pytest
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.sdk.trace import TracerProvider
from polymesh_client.ai import AIClient, output_values
from polymesh_client.calls import DEFAULT_TIMEOUT

from .conftest import API_KEY

pytestmark = pytest.mark.asyncio(loop_scope="session")

IRIS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


@pytest.mark.parametrize(
    ("api_key", "code"),
    [
        (None, grpc.StatusCode.UNAUTHENTICATED),
        ("not-a-key", grpc.StatusCode.UNAUTHENTICATED),
        (API_KEY, grpc.StatusCode.OK),
    ],
)
async def test_the_api_key_admits_calls(aiapi, api_key, code) -> None:
    async with grpc.aio.insecure_channel(aiapi.address) as channel:
        ai = AIClient(channel, api_key=api_key)
        try:
            models = await ai.list_models()
        except grpc.aio.AioRpcError as error:
            assert error.code() == code
        else:
            assert code == grpc.StatusCode.OK
            assert "iris" in [m.name for m in models.models]


async def test_predict_and_errors(aiapi) -> None:
    async with grpc.aio.insecure_channel(aiapi.address) as channel:
        ai = AIClient(channel, api_key=API_KEY)
        answer = await ai.predict_rows("iris", IRIS)
        assert output_values(answer, "label") == [0, 2]
        assert (await ai.get_model("iris")).name == "iris"
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await ai.get_model("no-such-model")
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await ai.predict_rows("iris", [[1.0, 2.0]])
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_deadline_metadata_and_trace_context(aiapi, calls_seen) -> None:
    tracer = TracerProvider().get_tracer("polymesh-client-test")
    async with grpc.aio.insecure_channel(
        aiapi.address, interceptors=calls_seen.interceptors
    ) as channel:
        ai = AIClient(channel, api_key=API_KEY)
        with tracer.start_as_current_span("test root") as root:
            await ai.predict_rows("iris", IRIS)
        await ai.list_models(deadline=8)
    (_, timeout, metadata), (_, list_timeout, list_metadata) = calls_seen.calls
    assert (timeout, list_timeout) == (DEFAULT_TIMEOUT, 8)
    assert metadata["x-api-key"] == list_metadata["x-api-key"] == API_KEY
    assert "traceparent" not in list_metadata
    context = root.get_span_context()
    assert metadata["traceparent"] == f"00-{context.trace_id:032x}-{context.span_id:016x}-01"
    trace_id = root.get_span_context().trace_id.to_bytes(16, "big")
    span_id = root.get_span_context().span_id.to_bytes(8, "big")
    server = await aiapi.spans.wait_for(
        lambda s: s.trace_id == trace_id and s.kind == trace_pb2.Span.SPAN_KIND_SERVER
    )
    assert server.parent_span_id == span_id
    assert server.name.endswith("AIService/Predict")
