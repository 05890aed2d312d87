"""Ports and child processes for tests and benchmarks: the one copy.

    port = free_port()                           # free on loopback a moment ago
    a, b, c = free_ports(3)                      # distinct, chosen together
    p = Process.start(resolved.process("users"), logs)   # or Process("name", argv, env, logs)
    p.wait_until(p.ready)                        # fails early if it exits
    code = p.stop()                              # SIGTERM, SIGKILL after a timeout

Only the standard library at import time, so that scripts run by the system
Python (bench/first_run.py) can use it too.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import ResolvedProcess

ROOT = Path(__file__).resolve().parents[4]
HOST = "127.0.0.1"


class ProcessError(RuntimeError):
    """A child process exited early or was not ready in time; the message
    holds the tail of its log."""


def _ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range (32768 by default)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_ports(n: int, host: str = HOST) -> list[int]:
    """n distinct ports that were free on `host` a moment ago, held open
    together while chosen, and below the ephemeral range: outgoing
    connections take their local ports from that range, so none of them can
    take one of these before its server binds it (the port 0 a kernel picks
    is in that range)."""
    low = _ephemeral_low()
    sockets: list[socket.socket] = []
    try:
        for _ in range(100 * n):
            if len(sockets) == n:
                break
            s = socket.socket()
            try:
                s.bind((host, random.randrange(10000, max(low, 10001))))
            except OSError:
                s.close()
                continue
            sockets.append(s)
        else:
            if len(sockets) < n:
                raise OSError(f"no {n} free ports found on {host} below {low}")
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def free_port(host: str = HOST) -> int:
    """A port that was free on `host` a moment ago (see free_ports)."""
    return free_ports(1, host)[0]


def ready_line(log: Path) -> dict[str, object] | None:
    """The ready line of a polymesh process's log (the JSON line whose body is
    "ready", with "address" and more), or None before it is written."""
    if not log.exists():
        return None
    for line in log.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("body") == "ready" and entry.get("address"):
            return entry
    return None


def wait_until(
    condition: Callable[[], bool],
    timeout: float = 60.0,
    interval: float = 0.1,
    what: str = "the condition",
) -> None:
    """Polls `condition` until it is true; TimeoutError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} was not met within {timeout:.0f} s")
        time.sleep(interval)


class Process:
    """A child process with its log file (`logs/<name>.log`, output and
    errors), run from the checkout with the caller's environment plus `env`.
    With `new_session` it leads a process group of its own, so that its
    workers can be found (and killed) with it."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: Mapping[str, str],
        logs: Path,
        *,
        cwd: Path = ROOT,
        new_session: bool = False,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log = Path(logs) / f"{name}.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as out:
            self.popen = subprocess.Popen(
                self.argv,
                env={**os.environ, **env},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                start_new_session=new_session,
            )
        self.ready: Callable[[], bool] = lambda: True

    @classmethod
    def start(
        cls,
        process: ResolvedProcess,
        logs: Path,
        *,
        name: str | None = None,
        new_session: bool = False,
    ) -> Process:
        """Starts a process of the mesh (its argv and environment); its
        `ready` is the mesh file's health check."""
        started = cls(
            name or process.name, process.argv, process.env, logs, new_session=new_session
        )
        started.ready = process.ready
        return started

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def wait_until(self, ready: Callable[[], bool] | None = None, timeout: float = 60.0) -> None:
        """Waits until `ready()` (default: its health check) is true;
        ProcessError if the process exits first or `timeout` passes."""
        ready = ready or self.ready
        deadline = time.monotonic() + timeout
        while True:
            if self.popen.poll() is not None:
                raise ProcessError(
                    f"{self.name} exited with {self.popen.returncode}:\n{self.tail()}"
                )
            if ready():
                return
            if time.monotonic() >= deadline:
                raise ProcessError(f"{self.name} not ready within {timeout:.0f} s:\n{self.tail()}")
            time.sleep(0.1)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, then SIGKILL after `timeout` s; the exit status."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return self.popen.returncode

    def tail(self, lines: int = 30) -> str:
        """The last lines of its log."""
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
