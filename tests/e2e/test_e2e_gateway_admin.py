"""The gateway's admin listener on the running mesh: readiness, the running
configuration, cluster state, and metrics that count the calls it carried."""

from __future__ import annotations

import json
import re
import time
import urllib.request

from polymesh.testing.v1 import echo_pb2, echo_pb2_grpc


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.status, answer.read().decode()


def sample(metrics: str, name: str, **labels: str) -> float:
    """The value of the sample of `name` whose labels include `labels`."""
    for line in metrics.splitlines():
        match = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if match is None or match.group(1) != name:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    return -1.0


def test_ready_config_and_clusters(mesh):
    assert get(f"{mesh.gateway_admin}/ready") == (200, "ready\n")
    assert get(f"{mesh.gateway_admin}/live")[0] == 200
    config = json.loads(get(f"{mesh.gateway_admin}/config_dump")[1])
    assert {r["name"] for r in config["routes"]} >= {"echo", "ai", "inference"}
    clusters = {
        c["name"]: c for c in json.loads(get(f"{mesh.gateway_admin}/clusters")[1])["clusters"]
    }
    assert clusters["echo"]["endpoints"][0]["address"] == "127.0.0.1"
    assert clusters["echo"]["outstanding_requests"] == 0


def test_metrics_count_the_calls_by_route_and_status(mesh, channel):
    echo = echo_pb2_grpc.EchoServiceStub(channel)
    before = get(f"{mesh.gateway_admin}/metrics")[1]
    ok_before = sample(before, "polymesh_gateway_requests_total", route="echo", grpc_code="OK")
    for _ in range(5):
        echo.Unary(echo_pb2.UnaryRequest(text="count me"), timeout=10)
    # The gateway records a call when its stream closes, just after the
    # client has the answer.
    deadline = time.monotonic() + 10
    while True:
        metrics = get(f"{mesh.gateway_admin}/metrics")[1]
        ok = sample(metrics, "polymesh_gateway_requests_total", route="echo", grpc_code="OK")
        if ok - max(ok_before, 0) >= 5 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert ok - max(ok_before, 0) == 5
    assert sample(metrics, "polymesh_gateway_request_duration_seconds_count", route="echo") >= 5
    assert (
        sample(metrics, "polymesh_gateway_upstream_requests_total", cluster="echo", grpc_code="OK")
        >= 5
    )
    assert sample(metrics, "polymesh_gateway_workers") >= 1
    assert sample(metrics, "process_resident_memory_bytes") > 0
