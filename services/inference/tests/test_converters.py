"""Protocol messages to numpy and back, for every datatype."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from inference import grpc_service_pb2 as pb
from polymesh_common.datatypes import DATATYPES
from polymesh_inference.converters import (
    decode_input,
    decode_parameters,
    decode_request,
    encode_response,
)
from polymesh_inference.errors import InvalidInput
from polymesh_inference.types import InferenceResponse, Tensor

NUMERIC = {
    "BOOL": [True, False, True, True, False, False],
    "UINT8": [0, 1, 2, 3, 254, 255],
    "UINT16": [0, 1, 2, 3, 4, 65535],
    "UINT32": [0, 1, 2, 3, 4, 2**32 - 1],
    "UINT64": [0, 1, 2, 3, 4, 2**64 - 1],
    "INT8": [-128, -1, 0, 1, 2, 127],
    "INT16": [-(2**15), -1, 0, 1, 2, 2**15 - 1],
    "INT32": [-(2**31), -1, 0, 1, 2, 2**31 - 1],
    "INT64": [-(2**63), -1, 0, 1, 2, 2**63 - 1],
    "FP32": [-1.5, 0.0, 0.25, 1.0, 2.5, 3.0],
    "FP64": [-1.5, 0.0, 0.25, 1.0, 2.5, 1e300],
}


def typed(datatype: str, values, shape=(2, 3)) -> pb.ModelInferRequest.InferInputTensor:
    tensor = pb.ModelInferRequest.InferInputTensor(name="x", datatype=datatype, shape=shape)
    getattr(tensor.contents, DATATYPES[datatype].contents_field).extend(values)
    return tensor


@pytest.mark.parametrize("datatype", sorted(NUMERIC))
def test_typed_contents(datatype):
    tensor = decode_input(typed(datatype, NUMERIC[datatype]))
    assert tensor.data.dtype == DATATYPES[datatype].dtype
    assert tensor.data.shape == (2, 3)
    assert tensor.data.ravel().tolist() == NUMERIC[datatype]


@pytest.mark.parametrize("datatype", [*sorted(NUMERIC), "FP16"])
def test_raw_contents(datatype):
    values = NUMERIC.get(datatype, [0.5, 1.0, 1.5, 2.0, -2.0, 0.0])
    array = np.array(values, dtype=DATATYPES[datatype].dtype)
    tensor = pb.ModelInferRequest.InferInputTensor(name="x", datatype=datatype, shape=[3, 2])
    raw = array.astype(array.dtype.newbyteorder("<")).tobytes()
    decoded = decode_input(tensor, raw)
    assert decoded.data.shape == (3, 2)
    np.testing.assert_array_equal(decoded.data.ravel(), array)


def test_bytes_typed_and_raw():
    values = [b"a", b"", b"hello"]
    assert decode_input(typed("BYTES", values, shape=[3])).data.tolist() == values
    raw = b"".join(struct.pack("<I", len(v)) + v for v in values)
    tensor = pb.ModelInferRequest.InferInputTensor(name="x", datatype="BYTES", shape=[3])
    assert decode_input(tensor, raw).data.tolist() == values


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\1\0\0", "inside a length prefix"),
        (b"\5\0\0\0ab", "runs past the data"),
        (b"\1\0\0\0a", "1 BYTES elements"),
    ],
)
def test_bad_raw_bytes(raw, message):
    tensor = pb.ModelInferRequest.InferInputTensor(name="x", datatype="BYTES", shape=[2])
    with pytest.raises(InvalidInput, match=message):
        decode_input(tensor, raw)


def test_fp16_needs_raw():
    tensor = pb.ModelInferRequest.InferInputTensor(name="x", datatype="FP16", shape=[1])
    tensor.contents.fp32_contents.append(1.0)
    with pytest.raises(InvalidInput, match="'x': FP16 data must be sent in raw"):
        decode_input(tensor)


def test_negative_shape():
    with pytest.raises(InvalidInput, match="negative dimension"):
        decode_input(typed("FP32", [1.0], shape=[-1]))


def test_duplicate_inputs():
    request = pb.ModelInferRequest(model_name="m")
    request.inputs.append(typed("FP32", [1.0], shape=[1]))
    request.inputs.append(typed("FP32", [1.0], shape=[1]))
    with pytest.raises(InvalidInput, match="'x' appears twice"):
        decode_request(request)


def test_decode_request_fields():
    request = pb.ModelInferRequest(model_name="m", model_version="2", id="r")
    request.inputs.append(typed("INT32", [1, 2], shape=[2]))
    request.outputs.add(name="y")
    decoded = decode_request(request)
    assert (decoded.model_name, decoded.model_version, decoded.id) == ("m", "2", "r")
    assert decoded.requested_outputs == ["y"]
    assert decoded.inputs[0].data.tolist() == [1, 2]


@pytest.mark.parametrize("datatype", sorted(NUMERIC))
def test_encode_typed(datatype):
    array = np.array(NUMERIC[datatype], dtype=DATATYPES[datatype].dtype).reshape(3, 2)
    message = encode_response(InferenceResponse("m", "1", "r", [Tensor("y", datatype, array)]))
    (out,) = message.outputs
    assert (message.model_name, message.model_version, message.id) == ("m", "1", "r")
    assert (out.name, out.datatype, list(out.shape)) == ("y", datatype, [3, 2])
    field = DATATYPES[datatype].contents_field
    assert list(getattr(out.contents, field)) == NUMERIC[datatype]
    assert not message.raw_output_contents


def test_encode_fp16_uses_raw_for_every_output():
    half = np.array([0.5, 1.5], dtype=np.float16)
    ints = np.array([1, 2], dtype=np.int64)
    message = encode_response(
        InferenceResponse("m", "1", "", [Tensor("h", "FP16", half), Tensor("i", "INT64", ints)])
    )
    assert len(message.raw_output_contents) == 2
    assert np.frombuffer(message.raw_output_contents[0], "<f2").tolist() == [0.5, 1.5]
    assert np.frombuffer(message.raw_output_contents[1], "<i8").tolist() == [1, 2]
    assert not message.outputs[1].contents.int64_contents


def test_encode_bytes_from_str():
    data = np.array(["a", b"b"], dtype=object)
    message = encode_response(InferenceResponse("m", "1", "", [Tensor("s", "BYTES", data)]))
    assert list(message.outputs[0].contents.bytes_contents) == [b"a", b"b"]


@pytest.mark.parametrize("datatype", [*sorted(NUMERIC), "FP16"])
def test_encode_raw_on_request(datatype):
    values = NUMERIC.get(datatype, [0.5, 1.0, 1.5, 2.0, -2.0, 0.0])
    array = np.array(values, dtype=DATATYPES[datatype].dtype).reshape(2, 3)
    response = InferenceResponse("m", "1", "", [Tensor("y", datatype, array)])
    message = encode_response(response, raw=True)
    assert not message.outputs[0].HasField("contents")
    got = np.frombuffer(message.raw_output_contents[0], array.dtype.newbyteorder("<"))
    assert got.tolist() == array.ravel().tolist()


def test_encode_raw_bytes_is_length_prefixed():
    data = np.array([b"ab", b"", "é"], dtype=object)
    message = encode_response(InferenceResponse("m", "1", "", [Tensor("s", "BYTES", data)]), True)
    assert message.raw_output_contents[0] == b"\2\0\0\0ab\0\0\0\0\2\0\0\0\xc3\xa9"


def test_raw_inputs_ask_for_raw_outputs():
    request = pb.ModelInferRequest(model_name="m")
    request.inputs.add(name="x", datatype="INT32", shape=[1])
    request.raw_input_contents.append(b"\1\0\0\0")
    assert decode_request(request).raw_outputs
    request.ClearField("raw_input_contents")
    request.inputs[0].contents.int_contents.append(1)
    assert not decode_request(request).raw_outputs


def test_decode_parameters():
    request = pb.ModelInferRequest(model_name="m")
    request.parameters["a"].bool_param = False
    request.parameters["b"].double_param = 1.5
    request.parameters["c"].CopyFrom(pb.InferParameter())
    assert decode_parameters(request.parameters) == {"a": False, "b": 1.5}
