"""Drives an Open Inference Protocol server with the standard client,
tritonclient.grpc, and prints what it answered as one JSON object.

    python tritonclient_calls.py HOST:PORT [--cycle MODEL] [--header K=V]...
                                 [--ca-file CA --cert CERT --key KEY]

It runs in a process of its own: tritonclient's generated protocol code and
ours define the same protobuf names, which one process cannot load twice.
Calls: is_server_live/ready, get_server_metadata, get_model_metadata (iris,
digits), get_model_repository_index, infer (iris on FP64 and FP32 inputs,
digits on FP32, one request with an unknown output, one for an unknown model);
with --cycle MODEL also unload_model, is_model_ready, infer while unloaded and
load_model. Predictions are on scikit-learn's bundled iris and digits data.
Through the gateway, a caller proves who it is with a header on every call
(`--header x-api-key=...`) or a client certificate over TLS (`--ca-file`,
`--cert`, `--key`: tritonclient's own ssl options).
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from typing import Any

import numpy as np
import tritonclient.grpc as triton
from google.protobuf import json_format
from sklearn import datasets
from tritonclient.utils import InferenceServerException, triton_to_np_dtype


def infer(
    client: triton.InferenceServerClient,
    model: str,
    x: np.ndarray,
    datatype: str,
    outputs: list[str],
) -> dict[str, Any]:
    tensor = triton.InferInput("input", list(x.shape), datatype)
    tensor.set_data_from_numpy(x)
    requested = [triton.InferRequestedOutput(name) for name in outputs] or None
    result = client.infer(model, [tensor], outputs=requested, request_id=f"{model}-{datatype}")
    response = result.get_response()
    return {
        "id": response.id,
        "model_name": response.model_name,
        "model_version": response.model_version,
        "outputs": {
            name: {
                "datatype": result.get_output(name).datatype,
                "shape": list(result.get_output(name).shape),
                "data": result.as_numpy(name).tolist(),
            }
            for name in outputs
        },
    }


def error(call) -> dict[str, str]:
    try:
        call()
    except InferenceServerException as err:
        return {"status": str(err.status()), "message": err.message()}
    return {"status": "OK", "message": ""}


class WithHeaders:
    """A tritonclient client whose every call carries `headers`."""

    def __init__(self, client: triton.InferenceServerClient, headers: dict[str, str]) -> None:
        self._client, self._headers = client, headers

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not self._headers or name == "close" or not callable(attr):
            return attr
        return functools.partial(attr, headers=self._headers)


def run(
    address: str,
    cycle: str | None,
    headers: dict[str, str] | None = None,
    tls: dict[str, str] | None = None,
) -> dict[str, Any]:
    if tls:
        raw = triton.InferenceServerClient(url=address, ssl=True, **tls)
    else:
        raw = triton.InferenceServerClient(url=address)
    client = WithHeaders(raw, headers or {})
    iris_x, _ = datasets.load_iris(return_X_y=True)
    digits_x, _ = datasets.load_digits(return_X_y=True)
    answers: dict[str, Any] = {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "server_metadata": client.get_server_metadata(as_json=True),
        "iris_metadata": client.get_model_metadata("iris", as_json=True),
        "digits_metadata": client.get_model_metadata("digits", model_version="1", as_json=True),
        "index": client.get_model_repository_index(as_json=True),
        "iris_ready": client.is_model_ready("iris"),
        "iris": infer(client, "iris", iris_x, "FP64", ["label", "probabilities"]),
        "iris_fp32": infer(client, "iris", iris_x.astype(np.float32), "FP32", ["label"]),
        "digits": infer(
            client, "digits", digits_x.astype(np.float32), "FP32", ["label", "probabilities"]
        ),
        "unknown_output": error(lambda: infer(client, "iris", iris_x[:2], "FP64", ["logits"])),
        "unknown_model": error(lambda: client.get_model_metadata("nope")),
    }
    if cycle:
        (spec,) = client.get_model_metadata(cycle).inputs
        shape = [1 if d < 0 else d for d in spec.shape]
        zeros = np.zeros(shape, dtype=triton_to_np_dtype(spec.datatype))
        client.unload_model(cycle)
        answers["cycle"] = {
            "ready_after_unload": client.is_model_ready(cycle),
            "infer_after_unload": error(lambda: infer(client, cycle, zeros, spec.datatype, [])),
            "index_after_unload": client.get_model_repository_index(as_json=True),
            "metadata_after_unload": error(lambda: client.get_model_metadata(cycle)),
            "load_unknown": error(lambda: client.load_model("no_such_model")),
        }
        client.load_model(cycle)
        answers["cycle"]["ready_after_load"] = client.is_model_ready(cycle)
    client.close()
    return json.loads(json.dumps(answers, default=json_format.MessageToDict))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("address")
    parser.add_argument("--cycle", help="a model to unload and load again")
    parser.add_argument(
        "--header", action="append", default=[], help="K=V metadata on every call, repeatable"
    )
    parser.add_argument("--ca-file", help="TLS: the CA of the server's certificate")
    parser.add_argument("--cert", help="mTLS: a client certificate")
    parser.add_argument("--key", help="mTLS: its key")
    args = parser.parse_args()
    headers = dict(h.split("=", 1) for h in args.header)
    tls = {
        name: value
        for name, value in (
            ("root_certificates", args.ca_file),
            ("certificate_chain", args.cert),
            ("private_key", args.key),
        )
        if value
    }
    json.dump(run(args.address, args.cycle, headers, tls), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
