"""ONNX models run with ONNX Runtime on the CPU (platform onnxruntime_onnx).

Inputs and outputs are the ONNX graph's, by name. `parameters.intra_op_threads`
sets ONNX Runtime's threads per call (default 1: the server runs calls side by
side).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnxruntime as ort

from ..errors import RepositoryError
from . import Runtime, register_runtime


@register_runtime
class OnnxRuntime(Runtime):
    platform = "onnxruntime_onnx"

    def load(self) -> None:
        path = self.model_dir / self.config.model_file
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(self.config.parameters.get("intra_op_threads", 1))
        options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as err:
            raise RepositoryError(f"model {self.config.name!r}: cannot load {path}: {err}") from err
        graph_inputs = {i.name for i in self._session.get_inputs()}
        graph_outputs = {o.name for o in self._session.get_outputs()}
        for spec in self.config.inputs:
            if spec.name not in graph_inputs:
                raise RepositoryError(
                    f"model {self.config.name!r}: the ONNX graph has no input {spec.name!r}"
                )
        for spec in self.config.outputs:
            if spec.name not in graph_outputs:
                raise RepositoryError(
                    f"model {self.config.name!r}: the ONNX graph has no output {spec.name!r}"
                )

    def modules(self) -> tuple[str, ...]:
        return ("onnxruntime",)

    def predict(
        self,
        inputs: Mapping[str, np.ndarray],
        outputs: Sequence[str],
        parameters: Mapping[str, Any],
    ) -> dict[str, np.ndarray]:
        results = self._session.run(list(outputs), dict(inputs))
        return dict(zip(outputs, results, strict=True))
