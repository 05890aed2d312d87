"""The AI API through gateway → aiapi → gateway → inference, and its trace."""

from __future__ import annotations

import urllib.request

import grpc
import joblib
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from polymesh.ai.v1 import ai_pb2, ai_pb2_grpc
from polymesh_client.ai import output_values, rows_request, tensor
from polymesh_client.traces import PREDICT_HOPS, fetch_trace, hops, predict_chain
from polymesh_common.telemetry import setup_tracing
from sklearn.datasets import load_digits, load_iris

from .conftest import MODELS


@pytest.fixture
def ai(keyed):
    return ai_pb2_grpc.AIServiceStub(keyed)


def test_list_models_describes_every_model(ai):
    models = {m.name: m for m in ai.ListModels(ai_pb2.ListModelsRequest(), timeout=10).models}
    assert set(models) >= {"iris", "digits", "diabetes"}
    iris = models["iris"]
    assert iris.ready and iris.platform == "sklearn_joblib"
    assert [(t.name, t.datatype, list(t.shape)) for t in iris.inputs] == [
        ("input", "FP64", [-1, 4])
    ]
    digits = ai.GetModel(ai_pb2.GetModelRequest(name="digits"), timeout=10).model
    assert digits.platform == "onnxruntime_onnx"
    assert [(t.name, t.datatype, list(t.shape)) for t in digits.inputs] == [
        ("input", "FP32", [-1, 64])
    ]
    with pytest.raises(grpc.RpcError) as raised:
        ai.GetModel(ai_pb2.GetModelRequest(name="no-such-model"), timeout=10)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_call_needs_a_known_key(channel):
    stub = ai_pb2_grpc.AIServiceStub(channel)
    request = rows_request("iris", [[5.1, 3.5, 1.4, 0.2]])
    with pytest.raises(grpc.RpcError) as raised:
        stub.Predict(request, timeout=10)
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "x-api-key" in raised.value.details()
    with pytest.raises(grpc.RpcError) as raised:
        stub.Predict(request, timeout=10, metadata=(("x-api-key", "not-a-key"),))
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_a_key_over_its_quota_is_told_when_to_retry(channel):
    stub = ai_pb2_grpc.AIServiceStub(channel)
    request = rows_request("iris", [[5.1, 3.5, 1.4, 0.2]])
    key = (("x-api-key", "polymesh-e2e-limited-key"),)
    stub.Predict(request, timeout=10, metadata=key)  # the burst of one
    with pytest.raises(grpc.RpcError) as raised:
        stub.Predict(request, timeout=10, metadata=key)
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert 'quota exceeded for API key "limited"' in raised.value.details()
    details = status_pb2.Status.FromString(
        dict(raised.value.trailing_metadata())["grpc-status-details-bin"]
    )
    retry = error_details_pb2.RetryInfo()
    assert details.details[0].Unpack(retry)
    assert retry.retry_delay.ToTimedelta().total_seconds() > 1


def test_wrong_tensor_type_is_caught_before_the_inference_tier(ai):
    x = tensor("input", "FP64", (1, 64), [0.0] * 64)
    with pytest.raises(grpc.RpcError) as raised:
        ai.Predict(ai_pb2.PredictRequest(model="digits", inputs=[x]), timeout=10)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details() == (
        'inputs[0].datatype: input "input" of model "digits" is FP32, got FP64'
    )


def test_aiapi_metrics_count_calls(mesh, ai):
    ai.Predict(rows_request("iris", [[5.1, 3.5, 1.4, 0.2]]), timeout=10)
    with urllib.request.urlopen(mesh.aiapi_metrics, timeout=10) as answer:
        text = answer.read().decode()
    assert 'rpc_method="Predict"' in text
    assert "rpc_server_duration_milliseconds_count" in text
    assert "polymesh_aiapi_batch_size_bucket" in text


def test_predict_iris_rows_matches_the_model(ai):
    iris = load_iris()
    rows = iris.data[[0, 55, 140]]
    answer = ai.Predict(rows_request("iris", rows.tolist()), timeout=10)
    labels = output_values(answer, "label")
    assert labels == joblib.load(MODELS / "iris/model.joblib").predict(rows).tolist()
    probabilities = output_values(answer, "probabilities")
    for i in range(3):
        assert sum(probabilities[3 * i : 3 * i + 3]) == pytest.approx(1.0)


def test_predict_digits_tensor(ai):
    digits = load_digits()
    picks = [1, 2, 3, 4]
    x = digits.data[picks].astype("float32")
    answer = ai.Predict(
        ai_pb2.PredictRequest(model="digits", inputs=[tensor("input", "FP32", x.shape, x.ravel())]),
        timeout=10,
    )
    assert output_values(answer, "label") == digits.target[picks].tolist()


def test_predict_stream_goes_on_after_a_failed_request(ai):
    requests = [
        rows_request("iris", [[5.1, 3.5, 1.4, 0.2]], "a"),
        rows_request("no-such-model", [[1.0]], "b"),
        rows_request("iris", [[6.9, 3.2, 5.7, 2.3]], "c"),
    ]
    results = list(
        ai.PredictStream((ai_pb2.PredictStreamRequest(request=r) for r in requests), timeout=10)
    )
    assert [(r.response.id, r.error_code) for r in results] == [
        ("a", 0),
        ("b", grpc.StatusCode.NOT_FOUND.value[0]),
        ("c", 0),
    ]
    assert "no-such-model" in results[1].error_message
    assert output_values(results[2].response, "label") == [2]


def test_bad_input_is_invalid_argument_with_bad_request(ai):
    with pytest.raises(grpc.RpcError) as raised:
        ai.Predict(rows_request("iris", [[1.0, 2.0, 3.0, 4.0], [1.0]]), timeout=10)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = status_pb2.Status.FromString(
        dict(raised.value.trailing_metadata())["grpc-status-details-bin"]
    )
    bad_request = error_details_pb2.BadRequest()
    assert details.details[0].Unpack(bad_request)
    assert bad_request.field_violations[0].field == "rows[1].values"


def test_one_predict_is_one_trace_across_every_hop(mesh, ai):
    exporter = OTLPSpanExporter(endpoint=mesh.otlp, insecure=True)
    provider = setup_tracing("polymesh-client", exporter=exporter, set_global=False)
    tracer = provider.get_tracer("e2e")
    method = "polymesh.ai.v1.AIService/Predict"
    with tracer.start_as_current_span(method, kind=trace.SpanKind.CLIENT) as span:
        carrier: dict[str, str] = {}
        TraceContextTextMapPropagator().inject(carrier)
        ai.Predict(
            rows_request("iris", [[5.1, 3.5, 1.4, 0.2]]),
            metadata=tuple(carrier.items()),
            timeout=10,
        )
        trace_id = format(span.get_span_context().trace_id, "032x")
    provider.shutdown()

    services = ["polymesh-client", "polymesh-gateway", "polymesh-aiapi", "polymesh-inference"]
    spans = fetch_trace(mesh.jaeger, trace_id, services=services, min_spans=10, timeout=20)
    chain = predict_chain(spans)
    leaf = chain[0]
    assert hops(chain) == [*PREDICT_HOPS, ("polymesh-client", "client", method)]
    assert chain[-1].parent_id == ""
    # Inside it, the call's wait for its batch, then the batch's execution.
    internal = {s.name: s for s in spans if s.kind == "internal" and s.parent_id == leaf.span_id}
    assert sorted(internal) == ["model.execute iris", "model.queue iris"]
    queue, execute = internal["model.queue iris"], internal["model.execute iris"]
    assert queue.start_us <= execute.start_us
    assert execute.attributes.get("polymesh.batch.size", 0) >= 1
    for s in chain[:-1]:
        assert s.attributes.get("rpc.system") == "grpc", s
        assert s.attributes.get("rpc.system.name") == "grpc", s
        assert s.attributes.get("rpc.method") == s.name, s
        assert s.attributes.get("rpc.response.status_code") == "OK", s
        assert s.attributes.get("rpc.grpc.status_code") == 0, s
    for s in chain:
        if s.service == "polymesh-gateway" and s.kind == "client":
            assert s.attributes.get("server.address") == "127.0.0.1", s
            assert isinstance(s.attributes.get("server.port"), int), s
    # aiapi's east-west call went to the gateway's TLS listener (mTLS, with
    # its client certificate: the inference route admits no one else here).
    (east_west,) = [s for s in chain if s.service == "polymesh-aiapi" and s.kind == "client"]
    assert east_west.attributes.get("server.port") == int(mesh.gateway_tls.rsplit(":", 1)[1])
