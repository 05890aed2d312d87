"""The data plane's own request and response types, free of protobuf."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Tensor:
    """A named tensor: its v2 datatype and its data, shaped."""

    name: str
    datatype: str
    data: np.ndarray


@dataclass
class InferenceRequest:
    """A decoded ModelInferRequest."""

    model_name: str
    model_version: str = ""
    id: str = ""
    inputs: list[Tensor] = field(default_factory=list)
    requested_outputs: list[str] = field(default_factory=list)
    """Output names the client asked for; empty means every output."""
    parameters: dict[str, Any] = field(default_factory=dict)
    """The request's parameters as Python values (bool, int, float, str),
    passed to the model's runtime."""
    raw_outputs: bool = False
    """Answer with raw_output_contents instead of typed contents."""


@dataclass
class InferenceResponse:
    """A model's answer, before encoding."""

    model_name: str
    model_version: str
    id: str = ""
    outputs: list[Tensor] = field(default_factory=list)
