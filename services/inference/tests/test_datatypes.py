"""Every v2 datatype through a real server both ways: typed contents and raw
bytes in, typed contents and raw bytes out, through identity models
(scikit-learn's FunctionTransformer, saved with joblib) made for each datatype;
and request parameters, through a runtime that answers with the ones it got."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import grpc
import grpc.aio
import joblib
import numpy as np
import pytest
import pytest_asyncio
import yaml
from inference import grpc_service_pb2 as pb
from inference import grpc_service_pb2_grpc as pb_grpc
from polymesh_common.datatypes import DATATYPES
from polymesh_inference.app import InferenceServer
from polymesh_inference.settings import Settings
from sklearn.preprocessing import FunctionTransformer

# Two rows of three, with each type's extremes.
VALUES: dict[str, list] = {
    "BOOL": [True, False, True, True, False, False],
    "UINT8": [0, 1, 2, 3, 254, 255],
    "UINT16": [0, 1, 2, 3, 4, 65535],
    "UINT32": [0, 1, 2, 3, 4, 2**32 - 1],
    "UINT64": [0, 1, 2, 3, 4, 2**64 - 1],
    "INT8": [-128, -1, 0, 1, 2, 127],
    "INT16": [-(2**15), -1, 0, 1, 2, 2**15 - 1],
    "INT32": [-(2**31), -1, 0, 1, 2, 2**31 - 1],
    "INT64": [-(2**63), -1, 0, 1, 2, 2**63 - 1],
    "FP16": [-65504.0, -0.5, 0.0, 0.000061035156, 1.5, 65504.0],
    "FP32": [-3.4028235e38, -1.5, 0.0, 1.1754944e-38, 0.25, 3.4028235e38],
    "FP64": [-1.7976931348623157e308, -1.5, 0.0, 5e-324, 0.25, 1e300],
    "BYTES": [b"", b"a", b"\x00\xff", "é".encode(), b"x" * 300, b"last"],
}
TYPED = sorted(set(VALUES) - {"FP16"})  # FP16 has no typed contents field
SHAPE = [2, 3]


def write_model(root: Path, config: dict, estimator=None) -> None:
    folder = root / config["name"]
    folder.mkdir(parents=True)
    (folder / "model.yaml").write_text(yaml.safe_dump(config))
    if estimator is not None:
        joblib.dump(estimator, folder / config["model_file"])


def model_name(datatype: str) -> str:
    return f"identity_{datatype.lower()}"


# One server for the module: the tests only read from it.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def repository(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("models")
    sample = np.zeros((1, 3))
    for datatype in VALUES:
        tensor = {"datatype": datatype, "shape": [-1, 3]}
        write_model(
            root,
            {
                "name": model_name(datatype),
                "platform": "sklearn_joblib",
                "model_file": "model.joblib",
                "inputs": [{"name": "input", **tensor}],
                "outputs": [{"name": "output", **tensor, "source": "transform"}],
            },
            FunctionTransformer().fit(sample),
        )
    write_model(
        root,
        {
            "name": "parameters",
            "platform": "test_parameters",
            "model_file": "none",
            "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1]}],
            "outputs": [{"name": "parameters", "datatype": "BYTES", "shape": [1]}],
        },
    )
    return root


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stub(repository):
    settings = Settings(
        model_repository=repository,
        listen_addr="127.0.0.1:0",
        metrics_addr="127.0.0.1:0",
        workers=2,  # worker processes: every datatype is pickled both ways
    )
    server = InferenceServer(settings)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.host.port}") as channel:
            yield pb_grpc.GRPCInferenceServiceStub(channel)
    finally:
        await server.stop(0)


def to_raw(datatype: str, values: list) -> bytes:
    if datatype == "BYTES":
        return b"".join(struct.pack("<I", len(v)) + v for v in values)
    return np.array(values, dtype=DATATYPES[datatype].dtype.newbyteorder("<")).tobytes()


def from_raw(datatype: str, raw: bytes) -> list:
    if datatype == "BYTES":
        values, offset = [], 0
        while offset < len(raw):
            (length,) = struct.unpack_from("<I", raw, offset)
            values.append(raw[offset + 4 : offset + 4 + length])
            offset += 4 + length
        return values
    return np.frombuffer(raw, DATATYPES[datatype].dtype.newbyteorder("<")).tolist()


def request_for(datatype: str, raw: bool) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name=model_name(datatype), id=datatype)
    tensor = request.inputs.add(name="input", datatype=datatype, shape=SHAPE)
    if raw:
        request.raw_input_contents.append(to_raw(datatype, VALUES[datatype]))
    else:
        getattr(tensor.contents, DATATYPES[datatype].contents_field).extend(VALUES[datatype])
    return request


def expected(datatype: str) -> list:
    if datatype == "FP16":
        return np.array(VALUES[datatype], dtype=np.float16).tolist()
    if datatype == "FP32":
        return np.array(VALUES[datatype], dtype=np.float32).tolist()
    return VALUES[datatype]


def check_output(response: pb.ModelInferResponse, datatype: str, raw: bool) -> None:
    (out,) = response.outputs
    assert (out.name, out.datatype, list(out.shape)) == ("output", datatype, SHAPE)
    assert response.id == datatype
    if raw:
        assert len(response.raw_output_contents) == 1
        assert not out.HasField("contents")
        assert from_raw(datatype, response.raw_output_contents[0]) == expected(datatype)
    else:
        assert not response.raw_output_contents
        field = DATATYPES[datatype].contents_field
        assert list(getattr(out.contents, field)) == expected(datatype)


@pytest.mark.parametrize("datatype", TYPED)
async def test_typed_in_typed_out(stub, datatype):
    check_output(await stub.ModelInfer(request_for(datatype, raw=False)), datatype, raw=False)


@pytest.mark.parametrize("datatype", sorted(VALUES))
async def test_raw_in_raw_out(stub, datatype):
    check_output(await stub.ModelInfer(request_for(datatype, raw=True)), datatype, raw=True)


@pytest.mark.parametrize("datatype", TYPED)
async def test_typed_in_raw_out_on_request(stub, datatype):
    request = request_for(datatype, raw=False)
    request.parameters["binary_data_output"].bool_param = True
    check_output(await stub.ModelInfer(request), datatype, raw=True)

    request = request_for(datatype, raw=False)
    request.outputs.add(name="output").parameters["binary_data"].bool_param = True
    check_output(await stub.ModelInfer(request), datatype, raw=True)


@pytest.mark.parametrize("datatype", ["INT8", "UINT16", "FP64"])
async def test_raw_in_typed_out_on_request(stub, datatype):
    request = request_for(datatype, raw=True)
    request.parameters["binary_data_output"].bool_param = False
    # Raw inputs answer raw: tritonclient reads nothing else.
    check_output(await stub.ModelInfer(request), datatype, raw=True)


@pytest.mark.parametrize(
    ("datatype", "size"),
    [("BOOL", 5), ("INT16", 11), ("UINT64", 47), ("FP16", 13), ("FP64", 49)],
)
async def test_raw_byte_length_mismatch(stub, datatype, size):
    request = request_for(datatype, raw=True)
    request.raw_input_contents[0] = b"\0" * size
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ModelInfer(request)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"input 'input': raw_input_contents has {size} bytes" in err.value.details()


async def test_fp16_cannot_be_typed(stub):
    request = pb.ModelInferRequest(model_name=model_name("FP16"))
    request.inputs.add(name="input", datatype="FP16", shape=[1, 3])
    request.inputs[0].contents.fp32_contents.extend([1.0, 2.0, 3.0])
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ModelInfer(request)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "input 'input': FP16 data must be sent in raw_input_contents" in err.value.details()


async def test_datatype_mismatch_names_the_input(stub):
    request = request_for("INT32", raw=True)
    request.model_name = model_name("INT64")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ModelInfer(request)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "input 'input': datatype INT32, model expects INT64" in err.value.details()


def parameters_request() -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="parameters")
    request.inputs.add(name="input", datatype="FP32", shape=[1])
    request.inputs[0].contents.fp32_contents.append(0.0)
    return request


async def test_request_parameters_reach_the_runtime(stub):
    request = parameters_request()
    request.parameters["flag"].bool_param = True
    request.parameters["count"].int64_param = -3
    request.parameters["tag"].string_param = "blue"
    request.parameters["temperature"].double_param = 0.5
    request.parameters["big"].uint64_param = 2**63
    request.parameters["unset"].CopyFrom(pb.InferParameter())
    response = await stub.ModelInfer(request)
    given = json.loads(response.outputs[0].contents.bytes_contents[0])
    assert given == {"big": 2**63, "count": -3, "flag": True, "tag": "blue", "temperature": 0.5}


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda r: (
                r.outputs.add(name="parameters")
                .parameters["classification"]
                .CopyFrom(pb.InferParameter(int64_param=2))
            ),
            "requested output 'parameters': parameter 'classification':"
            " classification outputs are not supported",
        ),
        (
            lambda r: (
                r.inputs[0]
                .parameters["shared_memory_region"]
                .CopyFrom(pb.InferParameter(string_param="region"))
            ),
            "input 'input': parameter 'shared_memory_region':"
            " the shared memory extension is not supported",
        ),
        (
            lambda r: r.parameters["binary_data_output"].CopyFrom(pb.InferParameter(int64_param=1)),
            "request: parameter 'binary_data_output' must be a bool_param",
        ),
        (
            lambda r: (
                r.outputs.add(name="parameters")
                .parameters["binary_data"]
                .CopyFrom(pb.InferParameter(string_param="true"))
            ),
            "requested output 'parameters': parameter 'binary_data' must be a bool_param",
        ),
    ],
)
async def test_unsupported_parameters_are_invalid(stub, mutate, message):
    request = parameters_request()
    mutate(request)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ModelInfer(request)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in err.value.details()
