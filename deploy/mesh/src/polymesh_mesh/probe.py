"""Is a server ready? grpc.health.v1 for gRPC processes, an HTTP GET for
the others (Jaeger's health endpoint).

    grpc_serving("127.0.0.1:50051")                 # Check("") answers SERVING
    http_ok("http://127.0.0.1:13133/status")        # GET answers 200
"""

from __future__ import annotations

import urllib.error
import urllib.request

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def grpc_serving(target: str, timeout: float = 1.0, service: str = "") -> bool:
    """True if `target` answers grpc.health.v1 Check(service) with SERVING."""
    with grpc.insecure_channel(target) as channel:
        try:
            answer = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout
            )
        except grpc.RpcError:
            return False
    return answer.status == health_pb2.HealthCheckResponse.SERVING


def http_ok(url: str, timeout: float = 1.0) -> bool:
    """True if GET `url` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False
