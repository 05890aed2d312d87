"""The readiness probes against real servers on loopback."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from polymesh_mesh.probe import grpc_serving, http_ok
from polymesh_mesh.testing import free_port


@pytest.fixture
def health_server() -> Iterator[tuple[health.HealthServicer, int]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, port
    server.stop(grace=None)


def test_grpc_serving_and_not_serving(health_server: tuple[health.HealthServicer, int]) -> None:
    servicer, port = health_server
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    assert grpc_serving(f"127.0.0.1:{port}")
    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    assert not grpc_serving(f"127.0.0.1:{port}")
    servicer.set("iris", health_pb2.HealthCheckResponse.SERVING)
    assert grpc_serving(f"127.0.0.1:{port}", service="iris")


def test_nothing_listening() -> None:
    assert not grpc_serving(f"127.0.0.1:{free_port()}")
    assert not http_ok(f"http://127.0.0.1:{free_port()}/status")


def test_http_ok() -> None:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/status" else 503)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        assert http_ok(f"http://127.0.0.1:{port}/status")
        assert not http_ok(f"http://127.0.0.1:{port}/other")
    finally:
        server.shutdown()
        server.server_close()
