"""A model's configuration: the model.yaml file in its repository folder.

Example (the iris classifier)::

    name: iris
    platform: sklearn_joblib
    version: "1"
    model_file: model.joblib
    max_batch_size: 1024
    dynamic_batching: {max_batch_size: 64, max_queue_delay_ms: 2}   # optional
    inputs:
      - {name: input, datatype: FP64, shape: [-1, 4], accept: [FP32]}
    outputs:
      - {name: label, datatype: INT64, shape: [-1], source: predict}
      - {name: probabilities, datatype: FP64, shape: [-1, 3], source: predict_proba}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from polymesh_common.datatypes import DATATYPES

from .errors import RepositoryError

CONFIG_FILE = "model.yaml"
METRICS_FILE = "metrics.json"


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a model."""

    name: str
    """The tensor's name in requests and responses."""
    datatype: str
    """The v2 datatype the model reports in its metadata, such as FP32."""
    shape: tuple[int, ...]
    """The shape; -1 marks a variable dimension (the first one is the batch)."""
    accept: tuple[str, ...] = ()
    """Inputs only: other datatypes accepted and converted to `datatype`."""
    source: str = ""
    """Outputs only, runtime-specific: where the runtime takes the output from
    (for scikit-learn, the estimator's method: predict, predict_proba, ...)."""


@dataclass(frozen=True)
class DynamicBatching:
    """How concurrent requests for a model are merged into one execution
    (model.yaml `dynamic_batching`; each field falls back to the server's
    setting when absent). Only models whose inputs and outputs all have a
    variable first dimension are batched."""

    max_batch_size: int | None = None
    """The most rows one execution gets; 1 turns batching off. Absent: the
    model's max_batch_size, or the server's POLYMESH_MAX_BATCH_SIZE if that is 0."""
    max_queue_delay_ms: float | None = None
    """The longest a request waits for others to join it while the model is
    busy; 0 sends every request at once. Absent: POLYMESH_MAX_QUEUE_DELAY."""


@dataclass(frozen=True)
class ModelConfig:
    """Everything the server needs to know about one model."""

    name: str
    """The model's name, unique in the repository (and its folder's name)."""
    platform: str
    """The runtime that serves it: sklearn_joblib or onnxruntime_onnx."""
    version: str
    """The one version served; requests may name it or leave it empty."""
    model_file: str
    """The model file, relative to the model's folder."""
    inputs: tuple[TensorSpec, ...]
    """The inputs, all required."""
    outputs: tuple[TensorSpec, ...]
    """The outputs; a request may ask for a subset."""
    max_batch_size: int = 0
    """The largest first dimension accepted; 0 for no limit."""
    parameters: dict[str, Any] = field(default_factory=dict)
    """Runtime-specific settings."""
    dynamic_batching: DynamicBatching = DynamicBatching()
    """Dynamic batching overrides."""

    @property
    def batchable(self) -> bool:
        """Whether every input and output has a variable first dimension, so
        that requests can be concatenated along it and the results split back."""
        return all(t.shape and t.shape[0] == -1 for t in (*self.inputs, *self.outputs))

    def input(self, name: str) -> TensorSpec | None:
        return next((t for t in self.inputs if t.name == name), None)

    def output(self, name: str) -> TensorSpec | None:
        return next((t for t in self.outputs if t.name == name), None)


_MODEL_KEYS = {
    "name",
    "platform",
    "version",
    "model_file",
    "inputs",
    "outputs",
    "max_batch_size",
    "parameters",
    "dynamic_batching",
}
_BATCHING_KEYS = {"max_batch_size", "max_queue_delay_ms"}
_TENSOR_KEYS = {"name", "datatype", "shape", "accept", "source"}


def load_config(model_dir: Path) -> ModelConfig:
    """Reads and checks model_dir/model.yaml; raises RepositoryError naming the problem."""
    path = model_dir / CONFIG_FILE
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as err:
        raise RepositoryError(f"{path}: cannot read: {err.strerror}") from err
    except yaml.YAMLError as err:
        raise RepositoryError(f"{path}: not valid YAML: {err}") from err
    return parse_config(raw, str(path))


def parse_config(raw: Any, where: str) -> ModelConfig:
    """Checks a decoded model.yaml; where names it in error messages."""
    if not isinstance(raw, dict):
        raise RepositoryError(f"{where}: expected a mapping")
    unknown = set(raw) - _MODEL_KEYS
    if unknown:
        raise RepositoryError(f"{where}: unknown field {sorted(unknown)[0]!r}")
    for key in ("name", "platform", "model_file", "inputs", "outputs"):
        if key not in raw:
            raise RepositoryError(f"{where}: missing field {key!r}")
    max_batch_size = raw.get("max_batch_size", 0)
    if not isinstance(max_batch_size, int) or max_batch_size < 0:
        raise RepositoryError(f"{where}: max_batch_size must be an integer >= 0")
    parameters = raw.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise RepositoryError(f"{where}: parameters must be a mapping")
    config = ModelConfig(
        name=str(raw["name"]),
        platform=str(raw["platform"]),
        version=str(raw.get("version", "1")),
        model_file=str(raw["model_file"]),
        inputs=_tensors(raw["inputs"], f"{where}: inputs"),
        outputs=_tensors(raw["outputs"], f"{where}: outputs"),
        max_batch_size=max_batch_size,
        parameters=parameters,
        dynamic_batching=_dynamic_batching(raw.get("dynamic_batching"), where),
    )
    if not config.inputs or not config.outputs:
        raise RepositoryError(f"{where}: a model needs at least one input and one output")
    return config


def _dynamic_batching(raw: Any, where: str) -> DynamicBatching:
    if raw is None:
        return DynamicBatching()
    at = f"{where}: dynamic_batching"
    if not isinstance(raw, dict):
        raise RepositoryError(f"{at}: expected a mapping")
    unknown = set(raw) - _BATCHING_KEYS
    if unknown:
        raise RepositoryError(f"{at}: unknown field {sorted(unknown)[0]!r}")
    size = raw.get("max_batch_size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 1):
        raise RepositoryError(f"{at}: max_batch_size must be an integer >= 1")
    delay = raw.get("max_queue_delay_ms")
    if delay is not None and (
        not isinstance(delay, int | float) or isinstance(delay, bool) or delay < 0
    ):
        raise RepositoryError(f"{at}: max_queue_delay_ms must be a number >= 0")
    return DynamicBatching(
        max_batch_size=size, max_queue_delay_ms=None if delay is None else float(delay)
    )


def _tensors(raw: Any, where: str) -> tuple[TensorSpec, ...]:
    if not isinstance(raw, list):
        raise RepositoryError(f"{where}: expected a list")
    specs = []
    for i, item in enumerate(raw):
        at = f"{where}[{i}]"
        if not isinstance(item, dict):
            raise RepositoryError(f"{at}: expected a mapping")
        unknown = set(item) - _TENSOR_KEYS
        if unknown:
            raise RepositoryError(f"{at}: unknown field {sorted(unknown)[0]!r}")
        for key in ("name", "datatype", "shape"):
            if key not in item:
                raise RepositoryError(f"{at}: missing field {key!r}")
        accept = tuple(item.get("accept") or ())
        for datatype in (item["datatype"], *accept):
            if datatype not in DATATYPES:
                raise RepositoryError(f"{at}: unknown datatype {datatype!r}")
        shape = item["shape"]
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= -1 for d in shape):
            raise RepositoryError(f"{at}: shape must be a list of integers >= -1")
        specs.append(
            TensorSpec(
                name=str(item["name"]),
                datatype=item["datatype"],
                shape=tuple(shape),
                accept=accept,
                source=str(item.get("source", "")),
            )
        )
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise RepositoryError(f"{where}: duplicate tensor name")
    return tuple(specs)
