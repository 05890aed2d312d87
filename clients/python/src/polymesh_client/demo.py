"""Real calls through the gateway, their answers, and the trace of one of them.

    python -m polymesh_client.demo --target 127.0.0.1:8080 --jaeger http://127.0.0.1:16686 \
        --api-key polymesh-demo-key --picture trace.png

`./dev demo` runs this against the mesh it started, and writes the trace's
picture to .run/trace.png. The inputs are real samples of the datasets the
models were trained on (they ship with scikit-learn).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Iterable

import grpc
from opentelemetry import trace
from polymesh_common.telemetry import instrument_grpc_client, setup_tracing
from sklearn.datasets import load_digits, load_iris

from polymesh_client.ai import AIClient, output_values, rows_request, tensor
from polymesh_client.trace_picture import write_png
from polymesh_client.traces import GRPC_CODE_NAMES, TraceNotFoundError, fetch_trace, render_tree

SERVICES = ("polymesh-client", "polymesh-gateway", "polymesh-aiapi", "polymesh-inference")


def say(text: str) -> None:
    print(text, flush=True)


def shape(dims: Iterable[int]) -> str:
    return "[" + ", ".join("?" if d < 0 else str(d) for d in dims) + "]"


async def calls(target: str, api_key: str) -> str:
    """Makes the demo's calls; returns the trace id of the first Predict."""
    iris = load_iris()
    digits = load_digits()
    tracer = trace.get_tracer("polymesh-demo")
    async with grpc.aio.insecure_channel(target) as channel:
        ai = AIClient(channel, api_key=api_key)

        say("ListModels: what the inference tier serves")
        for m in (await ai.list_models()).models:
            if not m.ready:
                say(f"  {m.name:<10} not ready: {m.reason}")
                continue
            ins = ", ".join(f"{t.name} {t.datatype} {shape(t.shape)}" for t in m.inputs)
            outs = ", ".join(f"{t.name} {t.datatype} {shape(t.shape)}" for t in m.outputs)
            say(f"  {m.name:<10} {m.platform:<18} {ins} → {outs}")

        samples = [0, 60, 120]
        with tracer.start_as_current_span("demo Predict iris") as span:
            trace_id = format(span.get_span_context().trace_id, "032x")
            answer = await ai.predict_rows("iris", iris.data[samples].tolist())
        say("\nPredict iris (feature rows) → aiapi → inference")
        labels = output_values(answer, "label")
        probabilities = output_values(answer, "probabilities")
        for i, (sample, label) in enumerate(zip(samples, labels, strict=True)):
            p = max(probabilities[3 * i : 3 * i + 3])
            truth = iris.target_names[iris.target[sample]]
            features = iris.data[sample].tolist()
            say(f"  {features} → {iris.target_names[label]:<10} p={p:.2f}  (true: {truth})")

        picks = [3, 17, 42]
        x = digits.data[picks].astype("float32")
        answer = await ai.predict_tensors(
            "digits", [tensor("input", "FP32", x.shape, x.ravel().tolist())]
        )
        say("\nPredict digits (an FP32 [3, 64] tensor; an ONNX model)")
        for pick, label in zip(picks, output_values(answer, "label"), strict=True):
            say(f"  image #{pick} → {label}  (true: {digits.target[pick]})")

        say("\nPredictStream: three requests, the second for a model that is not there")
        requests = [
            rows_request("iris", [iris.data[10].tolist()], "first"),
            rows_request("no-such-model", [[1.0, 2.0]], "second"),
            rows_request("iris", [iris.data[110].tolist()], "third"),
        ]
        async for result in ai.predict_stream(requests):
            if result.error_code:
                code = GRPC_CODE_NAMES[result.error_code]
                say(f"  {result.response.id or 'error'}: {code}: {result.error_message}")
            else:
                r = result.response
                say(f"  {r.id}: {iris.target_names[output_values(r, 'label')[0]]}")

        say("\nCalls that fail: rows of different lengths; a tensor of the wrong type; no key")
        try:
            await ai.predict_rows("iris", [[1.0, 2.0, 3.0, 4.0], [1.0]])
        except grpc.aio.AioRpcError as e:
            say(f"  {e.code().name}: {e.details()}")
        try:
            await ai.predict_tensors("digits", [tensor("input", "FP64", (1, 64), [0.0] * 64)])
        except grpc.aio.AioRpcError as e:
            say(f"  {e.code().name}: {e.details()}")
        try:
            await AIClient(channel).predict_rows("iris", [iris.data[0].tolist()])
        except grpc.aio.AioRpcError as e:
            say(f"  {e.code().name}: {e.details()}")
    return trace_id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="127.0.0.1:8080", help="the gateway's address")
    parser.add_argument("--jaeger", default="http://127.0.0.1:16686", help="Jaeger's query API")
    parser.add_argument(
        "--api-key",
        default=os.environ.get("POLYMESH_API_KEY", "polymesh-demo-key"),
        help="the AI API key (default: $POLYMESH_API_KEY, else the demo key of ./dev up)",
    )
    parser.add_argument(
        "--picture", metavar="PATH", help="also draw the trace as a PNG waterfall into PATH"
    )
    args = parser.parse_args(argv)

    provider = setup_tracing("polymesh-client")
    instrument_grpc_client()
    try:
        trace_id = asyncio.run(calls(args.target, args.api_key))
    except grpc.aio.AioRpcError as e:
        print(f"demo: call failed: {e.code().name}: {e.details()}", file=sys.stderr)
        return 1
    finally:
        provider.force_flush()

    say(f"\nThe trace of the iris Predict ({trace_id}), from Jaeger:")
    try:
        spans = fetch_trace(args.jaeger, trace_id, services=SERVICES, min_spans=10)
    except TraceNotFoundError as e:
        print(f"demo: {e}", file=sys.stderr)
        return 1
    say(render_tree(spans))
    say(f"\n{len(spans)} spans; JSON: {args.jaeger}/api/traces/{trace_id}")
    if args.picture:
        path = write_png(spans, args.picture, title=f"The iris Predict, trace {trace_id}")
        say(f"The trace as a picture: {path}")
    provider.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
