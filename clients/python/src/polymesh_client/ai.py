"""A typed asyncio client of the AI API, `polymesh.ai.v1.AIService`.

Usage:

    async with grpc.aio.insecure_channel("127.0.0.1:8080") as channel:
        ai = AIClient(channel)
        answer = await ai.predict_rows("iris", [[5.1, 3.5, 1.4, 0.2]])
        print(output_values(answer, "label"))

Every call has a deadline (`deadline`, in seconds; the client's `timeout`, 5 s unless
given) and carries the API key and the active span's W3C trace context as metadata
(see `polymesh_client.calls`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence

import grpc
from polymesh.ai.v1 import ai_pb2, ai_pb2_grpc

from .auth import API_KEY_HEADER, api_key_metadata
from .calls import DEFAULT_TIMEOUT, CallSettings

__all__ = [
    "API_KEY_HEADER",
    "DEFAULT_TIMEOUT",
    "AIClient",
    "output_values",
    "rows_request",
    "tensor",
    "tensor_values",
]

# Which value field of a Tensor holds each Open Inference Protocol datatype.
_FP = {"FP16", "FP32", "FP64"}
_INT = {"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"}


def tensor(name: str, datatype: str, shape: Sequence[int], values: Iterable) -> ai_pb2.Tensor:
    """A Tensor with `values` (flat, row-major) in the field `datatype` uses."""
    t = ai_pb2.Tensor(name=name, datatype=datatype, shape=list(shape))
    values = list(values)
    if datatype in _FP:
        t.fp_values.extend(float(v) for v in values)
    elif datatype in _INT:
        t.int_values.extend(int(v) for v in values)
    elif datatype == "BOOL":
        t.bool_values.extend(bool(v) for v in values)
    elif datatype == "BYTES":
        t.bytes_values.extend(v if isinstance(v, bytes) else str(v).encode() for v in values)
    else:
        raise ValueError(f"unknown datatype {datatype!r}")
    return t


def tensor_values(t: ai_pb2.Tensor) -> list:
    """The values of a Tensor, from the field its datatype uses."""
    if t.datatype in _FP:
        return list(t.fp_values)
    if t.datatype in _INT:
        return list(t.int_values)
    if t.datatype == "BOOL":
        return list(t.bool_values)
    return list(t.bytes_values)


def output_values(response: ai_pb2.PredictResponse, name: str) -> list:
    """The values of the output tensor `name`; KeyError if there is none."""
    for t in response.outputs:
        if t.name == name:
            return tensor_values(t)
    raise KeyError(f"no output {name!r} in the response of model {response.model!r}")


def rows_request(
    model: str, rows: Iterable[Iterable[float]], request_id: str = ""
) -> ai_pb2.PredictRequest:
    """A PredictRequest with feature rows."""
    return ai_pb2.PredictRequest(
        model=model,
        id=request_id,
        rows=[ai_pb2.FeatureRow(values=[float(v) for v in row]) for row in rows],
    )


class AIClient:
    """Calls `polymesh.ai.v1.AIService` over one channel.

    `api_key` is sent as the `x-api-key` metadata of every call, after `metadata`.
    `timeout` is the deadline of calls that give none (None: no deadline).
    """

    def __init__(
        self,
        channel: grpc.aio.Channel,
        timeout: float | None = DEFAULT_TIMEOUT,
        api_key: str | None = None,
        metadata: Sequence[tuple[str, str]] = (),
    ) -> None:
        self._stub = ai_pb2_grpc.AIServiceStub(channel)
        self._calls = CallSettings(timeout, (*metadata, *api_key_metadata(api_key)))

    async def list_models(self, deadline: float | None = None) -> ai_pb2.ListModelsResponse:
        """Every model of the inference tier."""
        return await self._stub.ListModels(
            ai_pb2.ListModelsRequest(),
            **self._calls.call(deadline),
        )

    async def get_model(
        self, name: str, version: str = "", deadline: float | None = None
    ) -> ai_pb2.Model:
        """One model's versions, inputs and outputs."""
        answer = await self._stub.GetModel(
            ai_pb2.GetModelRequest(name=name, version=version),
            **self._calls.call(deadline),
        )
        return answer.model

    async def predict(
        self, request: ai_pb2.PredictRequest, deadline: float | None = None
    ) -> ai_pb2.PredictResponse:
        """One prediction; raises grpc.aio.AioRpcError on failure."""
        return await self._stub.Predict(request, **self._calls.call(deadline))

    async def predict_rows(
        self, model: str, rows: Iterable[Iterable[float]], deadline: float | None = None
    ) -> ai_pb2.PredictResponse:
        """One prediction over feature rows."""
        return await self.predict(rows_request(model, rows), deadline)

    async def predict_tensors(
        self, model: str, inputs: Iterable[ai_pb2.Tensor], deadline: float | None = None
    ) -> ai_pb2.PredictResponse:
        """One prediction over named tensors."""
        return await self.predict(ai_pb2.PredictRequest(model=model, inputs=list(inputs)), deadline)

    async def predict_stream(
        self, requests: Iterable[ai_pb2.PredictRequest], deadline: float | None = None
    ) -> AsyncIterator[ai_pb2.PredictStreamResponse]:
        """Streams `requests` and yields one result per request, in order."""
        call = self._stub.PredictStream(
            (ai_pb2.PredictStreamRequest(request=r) for r in requests),
            **self._calls.call(deadline),
        )
        async for result in call:
            yield result
