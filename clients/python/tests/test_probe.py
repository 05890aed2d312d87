"""Tests of the readiness probe against real servers on loopback."""

import socket
from concurrent import futures

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from polymesh_client import probe


@pytest.fixture
def health_server():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, port
    server.stop(grace=None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    ("name", "variable"), [("aiapi", "POLYMESH_AIAPI_PORT"), ("users", "POLYMESH_USERS_PORT")]
)
def test_serving_and_not_serving(health_server, monkeypatch, name, variable):
    servicer, port = health_server
    monkeypatch.setenv(variable, str(port))
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    assert probe.main([name]) == 0
    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    assert probe.main([name]) == 1


def test_nothing_listening(monkeypatch):
    monkeypatch.setenv("POLYMESH_INFERENCE_PORT", str(_free_port()))
    assert probe.main(["inference"]) == 1
    monkeypatch.setenv("POLYMESH_JAEGER_HEALTH_PORT", str(_free_port()))
    assert probe.main(["jaeger"]) == 1


def test_unknown_name_and_usage():
    assert probe.main(["nginx"]) == 2
    assert probe.main([]) == 2
