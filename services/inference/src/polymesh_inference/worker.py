"""The model worker process: loads models from the repository folder and runs them.

A worker is started by the server's process pool (pool.py) from a fork server
that has this module, numpy, scikit-learn and ONNX Runtime imported already, so
that a new or replacement worker is ready in milliseconds. It talks to the
server over one stream socket, in frames of an 8-byte little-endian length and
a pickled message (protocol 5), and handles one message at a time, in order:

=====================================================  =======================================
server → worker                                        worker → server
=====================================================  =======================================
``("load", ack, [ModelSpec, ...])``                    ``("loaded", ack, {name: reason})``
``("drop", name, generation)``                         (nothing)
``("run", id, name, generation, inputs, outputs,       ``("done", id, outputs, started, finished)``
params)``                                              or ``("failed", id, traceback, started,
                                                       finished)``
``("stop",)``: exit once earlier messages are done     (the socket closes)
=====================================================  =======================================

Models are keyed by name and generation: a reload in the server is a new
generation, loaded here from the folder when the server says so, while the
previous one serves the calls that still hold it until the server drops it.
Times are time.perf_counter(), the system's monotonic clock, so the server can
compare them with its own. The worker ignores SIGINT and SIGTERM: the server
stops it with "stop", and it exits by itself when the server goes away.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pickle
import signal
import socket
import struct
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .config import ModelConfig
from .runtimes import Runtime

HEADER = struct.Struct("<Q")
"""A frame's header: the length of the pickled message that follows."""


@dataclass(frozen=True)
class ModelSpec:
    """What a worker needs to load one generation of a model on its own."""

    name: str
    generation: int
    folder: str
    """The model's folder in the repository."""
    config: ModelConfig
    runtime_module: str
    """The module defining the runtime class, imported in the worker if needed."""
    runtime_class: str
    runtime_file: str = ""
    """The module's file, for runtime modules that are not importable by name."""


def encode(message: Any) -> bytes:
    """A message as one frame."""
    payload = pickle.dumps(message, protocol=5)
    return HEADER.pack(len(payload)) + payload


def main(sock: socket.socket) -> None:
    """The worker's loop (the target of its multiprocessing.Process)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _limit_threads()
    worker = _Worker(sock)
    try:
        worker.serve()
    except (EOFError, ConnectionError):
        pass  # the server went away: nothing left to answer
    finally:
        sock.close()


def _limit_threads() -> None:
    """One BLAS/OpenMP thread per worker: the pool is the parallelism."""
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1)
    except Exception:  # threadpoolctl is optional for the worker's correctness
        pass


class _Worker:
    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._models: dict[tuple[str, int], Runtime | str] = {}
        """Loaded runtimes, or the reason a load failed, by (name, generation)."""

    def serve(self) -> None:
        while True:
            message = self._receive()
            kind = message[0]
            if kind == "run":
                self._send(self._run(*message[1:]))
            elif kind == "load":
                _, ack, specs = message
                failures = {}
                for spec in specs:
                    reason = self._load(spec)
                    if reason:
                        failures[spec.name] = reason
                self._send(("loaded", ack, failures))
            elif kind == "drop":
                self._models.pop((message[1], message[2]), None)
            elif kind == "stop":
                return
            else:
                raise ValueError(f"unknown message {kind!r}")

    def _load(self, spec: ModelSpec) -> str:
        key = (spec.name, spec.generation)
        if key in self._models:
            return ""
        try:
            cls = _runtime_class(spec)
            runtime = cls(spec.config, Path(spec.folder))
            runtime.load()
        except Exception as err:
            reason = f"{type(err).__name__}: {err}"
            self._models[key] = reason
            return reason
        self._models[key] = runtime
        return ""

    def _run(
        self,
        task: int,
        name: str,
        generation: int,
        inputs: Mapping[str, np.ndarray],
        outputs: Sequence[str],
        parameters: Mapping[str, Any],
    ) -> tuple:
        started = time.perf_counter()
        runtime = self._models.get((name, generation))
        if not isinstance(runtime, Runtime):
            why = runtime or f"generation {generation} was never sent to this worker"
            message = f"model {name!r} is not loaded in worker {os.getpid()}: {why}"
            return ("failed", task, message, started, time.perf_counter())
        try:
            results = runtime.predict(inputs, outputs, parameters)
            results = {k: np.asarray(v) for k, v in results.items()}
        except Exception:
            return ("failed", task, traceback.format_exc(), started, time.perf_counter())
        return ("done", task, results, started, time.perf_counter())

    def _send(self, message: tuple) -> None:
        try:
            frame = encode(message)
        except Exception:  # a result that does not pickle is the model's failure
            frame = encode(("failed", message[1], traceback.format_exc(), message[-2], message[-1]))
        self._sock.sendall(frame)

    def _receive(self) -> tuple:
        (length,) = HEADER.unpack(self._receive_exactly(HEADER.size))
        return pickle.loads(self._receive_exactly(length))

    def _receive_exactly(self, n: int) -> bytearray:
        buffer = bytearray(n)
        view = memoryview(buffer)
        got = 0
        while got < n:
            k = self._sock.recv_into(view[got:])
            if k == 0:
                raise EOFError
            got += k
        return buffer


def _runtime_class(spec: ModelSpec) -> type[Runtime]:
    module = sys.modules.get(spec.runtime_module)
    if module is None:
        try:
            module = importlib.import_module(spec.runtime_module)
        except ImportError:
            if not spec.runtime_file:
                raise
            found = importlib.util.spec_from_file_location(spec.runtime_module, spec.runtime_file)
            if found is None or found.loader is None:
                raise
            module = importlib.util.module_from_spec(found)
            sys.modules[spec.runtime_module] = module
            found.loader.exec_module(module)
    return getattr(module, spec.runtime_class)
