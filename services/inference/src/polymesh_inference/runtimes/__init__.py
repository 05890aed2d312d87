"""Model runtimes behind one small interface, chosen by a model's platform.

A runtime loads one model from its folder and runs it on numpy arrays. Its
predict() is blocking and runs on a worker, never on the event loop; it may
raise anything, which the data plane reports as INTERNAL naming the model.
It gets the request's parameters too (bool, int, float or str values); the
built-in runtimes take none and ignore them.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..config import ModelConfig
from ..errors import RepositoryError


class Runtime(abc.ABC):
    """One loaded model."""

    platform: str = ""
    """The model.yaml platform this runtime serves."""

    def __init__(self, config: ModelConfig, model_dir: Path) -> None:
        self.config = config
        self.model_dir = model_dir

    @abc.abstractmethod
    def load(self) -> None:
        """Loads the model file; raises RepositoryError if it is unusable."""

    def modules(self) -> tuple[str, ...]:
        """Modules the loaded model needs (such as the estimator's classes'),
        imported once in the fork server of the worker processes so that every
        worker starts with them (call after load())."""
        return ()

    @abc.abstractmethod
    def predict(
        self,
        inputs: Mapping[str, np.ndarray],
        outputs: Sequence[str],
        parameters: Mapping[str, Any],
    ) -> dict[str, np.ndarray]:
        """Runs the model on inputs (by input name); returns the named outputs."""


_RUNTIMES: dict[str, type[Runtime]] = {}


def register_runtime(cls: type[Runtime]) -> type[Runtime]:
    """Makes cls serve models whose platform is cls.platform (a class decorator)."""
    _RUNTIMES[cls.platform] = cls
    return cls


def create_runtime(config: ModelConfig, model_dir: Path) -> Runtime:
    """Returns the (not yet loaded) runtime for config's platform."""
    cls = _RUNTIMES.get(config.platform)
    if cls is None:
        raise RepositoryError(
            f"model {config.name!r}: unknown platform {config.platform!r}"
            f" (known: {', '.join(sorted(_RUNTIMES))})"
        )
    return cls(config, model_dir)


# The built-in runtimes register themselves.
from . import onnx, sklearn  # noqa: E402, F401
