"""Prometheus metrics of the inference server, served over HTTP at /metrics.

Every metric is per model (label ``model``); requests for a model the
repository does not know count under ``model="_unknown"``, so that clients
cannot grow the label set without bound.

==========================================  =========  ====================================
metric                                      type       labels
==========================================  =========  ====================================
polymesh_inference_requests_total           counter    model, code (gRPC status name)
polymesh_inference_errors_total             counter    model, kind (errors.InferenceError.kind)
polymesh_inference_queue_seconds            histogram  model: a call's arrival to execution start
polymesh_inference_execution_seconds        histogram  model: the model's own run time
polymesh_inference_batch_size               histogram  model: rows per execution (merged calls)
polymesh_inference_model_ready              gauge      model: 1 if READY, else 0
==========================================  =========  ====================================

Usage::

    metrics = InferenceMetrics()
    server = metrics.serve("127.0.0.1:9102")   # port 0: any free port
    ...
    server.close()
"""

from __future__ import annotations

import logging
import threading
from typing import Any
from wsgiref.simple_server import WSGIServer

import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)

UNKNOWN_MODEL = "_unknown"
"""The model label of requests naming a model the repository does not know."""

# From 100 µs to 10 s: a scikit-learn call on one row takes well under a
# millisecond, a large batch on the ONNX runtime tens of milliseconds.
TIME_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
BATCH_BUCKETS = tuple(float(2**i) for i in range(13))  # 1 .. 4096


class InferenceMetrics:
    """The server's metrics, in a registry of their own (so that two servers in
    one process do not share counts)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "polymesh_inference_requests",
            "ModelInfer calls answered, by model and gRPC status code.",
            ["model", "code"],
            registry=r,
        )
        self.errors = Counter(
            "polymesh_inference_errors",
            "ModelInfer calls that failed, by model and kind of error.",
            ["model", "kind"],
            registry=r,
        )
        self.queue_seconds = Histogram(
            "polymesh_inference_queue_seconds",
            "Time from a call's arrival to the start of its model execution.",
            ["model"],
            buckets=TIME_BUCKETS,
            registry=r,
        )
        self.execution_seconds = Histogram(
            "polymesh_inference_execution_seconds",
            "Time the model itself ran, per execution.",
            ["model"],
            buckets=TIME_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "polymesh_inference_batch_size",
            "Rows per model execution: the first dimension of the calls merged into it.",
            ["model"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.model_ready = Gauge(
            "polymesh_inference_model_ready",
            "1 while the model is READY, 0 while it is UNAVAILABLE.",
            ["model"],
            registry=r,
        )

        # Labelled children by label values: labels() costs more than a lookup,
        # and these are touched on every call.
        self._children: dict[tuple, Any] = {}

    def _child(self, metric: Any, *values: str) -> Any:
        key = (id(metric), *values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    def observe_request(self, model: str, code: grpc.StatusCode, error_kind: str = "") -> None:
        """Counts one answered call, and its error if it failed."""
        self._child(self.requests, model, code.name).inc()
        if error_kind:
            self._child(self.errors, model, error_kind).inc()

    def observe_queue(self, model: str, queue_s: float) -> None:
        """Records how long one call waited, from its arrival to the start of
        the execution it was part of."""
        self._child(self.queue_seconds, model).observe(max(queue_s, 0.0))

    def observe_execution(self, model: str, batch_size: int, execution_s: float) -> None:
        """Records one model execution: its rows (of every call merged into it)
        and how long the model ran."""
        self._child(self.batch_size, model).observe(batch_size)
        self._child(self.execution_seconds, model).observe(max(execution_s, 0.0))

    def set_model_ready(self, model: str, ready: bool) -> None:
        self.model_ready.labels(model=model).set(1 if ready else 0)

    def serve(self, address: str) -> MetricsServer:
        """Serves /metrics on address (host:port; port 0 picks a free one).

        Raises OSError if the address cannot be bound.
        """
        host, port = split_address(address)
        httpd, thread = start_http_server(port, addr=host, registry=self.registry)
        return MetricsServer(httpd, thread)


class MetricsServer:
    """The running HTTP server of the metrics."""

    def __init__(self, httpd: WSGIServer, thread: threading.Thread) -> None:
        self._httpd = httpd
        self._thread = thread

    @property
    def port(self) -> int:
        return self._httpd.server_port

    def close(self) -> None:
        """Stops serving (blocking until the serving thread has stopped)."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


def split_address(address: str) -> tuple[str, int]:
    """host:port (or [v6]:port) to (host, port); raises ValueError if malformed."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{address!r}: expected host:port")
    return host.strip("[]"), int(port)
