"""Asks the inference tier (Open Inference Protocol) about a model and runs it on numpy rows.

python examples/inference_infer.py --target 127.0.0.1:8443 --ca-file .run/tls/ca.crt --raw
python examples/inference_infer.py --target 127.0.0.1:8443 --ca-file .run/tls/ca.crt \
    --cert .run/tls/operator.crt --key .run/tls/operator.key --api-key ''

Through the gateway the inference tier admits operators: the operator key
(the default here), or the operator's client certificate on the TLS port.
"""

from __future__ import annotations

import argparse
import asyncio

import grpc
import grpc.aio
import numpy as np
from polymesh_client.auth import OPERATOR_KEY, add_arguments, channel_from_args
from polymesh_client.calls import DEFAULT_TIMEOUT
from polymesh_client.inference import InferenceClient


async def main(args: argparse.Namespace) -> None:
    async with channel_from_args(args) as channel:
        inference = InferenceClient(channel, timeout=args.timeout)
        server = await inference.metadata()
        print(f"server {server.name} {server.version}, live {await inference.live()}")
        model = await inference.model_metadata(args.model)
        print(f"model {model.name} ({model.platform}) inputs {[t.name for t in model.inputs]}")
        rows = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], dtype=np.float32)
        outputs = await inference.infer(args.model, {model.inputs[0].name: rows}, raw=args.raw)
        for name, values in outputs.items():
            print(f"{name} {values.dtype}{list(values.shape)}: {values.tolist()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="127.0.0.1:8080", help="the gateway, host:port")
    add_arguments(parser, default_key=OPERATOR_KEY)
    parser.add_argument("--model", default="iris", help="a model with 4 FP32 features")
    parser.add_argument("--raw", action="store_true", help="send raw_input_contents")
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds each call may take"
    )
    try:
        asyncio.run(main(parser.parse_args()))
    except grpc.aio.AioRpcError as error:
        raise SystemExit(f"{error.code().name}: {error.details()}") from None
