"""A typed asyncio client of the Open Inference Protocol, `inference.GRPCInferenceService`.

Usage:

    async with grpc.aio.insecure_channel("127.0.0.1:8080") as channel:
        inference = InferenceClient(channel)
        outputs = await inference.infer("iris", {"input": np.array([[5.1, 3.5, 1.4, 0.2]])})
        print(outputs["label"])          # a numpy array, shaped as the server says

Inputs are numpy arrays, sent in typed `contents` or, with `raw=True`, in
`raw_input_contents` (little-endian, row-major; BYTES elements each after a 4-byte
little-endian length), which makes the server answer raw too. Outputs are decoded
from either form. The datatype of each input comes from its numpy dtype (FP16 can
only travel raw; object arrays of bytes or str are BYTES).

Every call has a deadline (`deadline`, in seconds; the client's `timeout`, 5 s unless
given) and carries the client's metadata and the active span's W3C trace context (see
`polymesh_client.calls`). Failures raise `grpc.aio.AioRpcError` with the server's
status code (NOT_FOUND for an unknown model, INVALID_ARGUMENT for a bad input...).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence

import grpc
import numpy as np
from inference import grpc_service_pb2 as pb
from inference import grpc_service_pb2_grpc as pb_grpc
from polymesh_common.datatypes import DATATYPES, Datatype, from_numpy

from .auth import api_key_metadata
from .calls import DEFAULT_TIMEOUT, CallSettings

__all__ = [
    "DATATYPES",
    "DEFAULT_TIMEOUT",
    "Datatype",
    "InferenceClient",
    "decode_outputs",
    "infer_request",
]


def _as_bytes(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    raise ValueError(f"a BYTES element must be bytes or str, not {type(value).__name__}")


def _raw_bytes(array: np.ndarray, datatype: Datatype) -> bytes:
    if datatype.name == "BYTES":
        out = bytearray()
        for value in array.flat:
            data = _as_bytes(value)
            out += struct.pack("<I", len(data)) + data
        return bytes(out)
    return np.ascontiguousarray(array, dtype=datatype.dtype.newbyteorder("<")).tobytes()


def infer_request(
    model: str,
    inputs: Mapping[str, np.ndarray | Sequence],
    *,
    version: str = "",
    outputs: Iterable[str] = (),
    raw: bool = False,
    request_id: str = "",
) -> pb.ModelInferRequest:
    """A ModelInferRequest with one input tensor per array of `inputs`.

    `outputs` names the outputs to return (all when empty); `raw` sends the inputs in
    raw_input_contents instead of typed contents. Raises ValueError for an array whose
    dtype has no datatype, or an FP16 array without `raw`.
    """
    request = pb.ModelInferRequest(model_name=model, model_version=version, id=request_id)
    for name, value in inputs.items():
        array = np.asarray(value)
        datatype = from_numpy(array.dtype)
        tensor = request.inputs.add(name=name, datatype=datatype.name, shape=array.shape)
        if raw:
            request.raw_input_contents.append(_raw_bytes(array, datatype))
        elif datatype.contents_field is None:
            raise ValueError(f"input {name!r}: {datatype.name} travels only raw (raw=True)")
        elif datatype.name == "BYTES":
            tensor.contents.bytes_contents.extend(_as_bytes(v) for v in array.flat)
        else:
            getattr(tensor.contents, datatype.contents_field).extend(array.flatten().tolist())
    for name in outputs:
        request.outputs.add(name=name)
    return request


def _decode_raw(data: bytes, datatype: Datatype, count: int) -> np.ndarray:
    if datatype.name != "BYTES":
        return np.frombuffer(data, dtype=datatype.dtype.newbyteorder("<")).astype(datatype.dtype)
    values = np.empty(count, dtype=object)
    offset = 0
    for i in range(count):
        (size,) = struct.unpack_from("<I", data, offset)
        values[i] = data[offset + 4 : offset + 4 + size]
        offset += 4 + size
    return values


def decode_outputs(response: pb.ModelInferResponse) -> dict[str, np.ndarray]:
    """The output tensors of a response, by name, as numpy arrays of their shapes."""
    raw = response.raw_output_contents
    if raw and len(raw) != len(response.outputs):
        raise ValueError(
            f"the response has {len(raw)} raw_output_contents for {len(response.outputs)} outputs"
        )
    decoded = {}
    for i, tensor in enumerate(response.outputs):
        datatype = DATATYPES.get(tensor.datatype)
        if datatype is None:
            raise ValueError(f"output {tensor.name!r} has unknown datatype {tensor.datatype!r}")
        shape = tuple(tensor.shape)
        count = int(np.prod(shape, dtype=np.int64))
        if raw:
            values = _decode_raw(raw[i], datatype, count)
        elif datatype.contents_field is None:
            raise ValueError(f"output {tensor.name!r}: {datatype.name} without raw contents")
        elif datatype.name == "BYTES":
            values = np.array(list(tensor.contents.bytes_contents) or [], dtype=object)
        else:
            values = np.array(
                getattr(tensor.contents, datatype.contents_field), dtype=datatype.dtype
            )
        decoded[tensor.name] = values.reshape(shape)
    return decoded


class InferenceClient:
    """Calls `inference.GRPCInferenceService` over one channel.

    `metadata` goes with every call, then `api_key` as `x-api-key` (through the gateway,
    the inference tier admits operators); `timeout` is the deadline of calls that give
    none (None: no deadline).
    """

    def __init__(
        self,
        channel: grpc.aio.Channel,
        timeout: float | None = DEFAULT_TIMEOUT,
        metadata: Sequence[tuple[str, str]] = (),
        api_key: str | None = None,
    ) -> None:
        self._stub = pb_grpc.GRPCInferenceServiceStub(channel)
        self._calls = CallSettings(timeout, (*metadata, *api_key_metadata(api_key)))

    async def live(self, deadline: float | None = None) -> bool:
        """Whether the server is live."""
        answer = await self._stub.ServerLive(pb.ServerLiveRequest(), **self._calls.call(deadline))
        return answer.live

    async def ready(self, deadline: float | None = None) -> bool:
        """Whether the server is ready for inference."""
        answer = await self._stub.ServerReady(pb.ServerReadyRequest(), **self._calls.call(deadline))
        return answer.ready

    async def model_ready(
        self, name: str, version: str = "", deadline: float | None = None
    ) -> bool:
        """Whether a model (`version` "": its default) is ready."""
        answer = await self._stub.ModelReady(
            pb.ModelReadyRequest(name=name, version=version), **self._calls.call(deadline)
        )
        return answer.ready

    async def metadata(self, deadline: float | None = None) -> pb.ServerMetadataResponse:
        """The server's name, version and extensions."""
        return await self._stub.ServerMetadata(
            pb.ServerMetadataRequest(), **self._calls.call(deadline)
        )

    async def model_metadata(
        self, name: str, version: str = "", deadline: float | None = None
    ) -> pb.ModelMetadataResponse:
        """A model's versions, platform, inputs and outputs."""
        return await self._stub.ModelMetadata(
            pb.ModelMetadataRequest(name=name, version=version), **self._calls.call(deadline)
        )

    async def model_infer(
        self, request: pb.ModelInferRequest, deadline: float | None = None
    ) -> pb.ModelInferResponse:
        """One inference request, as the protocol's messages."""
        return await self._stub.ModelInfer(request, **self._calls.call(deadline))

    async def infer(
        self,
        model: str,
        inputs: Mapping[str, np.ndarray | Sequence],
        *,
        version: str = "",
        outputs: Iterable[str] = (),
        raw: bool = False,
        deadline: float | None = None,
    ) -> dict[str, np.ndarray]:
        """Runs `model` on numpy `inputs` (see infer_request); its outputs by name."""
        request = infer_request(model, inputs, version=version, outputs=outputs, raw=raw)
        return decode_outputs(await self.model_infer(request, deadline))
