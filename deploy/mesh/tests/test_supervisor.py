"""The supervisor on real processes: a tiny grpc.health.v1 server per
process of a mesh file of the test's own."""

from __future__ import annotations

import io
import os
import sys
import time
from pathlib import Path

import pytest
from polymesh_mesh import supervisor
from polymesh_mesh.model import Folders, ResolvedMesh, parse
from polymesh_mesh.testing import free_ports

SERVER = Path(__file__).with_name("health_server.py")

MESH = """
processes:
  - name: first
    command: ["{python}", "{server}"]
    environment: {{ PORT: "${{POLYMESH_FIRST_PORT}}", NAME: first, STOP_LOG: "{{run}}/stopped" }}
    ports: [{{ variable: POLYMESH_FIRST_PORT, default: 1, about: first }}]
    health: {{ grpc: POLYMESH_FIRST_PORT }}
  - name: second
    command: ["{python}", "{server}"]
    environment:
      PORT: "${{POLYMESH_SECOND_PORT}}"
      NAME: second
      STOP_LOG: "{{run}}/stopped"
      IGNORE_TERM: "{ignore}"
    ports: [{{ variable: POLYMESH_SECOND_PORT, default: 2, about: second, note: "in {{run}}" }}]
    health: {{ grpc: POLYMESH_SECOND_PORT }}
gateway: {{}}
"""


def tiny_mesh(tmp_path: Path, ignore_term: bool = False) -> ResolvedMesh:
    text = MESH.format(python=sys.executable, server=SERVER, ignore="1" if ignore_term else "")
    mesh = parse(text, tmp_path / "mesh.yaml")
    first, second = free_ports(2)
    run = tmp_path / "run"
    folders = Folders(root=tmp_path, build=tmp_path, venv=tmp_path, tools=tmp_path, run=run)
    overrides = {"POLYMESH_FIRST_PORT": first, "POLYMESH_SECOND_PORT": second}
    return mesh.resolve(folders, {}, overrides)


def test_up_status_down(tmp_path: Path) -> None:
    mesh = tiny_mesh(tmp_path)
    said: list[str] = []
    try:
        supervisor.up(mesh, timeout=30, say=said.append)
        assert said == ["starting first", "starting second"]
        pids = {s.name: s.pid for s in supervisor.states(mesh)}
        assert all(pids.values()), pids
        for name, pid in pids.items():
            assert (tmp_path / f"run/{name}.pid").read_text() == f"{pid}\n"
            assert (tmp_path / f"run/logs/{name}.log").exists()
        assert all(p.ready() for p in mesh.processes)

        # Again: nothing new starts.
        said.clear()
        supervisor.up(mesh, timeout=30, say=said.append)
        assert said == [
            f"first is running (pid {pids['first']})",
            f"second is running (pid {pids['second']})",
        ]

        out = io.StringIO()
        supervisor.print_status(mesh, out)
        text = out.getvalue()
        assert f"first   running (pid {pids['first']})" in text
        port = mesh.process("second").port("POLYMESH_SECOND_PORT")
        assert f"127.0.0.1:{port}   (in {tmp_path / 'run'})" in text
    finally:
        stopped = supervisor.down(mesh, timeout=10)
    # Last started, first stopped; each got SIGTERM and exited by itself.
    assert stopped == ["second", "first"]
    assert (tmp_path / "run/stopped").read_text() == "second\nfirst\n"
    assert not list((tmp_path / "run").glob("*.pid"))
    assert [s.pid for s in supervisor.states(mesh)] == [None, None]


def test_down_kills_what_ignores_sigterm(tmp_path: Path) -> None:
    mesh = tiny_mesh(tmp_path, ignore_term=True)
    said: list[str] = []
    try:
        supervisor.up(mesh, timeout=30)
        pid = supervisor.running_pid(mesh, "second")
        assert pid is not None
    finally:
        began = time.monotonic()
        supervisor.down(mesh, timeout=1, say=said.append)
    assert "second did not stop within 1 s: killed" in said
    assert time.monotonic() - began < 10
    assert (tmp_path / "run/stopped").read_text() == "first\n"
    assert not supervisor._alive(pid)


def test_pid_files_naming_other_processes_are_left_alone(tmp_path: Path) -> None:
    mesh = tiny_mesh(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    # This test's own process: alive, but not the command of `first`.
    (run / "first.pid").write_text(f"{os.getpid()}\n")
    # A process that no longer exists.
    (run / "second.pid").write_text("999999999\n")
    assert supervisor.running_pid(mesh, "first") is None
    assert supervisor.running_pid(mesh, "second") is None
    assert supervisor.down(mesh) == []
    assert not list(run.glob("*.pid")), "stale pid files are removed"


def test_a_process_that_exits_fails_up_with_its_log(tmp_path: Path) -> None:
    mesh = tiny_mesh(tmp_path)
    broken = mesh.process("first").with_argv([sys.executable, "-c", "print('no luck'); exit(3)"])
    mesh = ResolvedMesh(mesh.host, mesh.values, mesh.folders, [broken], mesh.gateway)
    with pytest.raises(supervisor.SupervisorError, match=r"(?s)first exited.*no luck"):
        supervisor.up(mesh, timeout=30)
    supervisor.down(mesh)
