"""Runtimes for tests, registered by conftest.py and imported by worker
processes from this file: it imports only what the workers already have.

- ``test_blocking``: echoes its input once the test opens the gate (see
  conftest.Gate); ``parameters.gate`` names the gate's Unix socket.
- ``test_parameters``: answers with the request parameters it got, as JSON.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from polymesh_inference.runtimes import Runtime, register_runtime


@register_runtime
class BlockingRuntime(Runtime):
    """Echoes its input once the test opens the gate (parameters.gate: its socket)."""

    platform = "test_blocking"

    def load(self) -> None:
        pass

    def predict(
        self,
        inputs: Mapping[str, np.ndarray],
        outputs: Sequence[str],
        parameters: Mapping[str, Any],
    ) -> dict[str, np.ndarray]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as gate:
            gate.settimeout(60)
            gate.connect(self.config.parameters["gate"])
            gate.sendall(f"{os.getpid()}\n".encode())
            if gate.recv(2) != b"go":
                raise TimeoutError("the test never opened the gate")
        (x,) = inputs.values()
        return {"output": x}


@register_runtime
class ParametersRuntime(Runtime):
    """Answers with the request parameters it was given, as JSON."""

    platform = "test_parameters"

    def load(self) -> None:
        pass

    def predict(
        self,
        inputs: Mapping[str, np.ndarray],
        outputs: Sequence[str],
        parameters: Mapping[str, Any],
    ) -> dict[str, np.ndarray]:
        answer = np.empty(1, dtype=object)
        answer[0] = json.dumps(dict(parameters), sort_keys=True).encode()
        return {"parameters": answer}
