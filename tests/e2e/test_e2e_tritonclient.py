"""The standard Open Inference Protocol client, tritonclient.grpc, through the
gateway: client → gateway → inference service. The inference tier admits
operators: tritonclient comes to the TLS listener with the operator's client
certificate of the mesh's CA (mTLS), as an operator's tool would."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import joblib
import numpy as np
import onnxruntime as ort
from prometheus_client.parser import text_string_to_metric_families
from sklearn import datasets

from .conftest import MODELS, ROOT

# Runs in a process of its own: tritonclient's protocol code and ours define
# the same protobuf names.
CALLS = ROOT / "services/inference/tests/tritonclient_calls.py"


def ok_requests(metrics_url: str, model: str) -> float:
    with urllib.request.urlopen(metrics_url, timeout=10) as response:
        text = response.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "polymesh_inference_requests_total" and sample.labels == {
                "model": model,
                "code": "OK",
            }:
                return sample.value
    return 0.0


def test_tritonclient_through_the_gateway(mesh):
    served_before = ok_requests(mesh.inference_metrics, "iris")
    operator = mesh.tls / "operator"
    run = subprocess.run(
        [
            sys.executable,
            str(CALLS),
            mesh.gateway_tls,
            "--cycle",
            "diabetes",
            f"--ca-file={mesh.tls / 'ca.crt'}",
            f"--cert={operator}.crt",
            f"--key={operator}.key",
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr.decode()
    answers = json.loads(run.stdout)

    assert answers["live"] is True
    assert answers["ready"] is True
    assert answers["server_metadata"]["name"] == "polymesh-inference"
    assert answers["iris_metadata"]["platform"] == "sklearn_joblib"
    index = {m["name"]: m["state"] for m in answers["index"]["models"]}
    assert {"iris": "READY", "digits": "READY", "diabetes": "READY"}.items() <= index.items()

    iris_x, _ = datasets.load_iris(return_X_y=True)
    iris = joblib.load(MODELS / "iris" / "model.joblib")
    outputs = answers["iris"]["outputs"]
    assert outputs["label"]["data"] == iris.predict(iris_x).tolist()
    np.testing.assert_array_equal(outputs["probabilities"]["data"], iris.predict_proba(iris_x))

    digits_x, _ = datasets.load_digits(return_X_y=True)
    session = ort.InferenceSession(
        str(MODELS / "digits" / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    (labels,) = session.run(["label"], {"input": digits_x.astype(np.float32)})
    assert answers["digits"]["outputs"]["label"]["data"] == labels.tolist()

    assert answers["unknown_output"]["status"] == "StatusCode.INVALID_ARGUMENT"
    assert answers["unknown_model"]["status"] == "StatusCode.NOT_FOUND"
    cycle = answers["cycle"]
    assert cycle["ready_after_unload"] is False
    assert cycle["infer_after_unload"]["status"] == "StatusCode.NOT_FOUND"
    assert cycle["ready_after_load"] is True

    # The inference tier served the two iris calls (FP64 and FP32 inputs).
    assert ok_requests(mesh.inference_metrics, "iris") == served_before + 2
