"""Real calls through the gateway, their answers, who may make them, and the
trace of one of them.

    python -m polymesh_client.demo --target 127.0.0.1:8443 --ca-file .run/tls/ca.crt \
        --plaintext-target 127.0.0.1:8080 --jaeger http://127.0.0.1:16686 \
        --api-key polymesh-demo-key --picture trace.png

`./dev demo` runs this against the mesh it started, and writes the trace's
picture to .run/trace.png. The calls go to the gateway's TLS listener with the
demo key; then the same key on the plaintext listener, a call without a key
(UNAUTHENTICATED) and the demo key on an operator's method (PERMISSION_DENIED).
The inputs are real samples of the datasets the models were trained on (they
ship with scikit-learn).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Iterable

import grpc
from inference import grpc_service_pb2 as infer_pb2
from inference import grpc_service_pb2_grpc as infer_pb2_grpc
from opentelemetry import trace
from polymesh_common.telemetry import instrument_grpc_client, setup_tracing
from sklearn.datasets import load_digits, load_iris

from polymesh_client.ai import AIClient, output_values, rows_request, tensor
from polymesh_client.auth import DEMO_KEY, aio_channel
from polymesh_client.trace_picture import write_png
from polymesh_client.traces import (
    GRPC_CODE_NAMES,
    Span,
    TraceNotFoundError,
    fetch_trace,
    render_tree,
)

SERVICES = ("polymesh-client", "polymesh-gateway", "polymesh-aiapi", "polymesh-inference")


def say(text: str) -> None:
    print(text, flush=True)


def shape(dims: Iterable[int]) -> str:
    return "[" + ", ".join("?" if d < 0 else str(d) for d in dims) + "]"


async def calls(
    target: str, api_key: str, ca_file: str | None = None, plaintext_target: str | None = None
) -> str:
    """Makes the demo's calls; returns the trace id of the first Predict."""
    iris = load_iris()
    digits = load_digits()
    tracer = trace.get_tracer("polymesh-demo")
    async with aio_channel(target, api_key=api_key, ca_file=ca_file) as channel:
        ai = AIClient(channel)
        how = f"TLS, verified with {ca_file}" if ca_file else "plaintext"
        say(f"Calling {target} ({how}) with the API key {api_key!r}\n")

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

        say("\nCalls that fail: rows of different lengths; a tensor of the wrong type")
        try:
            await ai.predict_rows("iris", [[1.0, 2.0, 3.0, 4.0], [1.0]])
        except grpc.aio.AioRpcError as e:
            say(f"  {e.code().name}: {e.details()}")
        try:
            await ai.predict_tensors("digits", [tensor("input", "FP64", (1, 64), [0.0] * 64)])
        except grpc.aio.AioRpcError as e:
            say(f"  {e.code().name}: {e.details()}")

        row = iris.data[0].tolist()
        await who_may_call(channel, target, ca_file, row, plaintext_target, api_key)
    return trace_id


async def who_may_call(
    channel: grpc.aio.Channel,
    target: str,
    ca_file: str | None,
    row: list[float],
    plaintext_target: str | None,
    api_key: str,
) -> None:
    """The gateway's checks: the key on the plaintext port, no key, an unknown
    key, the demo key on an operator's method."""
    say("\nWho may call what: the gateway checks before any byte reaches a service")
    if plaintext_target:
        async with aio_channel(plaintext_target, api_key=api_key) as plain:
            answer = await AIClient(plain).predict_rows("iris", [row])
            label = output_values(answer, "label")[0]
            say(f"  the demo key on the plaintext port {plaintext_target}: OK (label {label})")
    async with aio_channel(target, ca_file=ca_file) as anonymous:
        try:
            await AIClient(anonymous).predict_rows("iris", [row])
        except grpc.aio.AioRpcError as e:
            say(f"  no key: {e.code().name}: {e.details()}")
    try:
        # A call's own key goes instead of the channel's.
        await AIClient(channel, api_key="not-a-key").predict_rows("iris", [row])
    except grpc.aio.AioRpcError as e:
        say(f"  an unknown key: {e.code().name}: {e.details()}")
    inference = infer_pb2_grpc.GRPCInferenceServiceStub(channel)
    try:
        await inference.RepositoryModelUnload(
            infer_pb2.RepositoryModelUnloadRequest(model_name="iris"), timeout=5
        )
    except grpc.aio.AioRpcError as e:
        say(f"  the demo key on RepositoryModelUnload: {e.code().name}: {e.details()}")


def east_west(spans: Iterable[Span]) -> list[str]:
    """Where aiapi's calls to the inference tier went: the gateway's address
    (its TLS port, with aiapi's client certificate) from aiapi's CLIENT spans."""
    lines = []
    for span in spans:
        if span.service != "polymesh-aiapi" or span.kind != "client":
            continue
        host = span.attributes.get("server.address") or span.attributes.get("net.peer.name")
        port = span.attributes.get("server.port") or span.attributes.get("net.peer.port")
        method = span.attributes.get("rpc.method", span.name)
        lines.append(f"  east-west: aiapi {method} → the gateway at {host}:{port}")
    if lines:
        lines.insert(0, "\naiapi's calls to the inference tier went back through the gateway's")
        lines.insert(
            1, "TLS port, with aiapi's client certificate (spiffe://polymesh.local/aiapi):"
        )
    return sorted(set(lines), key=lines.index)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--target", default="127.0.0.1:8443", help="the gateway's address (TLS with --ca-file)"
    )
    parser.add_argument(
        "--ca-file", help="the CA of the gateway's certificate (./dev up: .run/tls/ca.crt)"
    )
    parser.add_argument(
        "--plaintext-target", help="the gateway's plaintext address, to call it there too"
    )
    parser.add_argument("--jaeger", default="http://127.0.0.1:16686", help="Jaeger's query API")
    parser.add_argument(
        "--api-key",
        default=os.environ.get("POLYMESH_API_KEY", DEMO_KEY),
        help="the AI API key (default: $POLYMESH_API_KEY, else the demo key of ./dev up)",
    )
    parser.add_argument(
        "--picture", metavar="PATH", help="also draw the trace as a PNG waterfall into PATH"
    )
    args = parser.parse_args(argv)

    provider = setup_tracing("polymesh-client")
    instrument_grpc_client()
    try:
        trace_id = asyncio.run(
            calls(args.target, args.api_key, args.ca_file, args.plaintext_target)
        )
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
    for line in east_west(spans):
        say(line)
    say(f"\n{len(spans)} spans; JSON: {args.jaeger}/api/traces/{trace_id}")
    if args.picture:
        path = write_png(spans, args.picture, title=f"The iris Predict, trace {trace_id}")
        say(f"The trace as a picture: {path}")
    provider.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
