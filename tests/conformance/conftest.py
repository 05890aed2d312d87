"""Both implementations of polymesh.users.v1.UserService as real processes.

Each runs on a port the OS picks (POLYMESH_LISTEN_ADDR=127.0.0.1:0; the port
is read from its ready log line) with its own SQLite file in a temporary
folder, and is stopped with SIGTERM, by PID, at the end, where it must exit 0.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from polymesh.users.v1 import users_pb2_grpc
from polymesh_mesh.testing import ready_line

ROOT = Path(__file__).resolve().parents[2]
GO_BIN = ROOT / "build/bin/users"
PYTHON = ROOT / ".venv/bin/python"
HOST = "127.0.0.1"
IMPLEMENTATIONS = ("go", "python")


@dataclass
class Service:
    """One running implementation."""

    name: str
    address: str
    db: Path
    popen: subprocess.Popen
    log: Path

    def channel(self) -> grpc.Channel:
        return grpc.insecure_channel(self.address)

    def stop(self) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return self.popen.returncode


def _argv(name: str) -> list[str]:
    if name == "go":
        if not GO_BIN.exists():
            pytest.fail(f"{GO_BIN.relative_to(ROOT)} is missing: run ./dev build")
        return [str(GO_BIN)]
    return [str(PYTHON), "-m", "polymesh_users"]


def start_service(name: str, folder: Path, timeout_s: float = 30.0) -> Service:
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "users.db"
    log = folder / f"{name}.log"
    env = {
        **os.environ,
        "POLYMESH_LISTEN_ADDR": f"{HOST}:0",
        "POLYMESH_USERS_DB": str(db),
        "POLYMESH_METRICS_ADDR": "off",
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_SDK_DISABLED": "true",
    }
    with log.open("wb") as out:
        popen = subprocess.Popen(
            _argv(name), env=env, stdout=out, stderr=subprocess.STDOUT, cwd=folder
        )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            pytest.fail(f"{name} exited with {popen.returncode}:\n{log.read_text()}")
        ready = ready_line(log)
        if ready:
            address = str(ready["address"])
            service = Service(name, address, db, popen, log)
            with service.channel() as channel:
                grpc.channel_ready_future(channel).result(timeout=timeout_s)
            return service
        time.sleep(0.05)
    popen.kill()
    popen.wait()
    pytest.fail(f"{name} did not serve within {timeout_s:.0f}s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Service]]:
    """Both implementations, fresh databases, for one test module."""
    root = tmp_path_factory.mktemp("users-conformance")
    started: dict[str, Service] = {}
    try:
        for name in IMPLEMENTATIONS:
            started[name] = start_service(name, root / name)
        yield started
    finally:
        codes = {name: service.stop() for name, service in started.items()}
    for name, code in codes.items():
        assert code == 0, f"{name} exited with {code}:\n{started[name].log.read_text()}"


@pytest.fixture(scope="module")
def stubs(services: dict[str, Service]) -> Iterator[dict[str, users_pb2_grpc.UserServiceStub]]:
    channels = {name: service.channel() for name, service in services.items()}
    try:
        yield {name: users_pb2_grpc.UserServiceStub(ch) for name, ch in channels.items()}
    finally:
        for channel in channels.values():
            channel.close()
