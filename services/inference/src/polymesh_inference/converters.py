"""Explicit converters between Open Inference Protocol messages and numpy.

Inputs arrive either as typed `contents` or as `raw_input_contents`
(little-endian, row-major bytes; BYTES elements each prefixed with a 4-byte
little-endian length).

Outputs leave as typed `contents`, or as `raw_output_contents` (same layout)
when any of these holds:

- the request sent its inputs as raw_input_contents: that is what tritonclient
  and Triton's other gRPC clients do, and they read outputs only from
  raw_output_contents (Triton's own server always answers raw);
- the request asks for it with Triton's parameters: `binary_data_output: true`
  on the request, or `binary_data: true` on a requested output;
- an output's datatype has no typed field (FP16).

The protocol allows raw or typed per response, not per output, so one reason
makes every output raw.

Parameters: the request's own parameters are passed to the model's runtime;
besides those above, the server rejects (INVALID_ARGUMENT) what asks for a
feature it does not have (`classification` on an output, Triton's shared
memory parameters) and ignores the rest.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from typing import Any

import numpy as np
from inference import grpc_service_pb2 as pb
from polymesh_common.datatypes import CONTENTS_FIELDS, DATATYPES, Datatype

from .errors import InvalidInput, InvalidParameter
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
        _check_unsupported(decode_parameters(tensor.parameters), f"input {tensor.name!r}")
        inputs.append(decode_input(tensor, raw[i] if raw else None))
    parameters = decode_parameters(request.parameters)
    raw_outputs = bool(raw) or _flag(parameters, BINARY_DATA_OUTPUT, "request")
    for output in request.outputs:
        where = f"requested output {output.name!r}"
        output_parameters = decode_parameters(output.parameters)
        _check_unsupported(output_parameters, where)
        raw_outputs = _flag(output_parameters, BINARY_DATA, where) or raw_outputs
    return InferenceRequest(
        model_name=request.model_name,
        model_version=request.model_version,
        id=request.id,
        inputs=inputs,
        requested_outputs=[o.name for o in request.outputs],
        parameters=parameters,
        raw_outputs=raw_outputs,
    )


# Parameters the server reads (Triton's names).
BINARY_DATA_OUTPUT = "binary_data_output"
"""Request parameter (bool): every output as raw_output_contents."""
BINARY_DATA = "binary_data"
"""Requested-output parameter (bool): outputs as raw_output_contents."""
UNSUPPORTED_PARAMETERS = {
    "classification": "classification outputs are not supported",
    "shared_memory_region": "the shared memory extension is not supported",
    "shared_memory_byte_size": "the shared memory extension is not supported",
    "shared_memory_offset": "the shared memory extension is not supported",
}


def decode_parameters(parameters: Mapping[str, pb.InferParameter]) -> dict[str, Any]:
    """A parameters map as Python values; entries with no value set are left out."""
    values = {}
    for key, parameter in parameters.items():
        which = parameter.WhichOneof("parameter_choice")
        if which is not None:
            values[key] = getattr(parameter, which)
    return values


def _check_unsupported(parameters: Mapping[str, Any], where: str) -> None:
    for key, why in UNSUPPORTED_PARAMETERS.items():
        if key in parameters:
            raise InvalidParameter(f"{where}: parameter {key!r}: {why}")


def _flag(parameters: Mapping[str, Any], key: str, where: str) -> bool:
    value = parameters.get(key, False)
    if not isinstance(value, bool):
        raise InvalidParameter(f"{where}: parameter {key!r} must be a bool_param")
    return value


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


def encode_response(response: InferenceResponse, raw: bool = False) -> pb.ModelInferResponse:
    """Encodes a response: raw_output_contents if raw (or if a datatype has no
    typed field), typed contents otherwise."""
    message = pb.ModelInferResponse(
        model_name=response.model_name,
        model_version=response.model_version,
        id=response.id,
    )
    use_raw = raw or any(DATATYPES[t.datatype].contents_field is None for t in response.outputs)
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
