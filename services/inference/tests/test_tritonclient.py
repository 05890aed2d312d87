"""The standard Open Inference Protocol client against our server: tritonclient.grpc,
in a process of its own (tritonclient_calls.py), and Triton's own
grpc_service.proto against ours, field by field."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import joblib
import numpy as np
import onnxruntime as ort
from inference import grpc_service_pb2 as pb
from sklearn import datasets

CALLS = Path(__file__).with_name("tritonclient_calls.py")
TIMEOUT_S = 120


async def run_python(*args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), TIMEOUT_S)
    assert process.returncode == 0, stderr.decode()
    return stdout.decode()


async def test_tritonclient_drives_the_server(own_repository, start_server):
    server = await start_server(own_repository)
    answers = json.loads(
        await run_python(str(CALLS), f"127.0.0.1:{server.host.port}", "--cycle", "diabetes")
    )

    assert answers["live"] is True
    assert answers["ready"] is True
    assert answers["server_metadata"]["name"] == "polymesh-inference"
    assert "model_repository" in answers["server_metadata"]["extensions"]
    assert answers["iris_metadata"] == {
        "name": "iris",
        "versions": ["1"],
        "platform": "sklearn_joblib",
        "inputs": [{"name": "input", "datatype": "FP64", "shape": ["-1", "4"]}],
        "outputs": [
            {"name": "label", "datatype": "INT64", "shape": ["-1"]},
            {"name": "probabilities", "datatype": "FP64", "shape": ["-1", "3"]},
        ],
    }
    assert answers["digits_metadata"]["platform"] == "onnxruntime_onnx"
    index = {m["name"]: m for m in answers["index"]["models"]}
    assert index["iris"] == {"name": "iris", "version": "1", "state": "READY"}
    assert answers["iris_ready"] is True

    # Predictions equal the models' own.
    iris_x, _ = datasets.load_iris(return_X_y=True)
    iris = joblib.load(own_repository / "iris" / "model.joblib")
    result = answers["iris"]
    assert result["id"] == "iris-FP64"
    assert (result["model_name"], result["model_version"]) == ("iris", "1")
    label = result["outputs"]["label"]
    assert (label["datatype"], label["shape"]) == ("INT64", [150])
    assert label["data"] == iris.predict(iris_x).tolist()
    probabilities = result["outputs"]["probabilities"]
    assert probabilities["shape"] == [150, 3]
    np.testing.assert_array_equal(probabilities["data"], iris.predict_proba(iris_x))
    assert (
        answers["iris_fp32"]["outputs"]["label"]["data"]
        == iris.predict(iris_x.astype(np.float32).astype(np.float64)).tolist()
    )

    digits_x, _ = datasets.load_digits(return_X_y=True)
    session = ort.InferenceSession(
        str(own_repository / "digits" / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    want_labels, want_probabilities = session.run(
        ["label", "probabilities"], {"input": digits_x.astype(np.float32)}
    )
    digits = answers["digits"]["outputs"]
    assert digits["label"]["data"] == want_labels.tolist()
    assert digits["probabilities"]["datatype"] == "FP32"
    np.testing.assert_array_equal(
        np.array(digits["probabilities"]["data"], dtype=np.float32), want_probabilities
    )

    assert answers["unknown_output"]["status"] == "StatusCode.INVALID_ARGUMENT"
    assert "unknown requested output 'logits'" in answers["unknown_output"]["message"]
    assert answers["unknown_model"]["status"] == "StatusCode.NOT_FOUND"

    cycle = answers["cycle"]
    assert cycle["ready_after_unload"] is False
    unloaded = {m["name"]: m for m in cycle["index_after_unload"]["models"]}["diabetes"]
    assert unloaded == {
        "name": "diabetes",
        "version": "1",
        "state": "UNAVAILABLE",
        "reason": "unloaded",
    }
    assert cycle["infer_after_unload"]["status"] == "StatusCode.NOT_FOUND"
    assert "has no available versions" in cycle["infer_after_unload"]["message"]
    assert cycle["metadata_after_unload"]["status"] == "StatusCode.NOT_FOUND"
    assert cycle["load_unknown"]["status"] == "StatusCode.NOT_FOUND"
    assert cycle["ready_after_load"] is True


DUMP_TRITON_PROTO = """
import json
from tritonclient.grpc import service_pb2

def fields(message, out):
    out[message.full_name] = {
        f.name: [f.number, f.type, f.is_repeated,
                 f.message_type.full_name if f.message_type else "",
                 f.containing_oneof.name if f.containing_oneof else ""]
        for f in message.fields
    }
    for nested in message.nested_types:
        fields(nested, out)

messages = {}
for message in service_pb2.DESCRIPTOR.message_types_by_name.values():
    fields(message, messages)
service = service_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"]
methods = {m.name: [m.input_type.full_name, m.output_type.full_name,
                    m.client_streaming, m.server_streaming] for m in service.methods}
print(json.dumps({"package": service_pb2.DESCRIPTOR.package, "messages": messages,
                  "methods": methods}))
"""


def _our_fields(message, out: dict) -> None:
    out[message.full_name] = {
        f.name: [
            f.number,
            f.type,
            f.is_repeated,
            f.message_type.full_name if f.message_type else "",
            f.containing_oneof.name if f.containing_oneof else "",
        ]
        for f in message.fields
    }
    for nested in message.nested_types:
        _our_fields(nested, out)


async def test_our_protocol_is_tritons():
    """Every RPC, message and field of ours is in Triton's grpc_service.proto with
    the same name, number, type, cardinality and oneof: a wire-compatible subset."""
    triton = json.loads(await run_python("-c", DUMP_TRITON_PROTO))
    ours: dict = {}
    for message in pb.DESCRIPTOR.message_types_by_name.values():
        _our_fields(message, ours)
    service = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"]

    assert pb.DESCRIPTOR.package == triton["package"] == "inference"
    for method in service.methods:
        assert [
            method.input_type.full_name,
            method.output_type.full_name,
            method.client_streaming,
            method.server_streaming,
        ] == triton["methods"][method.name], method.name
    for name, fields in ours.items():
        assert fields == triton["messages"][name], name
    # Nothing of the messages our RPCs use is missing either.
    for method in service.methods:
        for message in (method.input_type.full_name, method.output_type.full_name):
            assert set(triton["messages"][message]) == set(ours[message]), message
    assert {
        "ServerLive",
        "ServerReady",
        "ModelReady",
        "ServerMetadata",
        "ModelMetadata",
        "ModelInfer",
        "RepositoryIndex",
        "RepositoryModelLoad",
        "RepositoryModelUnload",
    } == {m.name for m in service.methods}
