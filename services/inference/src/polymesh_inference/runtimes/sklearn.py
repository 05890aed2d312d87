"""scikit-learn estimators saved with joblib (platform sklearn_joblib).

The model has one input, passed to the estimator as its X. Each output's
`source` names the estimator method that computes it (predict by default:
predict_proba, decision_function, transform, ...). Only the requested outputs
are computed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import joblib
import numpy as np

from ..errors import RepositoryError
from . import Runtime, register_runtime


@register_runtime
class SklearnRuntime(Runtime):
    platform = "sklearn_joblib"

    def load(self) -> None:
        if len(self.config.inputs) != 1:
            raise RepositoryError(f"model {self.config.name!r}: scikit-learn models take one input")
        path = self.model_dir / self.config.model_file
        try:
            self._estimator = joblib.load(path)
        except Exception as err:
            raise RepositoryError(f"model {self.config.name!r}: cannot load {path}: {err}") from err
        self._methods = {}
        for output in self.config.outputs:
            method = output.source or "predict"
            if not callable(getattr(self._estimator, method, None)):
                raise RepositoryError(
                    f"model {self.config.name!r}: output {output.name!r}:"
                    f" the estimator has no method {method!r}"
                )
            self._methods[output.name] = method

    def modules(self) -> tuple[str, ...]:
        # The estimator and, for pipelines and meta-estimators, the ones inside.
        estimators = [self._estimator]
        get_params = getattr(self._estimator, "get_params", None)
        if callable(get_params):
            estimators += [v for v in get_params(deep=True).values() if hasattr(v, "fit")]
        return tuple(sorted({type(e).__module__ for e in estimators}))

    def predict(
        self,
        inputs: Mapping[str, np.ndarray],
        outputs: Sequence[str],
        parameters: Mapping[str, Any],
    ) -> dict[str, np.ndarray]:
        (x,) = inputs.values()
        computed: dict[str, np.ndarray] = {}
        results = {}
        for name in outputs:
            method = self._methods[name]
            if method not in computed:
                computed[method] = np.asarray(getattr(self._estimator, method)(x))
            results[name] = computed[method]
        return results
