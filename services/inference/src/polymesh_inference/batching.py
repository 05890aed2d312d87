"""Dynamic batching: concurrent requests for one model merged into one execution.

Requests for the same model (and generation) with the same signature (input
datatypes and shapes past the first dimension, requested outputs, parameters)
join one open batch: their inputs are concatenated along the first dimension,
the model runs once, and each request gets its rows of every output back.
Only models whose inputs and outputs all have a variable first dimension are
batched (ModelConfig.batchable); others run one request per execution.

A batch becomes ready to run when

- it is full: it has max_batch_size rows, or the next request would not fit;
- its model is idle: no execution of the model is under way, so there is
  nothing to wait for (a lone request runs at once, with no added latency);
- its first request has waited max_queue_delay (0: at once); or
- the server is draining (shutting down).

Ready batches run, oldest first, as soon as the runner has an idle slot (a
worker process or the thread); until then they keep taking requests up to
max_batch_size. So under load requests gather while the model runs and the
next execution takes all of them, and a slow model gets a second worker after
max_queue_delay.

Usage::

    batcher = Batcher(runner, BatchPolicy(max_batch_size=32, max_queue_delay_s=0.001))
    outcome = await batcher.submit(model, inputs, outputs, parameters)
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .config import ModelConfig
from .pool import Execution, Runner
from .repository import Model

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchPolicy:
    """When batches close; the server's defaults, which model.yaml may override."""

    max_batch_size: int = 32
    """The most rows one execution gets; 1 turns batching off."""
    max_queue_delay_s: float = 0.001
    """The longest a request waits for others while its model is busy."""


@dataclass
class Outcome:
    """What one request got from the execution its batch was part of
    (times are time.perf_counter())."""

    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    """This request's rows of every output the model gave."""
    error: BaseException | None = None
    """Why the execution failed, if it did (for every request of the batch)."""
    enqueued: float = 0.0
    """When the request joined its batch."""
    dispatched: float = 0.0
    """When its batch was handed to a worker."""
    started: float = 0.0
    """When the model started running (in the worker)."""
    finished: float = 0.0
    """When the model finished."""
    answered: float = 0.0
    """When the result was back in the server."""
    batch_rows: int = 0
    """Rows of the execution: this request's and those merged with it."""
    batch_requests: int = 0
    """Requests merged into the execution."""


class _Request:
    __slots__ = ("enqueued", "future", "inputs", "rows")

    def __init__(self, inputs: Mapping[str, np.ndarray], rows: int, future: asyncio.Future):
        self.inputs = inputs
        self.rows = rows
        self.future = future
        self.enqueued = time.perf_counter()


class _Batch:
    __slots__ = ("key", "model", "outputs", "parameters", "ready", "requests", "rows", "timer")

    def __init__(self, key: Any, model: Model, outputs: Sequence[str], parameters: Mapping):
        self.key = key
        self.model = model
        self.outputs = outputs
        self.parameters = parameters
        self.requests: list[_Request] = []
        self.rows = 0
        self.ready = False
        self.timer: asyncio.TimerHandle | None = None


class Batcher:
    """Queues requests per model and signature, and feeds batches to a Runner."""

    def __init__(
        self,
        runner: Runner,
        defaults: BatchPolicy,
        on_execution: Callable[[str, int, float], None] | None = None,
    ) -> None:
        """on_execution(model name, rows, seconds) is called once per execution."""
        self.runner = runner
        self.defaults = defaults
        self._on_execution = on_execution or (lambda *_: None)
        runner.set_on_idle(self._pump)
        self._open: dict[Any, _Batch] = {}
        """Batches still taking requests, by (model name, generation, signature)."""
        self._ready: collections.deque[_Batch] = collections.deque()
        self._running: collections.Counter[tuple[str, int]] = collections.Counter()
        self._waiting: collections.Counter[str] = collections.Counter()
        self._holds: collections.Counter[tuple[str, int]] = collections.Counter()
        self._retired: dict[tuple[str, int], Model] = {}
        self._draining = False

    def policy(self, config: ModelConfig) -> BatchPolicy:
        """The policy of one model: model.yaml's dynamic_batching over the defaults."""
        overrides = config.dynamic_batching
        size = overrides.max_batch_size or config.max_batch_size or self.defaults.max_batch_size
        if overrides.max_queue_delay_ms is None:
            delay = self.defaults.max_queue_delay_s
        else:
            delay = overrides.max_queue_delay_ms / 1000
        return BatchPolicy(max_batch_size=size, max_queue_delay_s=delay)

    def queued(self, name: str) -> int:
        """How many requests for model name wait for an execution."""
        return self._waiting[name]

    def add_model(self, model: Model) -> None:
        """A newly loaded generation is about to serve."""
        self.runner.add(model)

    def retire_model(self, model: Model) -> None:
        """A generation stops taking new requests; its memory goes once the
        requests holding it are answered."""
        key = (model.name, model.generation)
        if self._holds[key]:
            self._retired[key] = model
        else:
            self.runner.drop(model)

    def drain(self) -> None:
        """From now on nothing waits: every open batch is ready."""
        self._draining = True
        for batch in list(self._open.values()):
            self._make_ready(batch)
        self._pump()

    async def submit(
        self,
        model: Model,
        inputs: Mapping[str, np.ndarray],
        outputs: Sequence[str],
        parameters: Mapping[str, Any],
    ) -> Outcome:
        """Runs model on inputs, alone or with other requests; never raises
        for the model's failure (that is Outcome.error)."""
        config = model.config
        assert config is not None
        first = next(iter(inputs.values()))
        rows = int(first.shape[0]) if first.ndim else 1
        request = _Request(inputs, rows, asyncio.get_running_loop().create_future())
        model_key = (model.name, model.generation)
        self._holds[model_key] += 1
        self._waiting[model.name] += 1
        try:
            self._enqueue(model, config, request, outputs, parameters)
            self._pump()
            return await request.future
        finally:
            self._release(model_key)

    def _enqueue(
        self,
        model: Model,
        config: ModelConfig,
        request: _Request,
        outputs: Sequence[str],
        parameters: Mapping[str, Any],
    ) -> None:
        policy = self.policy(config)
        key = _signature(model, config, request, outputs, parameters, policy)
        if key is None:  # runs alone
            batch = _Batch(None, model, outputs, parameters)
            batch.requests.append(request)
            batch.rows = request.rows
            self._make_ready(batch)
            return
        batch = self._open.get(key)
        if batch is not None and batch.rows + request.rows > policy.max_batch_size:
            self._close(batch)
            batch = None
        if batch is None:
            batch = _Batch(key, model, outputs, parameters)
            self._open[key] = batch
        batch.requests.append(request)
        batch.rows += request.rows
        if batch.rows >= policy.max_batch_size:
            self._close(batch)
        elif (
            self._draining
            or policy.max_queue_delay_s <= 0
            or not self._running[(model.name, model.generation)]
        ):
            self._make_ready(batch)
        elif batch.timer is None and not batch.ready:
            loop = asyncio.get_running_loop()
            batch.timer = loop.call_later(policy.max_queue_delay_s, self._expire, batch)

    def _close(self, batch: _Batch) -> None:
        """No more requests join batch; it is ready."""
        if self._open.get(batch.key) is batch:
            del self._open[batch.key]
        self._make_ready(batch)

    def _make_ready(self, batch: _Batch) -> None:
        if batch.timer is not None:
            batch.timer.cancel()
            batch.timer = None
        if not batch.ready:
            batch.ready = True
            self._ready.append(batch)

    def _expire(self, batch: _Batch) -> None:
        batch.timer = None
        self._make_ready(batch)
        self._pump()

    def _pump(self) -> None:
        """Hands ready batches, oldest first, to idle slots."""
        while self._ready and self.runner.idle() > 0:
            batch = self._ready.popleft()
            if batch.key is not None and self._open.get(batch.key) is batch:
                del self._open[batch.key]
            self._waiting[batch.model.name] -= len(batch.requests)
            live = [r for r in batch.requests if not r.future.done()]  # not cancelled
            if live:
                self._dispatch(batch, live)

    def _dispatch(self, batch: _Batch, requests: list[_Request]) -> None:
        model = batch.model
        if len(requests) == 1:
            inputs = requests[0].inputs
        else:
            inputs = {
                name: np.concatenate([r.inputs[name] for r in requests])
                for name in requests[0].inputs
            }
        dispatched = time.perf_counter()
        try:
            future = self.runner.submit(model, inputs, batch.outputs, batch.parameters)
        except Exception as err:  # e.g. inputs that do not pickle
            future = asyncio.get_running_loop().create_future()
            future.set_result(Execution(started=dispatched, finished=dispatched, error=err))
        self._running[(model.name, model.generation)] += 1
        future.add_done_callback(functools.partial(self._finish, batch, requests, dispatched))

    def _finish(
        self,
        batch: _Batch,
        requests: list[_Request],
        dispatched: float,
        future: asyncio.Future[Execution],
    ) -> None:
        """Hands each request its part of the execution's result (a done callback)."""
        model = batch.model
        model_key = (model.name, model.generation)
        answered = time.perf_counter()
        if future.cancelled():
            execution = Execution(
                started=dispatched, finished=answered, error=RuntimeError("execution cancelled")
            )
        elif future.exception() is not None:
            execution = Execution(started=dispatched, finished=answered, error=future.exception())
        else:
            execution = future.result()
        self._running[model_key] -= 1
        rows = sum(r.rows for r in requests)
        self._on_execution(model.name, rows, execution.finished - execution.started)
        for request, outputs, error in _split(execution, requests, rows):
            if not request.future.done():
                request.future.set_result(
                    Outcome(
                        outputs=outputs,
                        error=error,
                        enqueued=request.enqueued,
                        dispatched=dispatched,
                        started=execution.started,
                        finished=execution.finished,
                        answered=answered,
                        batch_rows=rows,
                        batch_requests=len(requests),
                    )
                )
        if not self._running[model_key]:
            del self._running[model_key]
            for waiting in list(self._open.values()):
                if (waiting.model.name, waiting.model.generation) == model_key:
                    self._make_ready(waiting)
        self._pump()

    def _release(self, model_key: tuple[str, int]) -> None:
        self._holds[model_key] -= 1
        if self._holds[model_key] <= 0:
            del self._holds[model_key]
            retired = self._retired.pop(model_key, None)
            if retired is not None:
                self.runner.drop(retired)


def _signature(
    model: Model,
    config: ModelConfig,
    request: _Request,
    outputs: Sequence[str],
    parameters: Mapping[str, Any],
    policy: BatchPolicy,
) -> tuple | None:
    """The key of the batches request may join, or None if it runs alone."""
    if policy.max_batch_size <= 1 or not config.batchable:
        return None
    shapes = []
    for name, array in request.inputs.items():
        if array.ndim == 0 or array.shape[0] != request.rows:
            return None
        shapes.append((name, array.dtype.str, array.shape[1:]))
    try:
        params = tuple(sorted(parameters.items()))
        hash(params)
    except TypeError:
        return None
    return (model.name, model.generation, tuple(shapes), tuple(outputs), params)


def _split(
    execution: Execution, requests: list[_Request], rows: int
) -> list[tuple[_Request, dict[str, np.ndarray], BaseException | None]]:
    """Each request's rows of every output (or the batch's error)."""
    if execution.error is not None:
        return [(r, {}, execution.error) for r in requests]
    if len(requests) == 1:
        return [(requests[0], execution.outputs, None)]
    outputs = {name: np.asarray(value) for name, value in execution.outputs.items()}
    for name, value in outputs.items():
        if value.ndim == 0 or value.shape[0] != rows:
            error = ValueError(
                f"output {name!r} has shape {list(value.shape)} for a batch of {rows} rows"
            )
            return [(r, {}, error) for r in requests]
    results = []
    offset = 0
    for request in requests:
        end = offset + request.rows
        results.append((request, {n: v[offset:end] for n, v in outputs.items()}, None))
        offset = end
    return results
