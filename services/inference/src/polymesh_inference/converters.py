"""Explicit converters between Open Inference Protocol messages and numpy.

Inputs arrive either as typed `contents` or as `raw_input_contents`
(little-endian bytes; BYTES elements each prefixed with a 4-byte little-endian
length). Outputs leave as typed contents, unless a datatype has no typed field
(FP16), in which case every output leaves as raw_output_contents.
"""

from __future__ import annotations

import math
import struct

import numpy as np
from inference import grpc_service_pb2 as pb

from .datatypes import CONTENTS_FIELDS, DATATYPES, Datatype
from .errors import InvalidInput
from .types import InferenceRequest, InferenceResponse, Tensor


def decode_request(request: pb.ModelInferRequest) -> InferenceRequest:
    """Decodes a ModelInferRequest; raises InvalidInput naming the bad input."""
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise InvalidInput(
            f"raw_input_contents has {len(raw)} entries for {len(request.inputs)} inputs"
        )
    inputs = []
    seen = set()
    for i, tensor in enumerate(request.inputs):
        if tensor.name in seen:
            raise InvalidInput(f"input {tensor.name!r} appears twice")
        seen.add(tensor.name)
        inputs.append(decode_input(tensor, raw[i] if raw else None))
    return InferenceRequest(
        model_name=request.model_name,
        model_version=request.model_version,
        id=request.id,
        inputs=inputs,
        requested_outputs=[o.name for o in request.outputs],
    )


def decode_input(tensor: pb.ModelInferRequest.InferInputTensor, raw: bytes | None = None) -> Tensor:
    """Decodes one input tensor from its typed contents or from raw bytes."""
    name = tensor.name
    datatype = DATATYPES.get(tensor.datatype)
    if datatype is None:
        raise InvalidInput(f"input {name!r}: unknown datatype {tensor.datatype!r}")
    shape = tuple(tensor.shape)
    if any(d < 0 for d in shape):
        raise InvalidInput(f"input {name!r}: shape {list(shape)} has a negative dimension")
    count = math.prod(shape)
    if raw is not None:
        if _typed_fields(tensor.contents):
            raise InvalidInput(f"input {name!r}: both contents and raw_input_contents are set")
        data = _from_raw(name, datatype, raw, count)
    else:
        data = _from_contents(name, datatype, tensor.contents, count)
    return Tensor(name=name, datatype=datatype.name, data=data.reshape(shape))


def _typed_fields(contents: pb.InferTensorContents) -> list[str]:
    return [f for f in CONTENTS_FIELDS if len(getattr(contents, f))]


def _from_contents(
    name: str, datatype: Datatype, contents: pb.InferTensorContents, count: int
) -> np.ndarray:
    if datatype.contents_field is None:
        raise InvalidInput(
            f"input {name!r}: {datatype.name} data must be sent in raw_input_contents"
        )
    for other in _typed_fields(contents):
        if other != datatype.contents_field:
            raise InvalidInput(
                f"input {name!r}: datatype {datatype.name} is carried in"
                f" {datatype.contents_field}, not {other}"
            )
    values = getattr(contents, datatype.contents_field)
    if len(values) != count:
        raise InvalidInput(
            f"input {name!r}: {len(values)} elements in contents, shape needs {count}"
        )
    if datatype.name == "BYTES":
        array = np.empty(count, dtype=object)
        array[:] = list(values)
        return array
    return np.array(values, dtype=datatype.dtype)


def _from_raw(name: str, datatype: Datatype, raw: bytes, count: int) -> np.ndarray:
    if datatype.name == "BYTES":
        return _bytes_from_raw(name, raw, count)
    want = count * datatype.dtype.itemsize
    if len(raw) != want:
        raise InvalidInput(
            f"input {name!r}: raw_input_contents has {len(raw)} bytes,"
            f" {count} {datatype.name} elements need {want}"
        )
    return np.frombuffer(raw, dtype=datatype.dtype.newbyteorder("<")).astype(datatype.dtype)


def _bytes_from_raw(name: str, raw: bytes, count: int) -> np.ndarray:
    elements = []
    offset = 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise InvalidInput(f"input {name!r}: raw BYTES data ends inside a length prefix")
        (length,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        if offset + length > len(raw):
            raise InvalidInput(f"input {name!r}: raw BYTES element runs past the data")
        elements.append(raw[offset : offset + length])
        offset += length
    if len(elements) != count:
        raise InvalidInput(
            f"input {name!r}: {len(elements)} BYTES elements in raw data, shape needs {count}"
        )
    array = np.empty(count, dtype=object)
    array[:] = elements
    return array


def encode_response(response: InferenceResponse) -> pb.ModelInferResponse:
    """Encodes a response with typed contents (raw if a datatype has no typed field)."""
    message = pb.ModelInferResponse(
        model_name=response.model_name,
        model_version=response.model_version,
        id=response.id,
    )
    use_raw = any(DATATYPES[t.datatype].contents_field is None for t in response.outputs)
    for tensor in response.outputs:
        out = message.outputs.add(
            name=tensor.name, datatype=tensor.datatype, shape=list(tensor.data.shape)
        )
        if use_raw:
            message.raw_output_contents.append(_to_raw(tensor))
        else:
            field = DATATYPES[tensor.datatype].contents_field
            values = tensor.data.ravel().tolist()
            if tensor.datatype == "BYTES":
                values = [_as_bytes(v) for v in values]
            getattr(out.contents, field).extend(values)
    return message


def _to_raw(tensor: Tensor) -> bytes:
    datatype = DATATYPES[tensor.datatype]
    if datatype.name == "BYTES":
        return b"".join(
            struct.pack("<I", len(b)) + b for b in map(_as_bytes, tensor.data.ravel().tolist())
        )
    return np.ascontiguousarray(tensor.data, dtype=datatype.dtype.newbyteorder("<")).tobytes()


def _as_bytes(value: object) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)
