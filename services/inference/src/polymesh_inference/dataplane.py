"""The data plane: every protocol operation, on the server's own types.

The gRPC servicer is a thin layer over it. Models run in execute(), the one
place a model runs: through the dynamic batcher (batching.py) on a worker
process or thread (pool.py), never on the event loop. Each call gets two
INTERNAL spans: ``model.queue <model>`` while it waits for its batch to start
and ``model.execute <model>`` while its batch runs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import numpy as np
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from polymesh_common.datatypes import DATATYPES

from . import __version__
from .batching import Batcher, Outcome
from .config import ModelConfig, TensorSpec
from .errors import InvalidInput, ModelExecutionError, ModelLoadError, ModelNotReady, WorkerLost
from .metrics import InferenceMetrics
from .pool import WorkerExited
from .repository import REASON_UNLOADED, UNAVAILABLE, Model, ModelRepository
from .types import InferenceRequest, InferenceResponse, Tensor

log = logging.getLogger(__name__)

SERVER_NAME = "polymesh-inference"
EXTENSIONS = ("model_repository",)

# Attributes of the model queue and execution spans.
ATTR_MODEL_NAME = "polymesh.model.name"
ATTR_MODEL_VERSION = "polymesh.model.version"
ATTR_ROWS = "polymesh.inference.rows"
"""The call's own rows (its inputs' first dimension)."""
ATTR_BATCH_SIZE = "polymesh.batch.size"
"""Rows of the execution the call was part of: its own and those merged with it."""
ATTR_BATCH_REQUESTS = "polymesh.batch.requests"
"""Calls merged into that execution."""


class DataPlane:
    """Answers the protocol's questions, runs inference, loads and unloads models."""

    def __init__(
        self,
        repository: ModelRepository,
        batcher: Batcher,
        tracer_provider: trace.TracerProvider | None = None,
        metrics: InferenceMetrics | None = None,
    ) -> None:
        self.repository = repository
        self.metrics = metrics or InferenceMetrics()
        self.batcher = batcher
        self._tracer = trace.get_tracer(__name__, __version__, tracer_provider)
        self._stopping = False
        self._repository_lock = asyncio.Lock()
        self._listeners: list[Callable[[], Awaitable[None]]] = []

    def on_models_changed(self, listener: Callable[[], Awaitable[None]]) -> None:
        """Calls listener after each load or unload (health follows this way)."""
        self._listeners.append(listener)

    def stopping(self) -> None:
        """From now on the server reports itself not ready, and queued calls
        run without waiting for others to join them."""
        self._stopping = True
        self.batcher.drain()

    def live(self) -> bool:
        return True

    def ready(self) -> bool:
        """Ready when every model meant to serve does: all of the repository's
        but those unloaded on request (a failed load counts against it)."""
        wanted = [m for m in self.repository.models() if m.wanted]
        return not self._stopping and all(m.ready for m in wanted)

    def metadata(self) -> tuple[str, str, Sequence[str]]:
        """The server's name, version and protocol extensions."""
        return SERVER_NAME, __version__, EXTENSIONS

    def model_ready(self, name: str, version: str = "") -> bool:
        return not self._stopping and self.repository.get(name, version).ready

    def model_metadata(self, name: str, version: str = "") -> Model:
        """A model that serves; raises ModelNotFound or ModelNotReady otherwise."""
        return self._serving(name, version)

    def _serving(self, name: str, version: str) -> Model:
        model = self.repository.get(name, version)
        if not model.ready or model.runtime is None or model.config is None:
            raise ModelNotReady(model.name, model.reason)
        return model

    async def index(self) -> list[Model]:
        """Every model folder of the repository, loaded or not."""
        return await asyncio.to_thread(self.repository.index)

    async def load(self, name: str) -> Model:
        """Loads the model in folder name, or reloads it.

        Raises ModelNotFound if there is no such folder, ModelLoadError if the
        model does not load; a version that served before keeps serving then.
        Calls in flight finish on the version they started with.
        """
        async with self._repository_lock:
            await asyncio.to_thread(self.repository.folder, name)
            model = await asyncio.to_thread(self.repository.build, name)
            previous = self.repository.find(name)
            if model.ready:
                self.batcher.add_model(model)
                self.repository.add(model)
                if previous is not None and previous.ready:
                    self.batcher.retire_model(previous)
            elif previous is not None and previous.ready:
                version = previous.config.version if previous.config else ""
                self.repository.add(
                    dataclasses.replace(
                        previous,
                        reason=f"reload failed, version {version} still serving: {model.reason}",
                    )
                )
            else:
                self.repository.add(model)
            await self._changed()
        if not model.ready:
            raise ModelLoadError(name, model.reason)
        log.info("model ready", extra={"model": name, "reloaded": previous is not None})
        return model

    async def unload(self, name: str) -> None:
        """Unloads a model: it stops serving at once and its calls in flight
        finish. Unloading a model that is not loaded does nothing; raises
        ModelNotFound if neither a model nor a folder has that name."""
        async with self._repository_lock:
            model = self.repository.find(name)
            if model is None:
                await asyncio.to_thread(self.repository.folder, name)
                return
            self.repository.add(
                dataclasses.replace(
                    model, runtime=None, state=UNAVAILABLE, reason=REASON_UNLOADED, wanted=False
                )
            )
            if model.ready:
                self.batcher.retire_model(model)
            await self._changed()
        log.info("model unloaded", extra={"model": name})

    async def _changed(self) -> None:
        for listener in self._listeners:
            await listener()

    async def infer(
        self, request: InferenceRequest, arrival: float | None = None
    ) -> InferenceResponse:
        """Runs the request's model; raises an InferenceError the client may see.

        arrival is when the call arrived (time.perf_counter), for the queue
        time metric; now if not given.
        """
        arrival = time.perf_counter() if arrival is None else arrival
        model = self._serving(request.model_name, request.model_version)
        config = model.config
        inputs = check_inputs(config, request.inputs)
        outputs = check_requested_outputs(config, request.requested_outputs)
        first = next(iter(inputs.values()))
        rows = int(first.shape[0]) if first.ndim else 1

        outcome = await self.execute(model, inputs, outputs, request.parameters)
        self.metrics.observe_queue(model.name, outcome.started - arrival)
        clock = _EpochClock()
        attributes = {ATTR_MODEL_NAME: config.name, ATTR_MODEL_VERSION: config.version}
        self._tracer.start_span(
            f"model.queue {config.name}",
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            start_time=clock.ns(outcome.enqueued),
        ).end(end_time=clock.ns(outcome.dispatched))
        span = self._tracer.start_span(
            f"model.execute {config.name}",
            kind=SpanKind.INTERNAL,
            attributes={
                **attributes,
                ATTR_ROWS: rows,
                ATTR_BATCH_SIZE: outcome.batch_rows,
                ATTR_BATCH_REQUESTS: outcome.batch_requests,
            },
            start_time=clock.ns(outcome.dispatched),
            record_exception=False,
            set_status_on_exception=False,
        )
        try:
            if outcome.error is not None:
                raise outcome.error
            tensors = [_output_tensor(config.output(name), outcome.outputs) for name in outputs]
        except Exception as err:
            span.record_exception(err)
            span.set_status(Status(StatusCode.ERROR, "model execution failed"))
            log.error(
                "model execution failed",
                exc_info=err,
                extra={
                    "model": config.name,
                    "version": config.version,
                    "batch_requests": outcome.batch_requests,
                },
            )
            if isinstance(err, WorkerExited):
                raise WorkerLost(config.name) from err
            raise ModelExecutionError(config.name) from err
        finally:
            span.end(end_time=clock.ns(outcome.answered))
        return InferenceResponse(
            model_name=config.name, model_version=config.version, id=request.id, outputs=tensors
        )

    async def execute(
        self,
        model: Model,
        inputs: Mapping[str, np.ndarray],
        outputs: Sequence[str],
        parameters: Mapping[str, Any],
    ) -> Outcome:
        """Runs one model on checked inputs: the one place a model runs.

        The batcher may merge the call with others for the same model; the
        Outcome has this call's outputs (or the error), when it waited and
        ran, and the size of the execution it was part of.
        """
        return await self.batcher.submit(model, inputs, outputs, parameters)


class _EpochClock:
    """time.perf_counter() readings as nanoseconds since the epoch (span times)."""

    def __init__(self) -> None:
        self._epoch_ns = time.time_ns()
        self._perf = time.perf_counter()

    def ns(self, perf: float) -> int:
        return self._epoch_ns - int((self._perf - perf) * 1e9)


def _output_tensor(spec: TensorSpec, results: dict[str, np.ndarray]) -> Tensor:
    data = np.asarray(results[spec.name])
    return Tensor(
        name=spec.name,
        datatype=spec.datatype,
        data=data.astype(DATATYPES[spec.datatype].dtype, copy=False),
    )


def check_inputs(config: ModelConfig, tensors: Sequence[Tensor]) -> dict[str, np.ndarray]:
    """Checks request inputs against the model's; returns them by name, cast."""
    given = {t.name: t for t in tensors}
    for name in given:
        if config.input(name) is None:
            known = ", ".join(repr(s.name) for s in config.inputs)
            raise InvalidInput(f"unknown input {name!r}: model {config.name!r} takes {known}")
    inputs = {}
    for spec in config.inputs:
        tensor = given.get(spec.name)
        if tensor is None:
            raise InvalidInput(f"input {spec.name!r} is missing")
        if tensor.datatype != spec.datatype and tensor.datatype not in spec.accept:
            want = " or ".join((spec.datatype, *spec.accept))
            raise InvalidInput(
                f"input {spec.name!r}: datatype {tensor.datatype}, model expects {want}"
            )
        shape = tensor.data.shape
        if len(shape) != len(spec.shape) or any(
            want not in (-1, got) for want, got in zip(spec.shape, shape, strict=True)
        ):
            raise InvalidInput(
                f"input {spec.name!r}: shape {list(shape)} does not match {list(spec.shape)}"
            )
        if config.max_batch_size and shape and shape[0] > config.max_batch_size:
            raise InvalidInput(
                f"input {spec.name!r}: batch of {shape[0]} exceeds the model's"
                f" max_batch_size {config.max_batch_size}"
            )
        inputs[spec.name] = tensor.data.astype(DATATYPES[spec.datatype].dtype, copy=False)
    return inputs


def check_requested_outputs(config: ModelConfig, requested: Sequence[str]) -> list[str]:
    """The outputs to compute: the requested ones (checked), or all of them."""
    if not requested:
        return [s.name for s in config.outputs]
    for name in requested:
        if config.output(name) is None:
            known = ", ".join(repr(s.name) for s in config.outputs)
            raise InvalidInput(
                f"unknown requested output {name!r}: model {config.name!r} has {known}"
            )
    return list(dict.fromkeys(requested))
