"""The server's settings, read once from the environment."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .metrics import split_address

METRICS_OFF = "off"
"""The POLYMESH_METRICS_ADDR value that turns the metrics endpoint off."""


def available_cores() -> int:
    """The cores this process may run on: os.cpu_count(), narrowed by its CPU
    affinity and by a cgroup v2 CPU quota (a container's --cpus), if any."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            cores = min(cores, -(-int(quota) // int(period)))
    except (OSError, ValueError):
        pass
    return max(cores, 1)


class SettingsError(Exception):
    """The environment does not describe a usable configuration."""


@dataclass(frozen=True)
class Settings:
    """Everything the server is configured with."""

    model_repository: Path
    """The model repository folder, one sub-folder per model
    (POLYMESH_MODEL_REPOSITORY; required)."""
    listen_addr: str = "127.0.0.1:50052"
    """host:port the gRPC server listens on; port 0 picks a free one
    (POLYMESH_LISTEN_ADDR)."""
    workers: int = field(default_factory=available_cores)
    """Worker processes that run models, off the event loop and past the GIL
    (POLYMESH_WORKERS; default one per core the process may use, see
    available_cores). 0 runs models on one thread of the server process
    instead (for tests and tiny deployments)."""
    max_batch_size: int = 32
    """Dynamic batching: the most rows one execution gets, for models whose
    model.yaml sets no max_batch_size (POLYMESH_MAX_BATCH_SIZE; 1 turns
    batching off)."""
    max_queue_delay_s: float = 0.001
    """Dynamic batching: the longest a request waits for others to join it
    while its model is busy, unless the model's model.yaml says otherwise
    (POLYMESH_MAX_QUEUE_DELAY, a duration such as 1ms, 500us or 0.01s; 0
    sends every request at once)."""
    grace_period_s: float = 10.0
    """On SIGTERM, how long in-flight calls may still run before they are
    cancelled (POLYMESH_SHUTDOWN_GRACE_S)."""
    metrics_addr: str = "127.0.0.1:9102"
    """host:port of the Prometheus metrics endpoint (/metrics over HTTP); port 0
    picks a free one; "off" serves none (POLYMESH_METRICS_ADDR)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Reads the settings; raises SettingsError naming the bad variable."""
        env = os.environ if env is None else env
        repository = env.get("POLYMESH_MODEL_REPOSITORY", "")
        if not repository:
            raise SettingsError("POLYMESH_MODEL_REPOSITORY is not set: name the model repository")
        path = Path(repository)
        if not path.is_dir():
            raise SettingsError(f"POLYMESH_MODEL_REPOSITORY={repository}: no such directory")
        kwargs = {}
        if env.get("POLYMESH_LISTEN_ADDR"):
            kwargs["listen_addr"] = env["POLYMESH_LISTEN_ADDR"]
        if env.get("POLYMESH_WORKERS"):
            kwargs["workers"] = _number(env, "POLYMESH_WORKERS", int, minimum=0)
        if env.get("POLYMESH_MAX_BATCH_SIZE"):
            kwargs["max_batch_size"] = _number(env, "POLYMESH_MAX_BATCH_SIZE", int, minimum=1)
        if env.get("POLYMESH_MAX_QUEUE_DELAY"):
            kwargs["max_queue_delay_s"] = _duration(env, "POLYMESH_MAX_QUEUE_DELAY")
        if env.get("POLYMESH_METRICS_ADDR"):
            kwargs["metrics_addr"] = env["POLYMESH_METRICS_ADDR"]
            try:
                if kwargs["metrics_addr"] != METRICS_OFF:
                    split_address(kwargs["metrics_addr"])
            except ValueError:
                raise SettingsError(
                    f"POLYMESH_METRICS_ADDR={env['POLYMESH_METRICS_ADDR']}: expected host:port"
                ) from None
        if env.get("POLYMESH_SHUTDOWN_GRACE_S"):
            kwargs["grace_period_s"] = _number(env, "POLYMESH_SHUTDOWN_GRACE_S", float, minimum=0)
        return cls(model_repository=path, **kwargs)


def _number(env: Mapping[str, str], name: str, kind: type, minimum: float):
    try:
        value = kind(env[name])
    except ValueError:
        raise SettingsError(f"{name}={env[name]}: not a number") from None
    if value < minimum:
        raise SettingsError(f"{name}={env[name]}: must be at least {minimum}")
    return value


_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(us|µs|ms|s)")
_UNITS = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0}


def _duration(env: Mapping[str, str], name: str) -> float:
    """A duration in seconds from 250us, 1.5ms, 0.01s (or a bare 0)."""
    text = env[name].strip()
    if text == "0":
        return 0.0
    match = _DURATION.fullmatch(text)
    if match is None:
        raise SettingsError(f"{name}={env[name]}: expected a duration such as 500us, 2ms or 0.1s")
    return float(match[1]) * _UNITS[match[2]]
