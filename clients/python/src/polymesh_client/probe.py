"""Is a process of the local mesh ready? Exit status 0 if so, 1 if not.

    python -m polymesh_client.probe gateway|aiapi|inference|users|users-py|jaeger

gRPC processes are asked through grpc.health.v1 (overall status ""); Jaeger
through its HTTP health endpoint. Addresses come from the same environment
variables as `./dev up` (POLYMESH_HOST, POLYMESH_GATEWAY_PORT, ...), with the
same defaults.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

# Each gRPC process: the variable holding its port, and its default.
GRPC_PORTS = {
    "gateway": ("POLYMESH_GATEWAY_PORT", 8080),
    "aiapi": ("POLYMESH_AIAPI_PORT", 50051),
    "inference": ("POLYMESH_INFERENCE_PORT", 50052),
    "users": ("POLYMESH_USERS_PORT", 50053),
    "users-py": ("POLYMESH_USERS_PY_PORT", 50054),
}
JAEGER_HEALTH_PORT = ("POLYMESH_JAEGER_HEALTH_PORT", 13133)
USAGE = "gateway|aiapi|inference|users|users-py|jaeger"


def _port(variable: str, default: int) -> int:
    return int(os.environ.get(variable, default))


def grpc_serving(target: str, timeout: float = 1.0) -> bool:
    """True if `target` answers grpc.health.v1 Check("") with SERVING."""
    with grpc.insecure_channel(target) as channel:
        try:
            answer = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=timeout
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


def ready(name: str) -> bool:
    """Whether the process `name` of the local mesh is ready."""
    host = os.environ.get("POLYMESH_HOST", "127.0.0.1")
    if name == "jaeger":
        return http_ok(f"http://{host}:{_port(*JAEGER_HEALTH_PORT)}/status")
    if name in GRPC_PORTS:
        return grpc_serving(f"{host}:{_port(*GRPC_PORTS[name])}")
    raise ValueError(f"unknown process {name!r}; known: jaeger, {', '.join(GRPC_PORTS)}")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(f"usage: python -m polymesh_client.probe {USAGE}", file=sys.stderr)
        return 2
    try:
        return 0 if ready(argv[0]) else 1
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
