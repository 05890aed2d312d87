"""Where models run, never on the event loop: worker processes, or one thread.

A Runner has a number of slots, each running one execution at a time; the
batcher (batching.py) hands it a batch only when a slot is idle, so that
requests wait, and merge, in the batcher rather than behind a busy worker.

ProcessPool (POLYMESH_WORKERS >= 1) runs models in worker processes
(worker.py), so CPU-bound models use every core past the GIL. Each worker
loads the repository's models itself, from their folders, keyed by name and
generation: add() is sent to every worker before a newly loaded generation
serves its first call (one ordered socket per worker, so a worker always has
it by then), and drop() once the last call holding a replaced or unloaded
generation is done. Inputs and outputs travel pickled (protocol 5). A worker
that exits unexpectedly fails its call in flight with WorkerExited and is
replaced by a new one, which loads every model being served.

ThreadRunner (POLYMESH_WORKERS=0) runs models on one thread of the server.

Usage::

    runner = ProcessPool(size=2)
    runner.set_on_idle(callback)         # a slot became idle
    await runner.start(models)           # the workers have loaded the models
    if runner.idle():
        execution = await runner.submit(model, inputs, outputs, parameters)
    await runner.stop(grace_s=10)        # after the last call
"""

from __future__ import annotations

import abc
import asyncio
import functools
import itertools
import logging
import multiprocessing
import pickle
import signal
import socket
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import worker as worker_module
from .repository import Model
from .runtimes import Runtime
from .worker import HEADER, ModelSpec, encode

log = logging.getLogger(__name__)


@dataclass
class Execution:
    """What one model execution gave, and when it ran (time.perf_counter)."""

    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    started: float = 0.0
    finished: float = 0.0
    error: BaseException | None = None
    """What the model raised, if it did, or WorkerExited."""


class ModelRaised(Exception):
    """A model raised inside a worker process; the message is the worker's
    traceback (for the log, never for a client)."""


class WorkerExited(Exception):
    """The worker process running an execution exited before answering."""


class Runner(abc.ABC):
    """Runs model executions off the event loop, one per slot at a time."""

    def __init__(self) -> None:
        self._on_idle: Callable[[], None] = lambda: None

    def set_on_idle(self, callback: Callable[[], None]) -> None:
        """callback() runs on the event loop whenever a slot becomes idle."""
        self._on_idle = callback

    @abc.abstractmethod
    def idle(self) -> int:
        """How many slots could start an execution now."""

    async def start(self, models: Sequence[Model]) -> None:  # noqa: B027 (optional)
        """Gets ready to run the given (READY) models."""

    def add(self, model: Model) -> None:  # noqa: B027 (optional)
        """A newly loaded generation of a model is about to serve."""

    def drop(self, model: Model) -> None:  # noqa: B027 (optional)
        """A generation no call holds any more: its memory may go."""

    @abc.abstractmethod
    def submit(
        self,
        model: Model,
        inputs: Mapping[str, np.ndarray],
        outputs: Sequence[str],
        parameters: Mapping[str, Any],
    ) -> asyncio.Future[Execution]:
        """Starts model on inputs in an idle slot (raises RuntimeError if none
        is); the future never fails for the model's own error, which is
        Execution.error. The slot is busy from this call until the result is in."""

    @abc.abstractmethod
    async def stop(self, grace_s: float) -> None:
        """Finishes the executions under way (within grace_s) and stops."""

    def pids(self) -> list[int]:
        """The worker processes' ids (none for in-process runners)."""
        return []


def run_model(
    runtime: Runtime,
    inputs: Mapping[str, np.ndarray],
    outputs: Sequence[str],
    parameters: Mapping[str, Any],
) -> Execution:
    """Runs a runtime here and now (blocking), timing it."""
    started = time.perf_counter()
    try:
        results = runtime.predict(inputs, outputs, parameters)
    except Exception as err:
        return Execution(started=started, finished=time.perf_counter(), error=err)
    return Execution(outputs=results, started=started, finished=time.perf_counter())


class ThreadRunner(Runner):
    """One slot: a thread of the server process (POLYMESH_WORKERS=0)."""

    def __init__(self) -> None:
        super().__init__()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
        self._busy = False

    def idle(self) -> int:
        return 0 if self._busy else 1

    def submit(self, model, inputs, outputs, parameters) -> asyncio.Future[Execution]:
        if self._busy:
            raise RuntimeError("no idle slot")
        call = functools.partial(run_model, model.runtime, inputs, outputs, parameters)
        future = asyncio.get_running_loop().run_in_executor(self._executor, call)
        self._busy = True
        future.add_done_callback(self._finished)
        return future

    def _finished(self, _: asyncio.Future) -> None:
        self._busy = False
        self._on_idle()

    async def stop(self, grace_s: float) -> None:
        await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)


class ProcessPool(Runner):
    """A fixed number of worker processes, each one slot; crashed ones are replaced."""

    def __init__(self, size: int) -> None:
        super().__init__()
        if size < 1:
            raise ValueError("a process pool needs at least one worker")
        self.size = size
        self._workers: list[_Worker] = []
        self._specs: dict[tuple[str, int], ModelSpec] = {}
        """Every generation being served or still held: what a new worker loads."""
        self._ids = itertools.count(1)
        self._stopping = False
        self._quick_exits = 0
        self._tasks: set[asyncio.Task] = set()
        self._context = multiprocessing.get_context("forkserver")

    def idle(self) -> int:
        return sum(1 for w in self._workers if w.idle)

    def pids(self) -> list[int]:
        return [w.process.pid for w in self._workers if w.process.pid is not None]

    async def start(self, models: Sequence[Model]) -> None:
        preload = {worker_module.__name__}
        for model in models:
            if model.ready and model.runtime is not None:
                self._specs[_key(model)] = _spec(model)
                preload.update(model.runtime.modules())
        # The fork server (one per server process, started by the first worker)
        # imports these once; every worker forks from it ready to load models.
        self._context.set_forkserver_preload(sorted(preload))
        loads = []
        for _ in range(self.size):
            loads.append(await self._spawn())
        for failures in await asyncio.gather(*loads):
            self._log_failures(failures)
        log.info("model workers ready", extra={"workers": self.pids()})

    def add(self, model: Model) -> None:
        spec = _spec(model)
        self._specs[_key(model)] = spec
        for w in self._workers:
            self._watch(w.load([spec]))

    def drop(self, model: Model) -> None:
        if self._specs.pop(_key(model), None) is None:
            return
        for w in self._workers:
            w.send(("drop", model.name, model.generation))

    def submit(self, model, inputs, outputs, parameters) -> asyncio.Future[Execution]:
        w = next((w for w in self._workers if w.idle), None)
        if w is None:
            raise RuntimeError("no idle worker")
        task = next(self._ids)
        message = ("run", task, model.name, model.generation, inputs, outputs, parameters)
        w.send(message)
        future = asyncio.get_running_loop().create_future()
        w.task = (task, future, model.name)
        return future

    async def stop(self, grace_s: float) -> None:
        self._stopping = True
        workers = list(self._workers)
        for w in workers:
            w.send(("stop",))
        for w in workers:
            await asyncio.to_thread(w.process.join, grace_s)
            if w.process.is_alive():
                log.warning("model worker did not stop in time", extra={"pid": w.process.pid})
                w.process.kill()
                await asyncio.to_thread(w.process.join)
            w.close()
        self._workers.clear()
        for task in list(self._tasks):
            task.cancel()

    async def _spawn(self) -> asyncio.Future:
        """Starts a worker; returns the future of its loading every model."""
        parent, child = socket.socketpair()
        process = self._context.Process(
            target=worker_module.main, args=(child,), name="polymesh-model-worker", daemon=True
        )
        try:
            await asyncio.to_thread(process.start)
        finally:
            child.close()
        w = _Worker(process, self)
        await asyncio.get_running_loop().create_unix_connection(lambda: _Channel(w), sock=parent)
        self._workers.append(w)
        log.debug("model worker started", extra={"pid": process.pid})
        return w.load(list(self._specs.values()))

    def _lost(self, w: _Worker) -> None:
        """A worker's socket closed: it exited (or is about to)."""
        if w in self._workers:
            self._workers.remove(w)
        w.fail_all()
        if not self._stopping:
            self._watch(self._replace(w))

    async def _replace(self, w: _Worker) -> None:
        await asyncio.to_thread(w.process.join, 5)
        if w.process.is_alive():
            w.process.kill()
            await asyncio.to_thread(w.process.join)
        code = w.process.exitcode
        how = f"signal {signal.Signals(-code).name}" if code and code < 0 else f"exit code {code}"
        log.error("model worker exited", extra={"pid": w.process.pid, "how": how})
        # A worker that dies right after it starts (a model that crashes it on
        # load) is replaced after a growing pause, not in a tight loop.
        self._quick_exits = self._quick_exits + 1 if time.monotonic() - w.born < 1 else 0
        if self._quick_exits:
            await asyncio.sleep(min(0.1 * 2 ** (self._quick_exits - 1), 5.0))
        if self._stopping:
            return
        loaded = await self._spawn()
        log.info("model worker replaced", extra={"exited": w.process.pid, "workers": self.pids()})
        self._on_idle()
        self._log_failures(await loaded)

    def _watch(self, awaitable) -> None:
        """Runs awaitable in the background, logging what it raises."""

        async def watched():
            result = await awaitable
            if isinstance(result, dict):
                self._log_failures(result)

        task = asyncio.ensure_future(watched())
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("model worker management failed", exc_info=task.exception())

    def _log_failures(self, failures: dict[str, str]) -> None:
        for name, reason in failures.items():
            log.error("model not loaded in a worker", extra={"model": name, "reason": reason})


class _Worker:
    """The server's side of one worker process."""

    def __init__(self, process: multiprocessing.process.BaseProcess, pool: ProcessPool) -> None:
        self.process = process
        self.pool = pool
        self.born = time.monotonic()
        self.transport: asyncio.Transport | None = None
        self.task: tuple[int, asyncio.Future, str] | None = None
        """The execution under way: its id, its future and the model's name."""
        self.acks: dict[int, asyncio.Future] = {}
        self.alive = True

    @property
    def idle(self) -> bool:
        return self.alive and self.task is None and self.transport is not None

    def send(self, message: tuple) -> None:
        if self.alive and self.transport is not None:
            self.transport.write(encode(message))

    def load(self, specs: list[ModelSpec]) -> asyncio.Future:
        ack = next(self.pool._ids)
        future = asyncio.get_running_loop().create_future()
        if not self.alive:
            future.set_result({})
            return future
        self.acks[ack] = future
        self.send(("load", ack, specs))
        return future

    def received(self, message: tuple) -> None:
        kind = message[0]
        if kind in ("done", "failed"):
            task = self.task
            if task is None or task[0] != message[1]:
                return
            self.task = None
            self.pool._on_idle()
            if task[1].done():  # cancelled
                return
            if kind == "done":
                task[1].set_result(
                    Execution(outputs=message[2], started=message[3], finished=message[4])
                )
            else:
                task[1].set_result(
                    Execution(
                        started=message[3], finished=message[4], error=ModelRaised(message[2])
                    )
                )
        elif kind == "loaded":
            future = self.acks.pop(message[1], None)
            if future is not None and not future.done():
                future.set_result(message[2])

    def fail_all(self) -> None:
        self.alive = False
        now = time.perf_counter()
        if self.task is not None and not self.task[1].done():
            error = WorkerExited(f"worker {self.process.pid} exited running {self.task[2]!r}")
            self.task[1].set_result(Execution(started=now, finished=now, error=error))
        for future in self.acks.values():
            if not future.done():
                future.set_result({})
        self.acks.clear()

    def close(self) -> None:
        self.alive = False
        if self.transport is not None:
            self.transport.close()


class _Channel(asyncio.Protocol):
    """Frames in, messages out, for one worker's socket."""

    def __init__(self, w: _Worker) -> None:
        self._worker = w
        self._buffer = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._worker.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        while len(buffer) >= HEADER.size:
            (length,) = HEADER.unpack_from(buffer)
            end = HEADER.size + length
            if len(buffer) < end:
                return
            message = pickle.loads(buffer[HEADER.size : end])
            del buffer[:end]
            self._worker.received(message)

    def connection_lost(self, exc: Exception | None) -> None:
        self._worker.pool._lost(self._worker)


def _key(model: Model) -> tuple[str, int]:
    return model.name, model.generation


def _spec(model: Model) -> ModelSpec:
    runtime = model.runtime
    assert runtime is not None and model.config is not None
    cls = type(runtime)
    module = sys.modules.get(cls.__module__)
    return ModelSpec(
        name=model.name,
        generation=model.generation,
        folder=str(Path(runtime.model_dir).absolute()),
        config=model.config,
        runtime_module=cls.__module__,
        runtime_class=cls.__qualname__,
        runtime_file=getattr(module, "__file__", "") or "",
    )
