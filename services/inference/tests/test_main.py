"""The server as a process: start-up errors and graceful stop on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
import urllib.request
from pathlib import Path

import grpc.aio
import numpy as np
import pytest
from inference import grpc_service_pb2 as pb
from inference import grpc_service_pb2_grpc as pb_grpc

TIMEOUT_S = 60


def server_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "POLYMESH_"))}
    env.update(
        OTEL_TRACES_EXPORTER="console",
        OTEL_SEMCONV_STABILITY_OPT_IN="rpc/dup",
        POLYMESH_LISTEN_ADDR="127.0.0.1:0",
        POLYMESH_METRICS_ADDR="127.0.0.1:0",
    )
    env.update(overrides)
    return env


async def start(env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "polymesh_inference",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def wait_for_log(process, message: str) -> dict:
    """Reads the JSON log lines on stderr until one has this message."""
    while True:
        line = await asyncio.wait_for(process.stderr.readline(), TIMEOUT_S)
        if not line:
            raise AssertionError(f"the server exited before logging {message!r}")
        entry = json.loads(line)
        if entry["body"] == message:
            return entry


def descendants(pid: int) -> set[int]:
    """The processes below pid (its children, theirs, ...), from /proc."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def wait_gone(pids: set[int]) -> set[int]:
    """Those of pids that still exist after a while (empty once all are gone)."""
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        left = {pid for pid in pids if Path(f"/proc/{pid}").exists()}
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("repository", "want"),
    [
        (None, "POLYMESH_MODEL_REPOSITORY is not set"),
        ("missing", "no such directory"),
        ("empty", "no models in"),
    ],
)
async def test_configuration_errors_exit_2(tmp_path, repository, want):
    env = server_env()
    if repository == "missing":
        env["POLYMESH_MODEL_REPOSITORY"] = str(tmp_path / "missing")
    elif repository == "empty":
        env["POLYMESH_MODEL_REPOSITORY"] = str(tmp_path)
    process = await start(env)
    _, stderr = await asyncio.wait_for(process.communicate(), TIMEOUT_S)
    assert process.returncode == 2
    entries = [json.loads(line) for line in stderr.decode().splitlines()]
    assert any(e["severity"] == "ERROR" and want in e["body"] for e in entries), entries


async def test_metrics_address_in_use_exits_2(model_repository):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = server_env(
            POLYMESH_MODEL_REPOSITORY=str(model_repository),
            POLYMESH_METRICS_ADDR=f"127.0.0.1:{port}",
        )
        process = await start(env)
        _, stderr = await asyncio.wait_for(process.communicate(), TIMEOUT_S)
    assert process.returncode == 2
    entries = [json.loads(line) for line in stderr.decode().splitlines()]
    assert any(e["body"].startswith("cannot serve") for e in entries), entries


async def test_sigterm_stops_gracefully_and_flushes_spans(model_repository):
    process = await start(
        server_env(POLYMESH_MODEL_REPOSITORY=str(model_repository), POLYMESH_WORKERS="2")
    )
    try:
        ready = await wait_for_log(process, "ready")
        assert "iris" in ready["models"]
        assert ready["workers"] == 2
        assert ready["service.name"] == "polymesh-inference"
        assert ready["severity"] == "INFO"
        # The two workers, and the fork server they were forked from.
        helpers = await asyncio.to_thread(descendants, process.pid)
        assert len(helpers) >= 3, helpers
        async with grpc.aio.insecure_channel(ready["address"]) as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            request = pb.ModelInferRequest(model_name="iris")
            request.inputs.add(name="input", datatype="FP32", shape=[1, 4])
            request.raw_input_contents.append(np.ones(4, dtype="<f4").tobytes())
            response = await stub.ModelInfer(request)
            assert [t.name for t in response.outputs] == ["label", "probabilities"]
        metrics = await asyncio.to_thread(
            lambda: (
                urllib.request.urlopen(f"http://{ready['metrics_address']}/metrics").read().decode()
            )
        )
        assert 'polymesh_inference_requests_total{code="OK",model="iris"} 1.0' in metrics

        process.send_signal(signal.SIGTERM)
        stdout, stderr = await asyncio.wait_for(process.communicate(), TIMEOUT_S)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0
    assert await asyncio.to_thread(wait_gone, helpers) == set()
    messages = [json.loads(line)["body"] for line in stderr.decode().splitlines()]
    assert "signal received, stopping" in messages
    assert messages[-1] == "stopped"
    # The spans were still buffered at SIGTERM; stopping exported them.
    spans = stdout.decode()
    assert '"name": "inference.GRPCInferenceService/ModelInfer"' in spans
    assert '"name": "model.execute iris"' in spans
