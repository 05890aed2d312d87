"""The inference client's encoding of numpy arrays and decoding of outputs."""

from __future__ import annotations

import numpy as np
import pytest
from inference import grpc_service_pb2 as pb
from polymesh_client.inference import decode_outputs, infer_request


def test_request_encoding_typed_and_raw() -> None:
    typed = infer_request("m", {"x": np.array([[1, 2]], dtype=np.int32), "s": ["a", b"bc"]})
    x, s = typed.inputs
    assert (x.datatype, list(x.shape), list(x.contents.int_contents)) == ("INT32", [1, 2], [1, 2])
    assert (s.datatype, list(s.contents.bytes_contents)) == ("BYTES", [b"a", b"bc"])
    raw = infer_request("m", {"x": np.array([1, 2], dtype=np.int16), "s": [b"bc"]}, raw=True)
    assert list(raw.raw_input_contents) == [b"\x01\x00\x02\x00", b"\x02\x00\x00\x00bc"]
    with pytest.raises(ValueError, match="FP16"):
        infer_request("m", {"h": np.zeros(2, dtype=np.float16)})
    with pytest.raises(ValueError, match="complex"):
        infer_request("m", {"c": np.zeros(2, dtype=np.complex64)})


def test_decoding_typed_and_raw_outputs() -> None:
    outputs = {"h": np.array([[1.5, -2]], dtype=np.float16), "b": np.array([b"x", b"yz"])}
    decoded = decode_outputs(_response_like(infer_request("m", outputs, raw=True)))
    np.testing.assert_array_equal(decoded["h"], outputs["h"])
    assert decoded["h"].dtype == np.float16
    assert decoded["b"].tolist() == [b"x", b"yz"]
    typed = {"u": np.array([[1], [2]], dtype=np.uint8), "f": np.array([0.5], dtype=np.float32)}
    decoded = decode_outputs(_response_like(infer_request("m", typed)))
    for name, array in typed.items():
        np.testing.assert_array_equal(decoded[name], array)
        assert decoded[name].dtype == array.dtype


def _response_like(request: pb.ModelInferRequest) -> pb.ModelInferResponse:
    """A ModelInferResponse whose outputs are the request's inputs."""
    response = pb.ModelInferResponse(model_name=request.model_name)
    for tensor in request.inputs:
        output = response.outputs.add(
            name=tensor.name, datatype=tensor.datatype, shape=tensor.shape
        )
        output.contents.CopyFrom(tensor.contents)
    response.raw_output_contents.extend(request.raw_input_contents)
    return response
