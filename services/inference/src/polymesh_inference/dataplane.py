"""The data plane: every protocol operation, on the server's own types.

The gRPC servicer is a thin layer over it. Models run in execute(), the one
place a model runs: today on a thread of an executor, never on the event loop,
inside an INTERNAL span ``model.execute <model>``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from . import __version__
from .config import ModelConfig, TensorSpec
from .datatypes import DATATYPES
from .errors import InvalidInput, ModelExecutionError, ModelLoadError, ModelNotReady
from .metrics import InferenceMetrics
from .repository import REASON_UNLOADED, UNAVAILABLE, Model, ModelRepository
from .runtimes import Runtime
from .types import InferenceRequest, InferenceResponse, Tensor

log = logging.getLogger(__name__)

SERVER_NAME = "polymesh-inference"
EXTENSIONS = ("model_repository",)

# Attributes of the model execution span.
ATTR_MODEL_NAME = "polymesh.model.name"
ATTR_MODEL_VERSION = "polymesh.model.version"
ATTR_BATCH_SIZE = "polymesh.inference.batch_size"


@dataclass
class Execution:
    """What one model execution gave, and when it ran (time.perf_counter)."""

    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    started: float = 0.0
    finished: float = 0.0
    error: BaseException | None = None
    """What the model raised, if it did."""


class DataPlane:
    """Answers the protocol's questions, runs inference, loads and unloads models."""

    def __init__(
        self,
        repository: ModelRepository,
        executor: Executor,
        tracer_provider: trace.TracerProvider | None = None,
        metrics: InferenceMetrics | None = None,
    ) -> None:
        self.repository = repository
        self.metrics = metrics or InferenceMetrics()
        self._executor = executor
        self._tracer = trace.get_tracer(__name__, __version__, tracer_provider)
        self._stopping = False
        self._repository_lock = asyncio.Lock()
        self._listeners: list[Callable[[], Awaitable[None]]] = []

    def on_models_changed(self, listener: Callable[[], Awaitable[None]]) -> None:
        """Calls listener after each load or unload (health follows this way)."""
        self._listeners.append(listener)

    def stopping(self) -> None:
        """From now on the server reports itself not ready."""
        self._stopping = True

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
                self.repository.add(model)
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
        batch_size = int(first.shape[0]) if first.ndim else 1

        with self._tracer.start_as_current_span(
            f"model.execute {config.name}",
            kind=SpanKind.INTERNAL,
            attributes={
                ATTR_MODEL_NAME: config.name,
                ATTR_MODEL_VERSION: config.version,
                ATTR_BATCH_SIZE: batch_size,
            },
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            execution = await self.execute(model, inputs, outputs, request.parameters)
            self.metrics.observe_execution(
                model.name,
                batch_size,
                queue_s=execution.started - arrival,
                execution_s=execution.finished - execution.started,
            )
            try:
                if execution.error is not None:
                    raise execution.error
                tensors = [
                    _output_tensor(config.output(name), execution.outputs) for name in outputs
                ]
            except Exception as err:
                span.record_exception(err)
                span.set_status(Status(StatusCode.ERROR, "model execution failed"))
                log.error(
                    "model execution failed",
                    exc_info=err,
                    extra={"model": config.name, "version": config.version},
                )
                raise ModelExecutionError(config.name) from err
        return InferenceResponse(
            model_name=config.name, model_version=config.version, id=request.id, outputs=tensors
        )

    async def execute(
        self,
        model: Model,
        inputs: Mapping[str, np.ndarray],
        outputs: Sequence[str],
        parameters: Mapping[str, Any],
    ) -> Execution:
        """Runs one model on checked inputs: the one place a model runs.

        Today on a thread of the executor. A process pool or a dynamic batcher
        belongs here: whatever runs the model must give back an Execution with
        its outputs (or the error it raised) and when it started and finished.
        """
        loop = asyncio.get_running_loop()
        call = functools.partial(_run, model.runtime, inputs, outputs, parameters)
        return await loop.run_in_executor(self._executor, call)


def _run(
    runtime: Runtime,
    inputs: Mapping[str, np.ndarray],
    outputs: Sequence[str],
    parameters: Mapping[str, Any],
) -> Execution:
    started = time.perf_counter()
    try:
        results = runtime.predict(inputs, outputs, parameters)
    except Exception as err:
        return Execution(started=started, finished=time.perf_counter(), error=err)
    return Execution(outputs=results, started=started, finished=time.perf_counter())


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
