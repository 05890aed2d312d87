"""The mesh as background processes that outlive the command: `./dev up`,
`./dev down`, `./dev status`.

    up(resolved)        write the files, start each process in order (in a
                        session of its own, output in {run}/logs/<name>.log,
                        its PID in {run}/<name>.pid), wait until it is ready
    down(resolved)      stop them in reverse order: SIGTERM, SIGKILL after a
                        timeout; only PIDs that a pid file names and that were
                        started before that file was written
    status(resolved)    what runs and where it listens

A process already running (its pid file names a live process of ours) is
left as it is, so `up` twice starts nothing new.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from .config import write_files
from .model import ResolvedMesh, ResolvedProcess

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0


class SupervisorError(RuntimeError):
    """A process exited while starting, or was not ready in time."""


def pid_file(mesh: ResolvedMesh, name: str) -> Path:
    return mesh.folders.run / f"{name}.pid"


def log_file(mesh: ResolvedMesh, name: str) -> Path:
    return mesh.folders.run / "logs" / f"{name}.log"


def _tail(path: Path, lines: int = 20) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _boot_time() -> float:
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    raise OSError("no btime in /proc/stat")


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name, or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie does not; one of ours is reaped)."""
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    fields = _proc_stat(pid)
    return fields is not None and fields[0] != "Z"


def _started_at(pid: int) -> float | None:
    """When `pid` started (seconds since the epoch), from /proc."""
    fields = _proc_stat(pid)
    if fields is None:
        return None
    # Field 22 of stat, the start time in clock ticks after boot; fields[0]
    # here is field 3.
    return _boot_time() + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [a.decode(errors="replace") for a in raw.split(b"\0")[:-1]]


def running_pid(mesh: ResolvedMesh, name: str) -> int | None:
    """The PID of `name` if its pid file names a live process that runs the
    process's command and started before the file was written (not another
    program, nor a later process that reuses the PID)."""
    path = pid_file(mesh, name)
    try:
        pid = int(path.read_text().split()[0])
        written = path.stat().st_mtime
    except (OSError, ValueError, IndexError):
        return None
    if not _alive(pid):
        return None
    started = _started_at(pid)
    if started is None or started > written + 1.0:
        return None
    if _cmdline(pid) != mesh.process(name).argv:
        return None
    return pid


def start(mesh: ResolvedMesh, process: ResolvedProcess) -> int:
    """Starts one process in the background; returns its PID."""
    log = log_file(mesh, process.name)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        popen = subprocess.Popen(
            process.argv,
            env={**os.environ, **process.env},
            cwd=mesh.folders.root,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    # The child is meant to outlive this command: Popen's bookkeeping (a
    # warning, and reaping it later) is turned off; down() reaps it if it
    # is a child of this process.
    popen.returncode = 0
    pid_file(mesh, process.name).write_text(f"{popen.pid}\n")
    return popen.pid


def wait_ready(
    mesh: ResolvedMesh,
    process: ResolvedProcess,
    pid: int,
    timeout: float = READY_TIMEOUT_S,
    ready: Callable[[], bool] | None = None,
) -> None:
    """Waits for the health check; SupervisorError if it exits or times out."""
    ready = ready or process.ready
    deadline = time.monotonic() + timeout
    log = log_file(mesh, process.name)
    while True:
        if not _alive(pid):
            raise SupervisorError(f"{process.name} exited; its log is {log}:\n{_tail(log)}")
        if ready():
            return
        if time.monotonic() >= deadline:
            raise SupervisorError(
                f"{process.name} was not ready within {timeout:.0f} s; its log is {log}:\n"
                f"{_tail(log)}"
            )
        time.sleep(0.2)


def up(
    mesh: ResolvedMesh,
    names: list[str] | None = None,
    timeout: float = READY_TIMEOUT_S,
    say: Callable[[str], None] = lambda _: None,
) -> None:
    """Starts the processes (default: all) in order, each once the previous
    one is ready; those already running are left alone."""
    processes = mesh.processes if names is None else mesh.only(names)
    mesh.folders.run.mkdir(parents=True, exist_ok=True)
    write_files(mesh, processes)
    for process in processes:
        pid = running_pid(mesh, process.name)
        if pid is not None:
            say(f"{process.name} is running (pid {pid})")
            continue
        say(f"starting {process.name}")
        pid = start(mesh, process)
        wait_ready(mesh, process, pid, timeout)


def stop(pid: int, timeout: float = STOP_TIMEOUT_S) -> bool:
    """SIGTERM to `pid`, SIGKILL to its process group after `timeout` s
    (the group it leads: its workers). True if it needed SIGKILL."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() >= deadline:
            with contextlib.suppress(ProcessLookupError):
                if os.getpgid(pid) == pid:
                    os.killpg(pid, signal.SIGKILL)
                else:
                    os.kill(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.05)
            return True
        time.sleep(0.05)
    return False


def down(
    mesh: ResolvedMesh,
    timeout: float = STOP_TIMEOUT_S,
    say: Callable[[str], None] = lambda _: None,
) -> list[str]:
    """Stops every process a pid file names, last started first, and
    removes the pid files; returns the names it stopped, in that order."""
    stopped = []
    for process in reversed(mesh.processes):
        path = pid_file(mesh, process.name)
        if not path.exists():
            continue
        pid = running_pid(mesh, process.name)
        if pid is not None:
            say(f"stopping {process.name} (pid {pid})")
            if stop(pid, timeout):
                say(f"{process.name} did not stop within {timeout:.0f} s: killed")
            stopped.append(process.name)
        path.unlink(missing_ok=True)
    return stopped


@dataclass(frozen=True)
class State:
    name: str
    pid: int | None


def states(mesh: ResolvedMesh) -> list[State]:
    return [State(p.name, running_pid(mesh, p.name)) for p in mesh.processes]


def print_status(mesh: ResolvedMesh, out: TextIO = sys.stdout) -> None:
    """What runs, then every address of the mesh (./dev status, ./dev up)."""
    width = max(len(p.name) for p in mesh.processes)
    for state in states(mesh):
        what = f"running (pid {state.pid})" if state.pid is not None else "stopped"
        print(f"  {state.name:<{width}}  {what}", file=out)
    print(file=out)
    rows: list[tuple[str, str]] = []
    for process in mesh.processes:
        for port in process.ports:
            address = port.address + (f"   ({port.note})" if port.note else "")
            rows.append((port.about, address))
    rows.append(("logs", f"{mesh.folders.run / 'logs'}/"))
    access_log = mesh.gateway.get("access_log", {}).get("path")
    if access_log:
        rows.append(("gateway access log (JSON per call)", access_log))
    label = max(len(r[0]) for r in rows)
    for about, address in rows:
        print(f"  {about:<{label}}  {address}", file=out)
