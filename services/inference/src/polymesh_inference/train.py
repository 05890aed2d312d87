"""Builds the model repository from datasets that scikit-learn ships.

``python -m polymesh_inference.train --repository DIR`` writes one folder per
model (model.yaml, the model file, metrics.json with the held-out score) and
then DIR/.complete. It does nothing if DIR/.complete exists (``--force``
rebuilds). Deterministic: fixed splits and seeds; nothing is downloaded.

Models:
- iris: logistic regression on the iris flowers (scikit-learn, joblib).
- digits: logistic regression on 8x8 digit images, exported to ONNX.
- diabetes: ridge regression on the diabetes data (scikit-learn, joblib).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import yaml
from sklearn import datasets
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .config import CONFIG_FILE, METRICS_FILE

COMPLETE = ".complete"
SEED = 0


def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_model_folder(
    root: Path, config: dict[str, Any], metrics: dict[str, Any], save: Callable[[Path], None]
) -> None:
    folder = root / config["name"]
    folder.mkdir(parents=True, exist_ok=True)
    _write_atomic(folder / config["model_file"], save)
    _write_atomic(
        folder / METRICS_FILE,
        lambda p: p.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n"),
    )
    _write_atomic(
        folder / CONFIG_FILE, lambda p: p.write_text(yaml.safe_dump(config, sort_keys=False))
    )


def train_iris(root: Path) -> dict[str, Any]:
    x, y = datasets.load_iris(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.3, random_state=SEED, stratify=y
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=SEED))
    model.fit(x_train, y_train)
    metrics = _metrics("iris", "accuracy", model.score(x_test, y_test), x_train, x_test)
    config = {
        "name": "iris",
        "platform": "sklearn_joblib",
        "version": "1",
        "model_file": "model.joblib",
        "max_batch_size": 4096,
        "inputs": [{"name": "input", "datatype": "FP64", "shape": [-1, 4], "accept": ["FP32"]}],
        "outputs": [
            {"name": "label", "datatype": "INT64", "shape": [-1], "source": "predict"},
            {
                "name": "probabilities",
                "datatype": "FP64",
                "shape": [-1, 3],
                "source": "predict_proba",
            },
        ],
    }
    _write_model_folder(root, config, metrics, lambda p: joblib.dump(model, p))
    return metrics


def train_digits(root: Path) -> dict[str, Any]:
    from skl2onnx import to_onnx  # slow to import; only this model needs it

    x, y = datasets.load_digits(return_X_y=True)
    x = x.astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.3, random_state=SEED, stratify=y
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=SEED))
    model.fit(x_train, y_train)
    onnx_model = to_onnx(
        model,
        x_train[:1],
        options={id(model.steps[-1][1]): {"zipmap": False}},
        final_types=None,
        target_opset=17,
    )
    # Name the graph's tensors as the protocol sees them.
    graph = onnx_model.graph
    renames = {graph.input[0].name: "input"}
    for node in graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
    graph.input[0].name = "input"
    score = _onnx_accuracy(onnx_model, x_test, y_test)
    metrics = _metrics("digits", "accuracy", score, x_train, x_test)
    config = {
        "name": "digits",
        "platform": "onnxruntime_onnx",
        "version": "1",
        "model_file": "model.onnx",
        "max_batch_size": 4096,
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 64]}],
        "outputs": [
            {"name": "label", "datatype": "INT64", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]},
        ],
    }
    _write_model_folder(
        root, config, metrics, lambda p: p.write_bytes(onnx_model.SerializeToString())
    )
    return metrics


def _onnx_accuracy(onnx_model, x_test: np.ndarray, y_test: np.ndarray) -> float:
    import onnxruntime as ort  # only this model needs it

    session = ort.InferenceSession(
        onnx_model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    (labels,) = session.run(["label"], {"input": x_test})
    return float(np.mean(labels == y_test))


def train_diabetes(root: Path) -> dict[str, Any]:
    x, y = datasets.load_diabetes(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=SEED)
    model = Ridge(alpha=0.1).fit(x_train, y_train)
    metrics = _metrics("diabetes", "r2", model.score(x_test, y_test), x_train, x_test)
    config = {
        "name": "diabetes",
        "platform": "sklearn_joblib",
        "version": "1",
        "model_file": "model.joblib",
        "max_batch_size": 4096,
        "inputs": [{"name": "input", "datatype": "FP64", "shape": [-1, 10], "accept": ["FP32"]}],
        "outputs": [{"name": "prediction", "datatype": "FP64", "shape": [-1], "source": "predict"}],
    }
    _write_model_folder(root, config, metrics, lambda p: joblib.dump(model, p))
    return metrics


def _metrics(dataset: str, metric: str, value: float, x_train, x_test) -> dict[str, Any]:
    return {
        "dataset": f"sklearn.datasets.load_{dataset}",
        "metric": metric,
        "value": round(float(value), 6),
        "split": "held-out",
        "train_samples": len(x_train),
        "test_samples": len(x_test),
        "random_state": SEED,
    }


TRAINERS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "iris": train_iris,
    "digits": train_digits,
    "diabetes": train_diabetes,
}


def build_repository(
    root: Path, models: list[str] | None = None, force: bool = False
) -> dict[str, dict[str, Any]]:
    """Trains the models into root (all by default); writes root/.complete last."""
    complete = root / COMPLETE
    if complete.exists() and not force:
        return {}
    root.mkdir(parents=True, exist_ok=True)
    complete.unlink(missing_ok=True)
    results = {name: TRAINERS[name](root) for name in models or TRAINERS}
    complete.write_text("".join(f"{name}\n" for name in results))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m polymesh_inference.train", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--repository", required=True, type=Path, help="the folder to build")
    parser.add_argument("--force", action="store_true", help="rebuild even if complete")
    args = parser.parse_args(argv)
    results = build_repository(args.repository, force=args.force)
    if not results:
        print(f"{args.repository}: up to date")
    for name, metrics in results.items():
        print(f"{name}: held-out {metrics['metric']} {metrics['value']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
