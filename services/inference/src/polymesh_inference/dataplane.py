"""The data plane: every protocol operation, on the server's own types.

The gRPC servicer is a thin layer over it. Models run on an executor, never on
the event loop, inside an INTERNAL span ``model.execute <model>``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Sequence
from concurrent.futures import Executor

import numpy as np
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from . import __version__
from .config import ModelConfig, TensorSpec
from .datatypes import DATATYPES
from .errors import InvalidInput, ModelExecutionError, ModelNotReady
from .repository import Model, ModelRepository
from .runtimes import Runtime
from .types import InferenceRequest, InferenceResponse, Tensor

log = logging.getLogger(__name__)

SERVER_NAME = "polymesh-inference"
EXTENSIONS = ("model_repository",)

# Attributes of the model execution span.
ATTR_MODEL_NAME = "polymesh.model.name"
ATTR_MODEL_VERSION = "polymesh.model.version"
ATTR_BATCH_SIZE = "polymesh.inference.batch_size"


class DataPlane:
    """Answers the protocol's questions and runs inference."""

    def __init__(
        self,
        repository: ModelRepository,
        executor: Executor,
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        self.repository = repository
        self._executor = executor
        self._tracer = trace.get_tracer(__name__, __version__, tracer_provider)
        self._stopping = False

    def stopping(self) -> None:
        """From now on the server reports itself not ready."""
        self._stopping = True

    def live(self) -> bool:
        return True

    def ready(self) -> bool:
        """Ready when every model of the repository is."""
        models = self.repository.models()
        return not self._stopping and bool(models) and all(m.ready for m in models)

    def metadata(self) -> tuple[str, str, Sequence[str]]:
        """The server's name, version and protocol extensions."""
        return SERVER_NAME, __version__, EXTENSIONS

    def model_ready(self, name: str, version: str = "") -> bool:
        return not self._stopping and self.repository.get(name, version).ready

    def model_metadata(self, name: str, version: str = "") -> Model:
        model = self.repository.get(name, version)
        if model.config is None:
            raise ModelNotReady(name)
        return model

    def index(self) -> list[Model]:
        return self.repository.models()

    async def infer(self, request: InferenceRequest) -> InferenceResponse:
        """Runs the request's model; raises an InferenceError the client may see."""
        model = self.repository.get(request.model_name, request.model_version)
        if not model.ready or model.runtime is None or model.config is None:
            raise ModelNotReady(model.name)
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
            loop = asyncio.get_running_loop()
            call = functools.partial(_run, model.runtime, inputs, outputs)
            try:
                results = await loop.run_in_executor(self._executor, call)
                tensors = [_output_tensor(config.output(name), results) for name in outputs]
            except Exception as err:
                span.record_exception(err)
                span.set_status(Status(StatusCode.ERROR, "model execution failed"))
                log.exception("model execution failed", extra={"model": config.name})
                raise ModelExecutionError(config.name) from err
        return InferenceResponse(
            model_name=config.name, model_version=config.version, id=request.id, outputs=tensors
        )


def _run(
    runtime: Runtime, inputs: dict[str, np.ndarray], outputs: list[str]
) -> dict[str, np.ndarray]:
    return runtime.predict(inputs, outputs)


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
