"""Lists the AI API's models and predicts iris flowers through the gateway.

python examples/ai_predict.py --target 127.0.0.1:8080 --api-key polymesh-demo-key
python examples/ai_predict.py --target 127.0.0.1:8443 --ca-file .run/tls/ca.crt
"""

from __future__ import annotations

import argparse
import asyncio

import grpc
import grpc.aio
from polymesh_client.ai import AIClient, output_values
from polymesh_client.auth import add_arguments, channel_from_args
from polymesh_client.calls import DEFAULT_TIMEOUT


async def main(args: argparse.Namespace) -> None:
    async with channel_from_args(args) as channel:
        ai = AIClient(channel, timeout=args.timeout)
        for model in (await ai.list_models()).models:
            print(f"model {model.name} versions {list(model.versions)} ready {model.ready}")
        rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
        answer = await ai.predict_rows(args.model, rows)
        print(f"{args.model} {rows} -> labels {output_values(answer, 'label')}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="127.0.0.1:8080", help="the gateway, host:port")
    add_arguments(parser)
    parser.add_argument("--model", default="iris", help="a model with 4 features")
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds each call may take"
    )
    try:
        asyncio.run(main(parser.parse_args()))
    except grpc.aio.AioRpcError as error:
        raise SystemExit(f"{error.code().name}: {error.details()}") from None
