"""The model repository: one folder per model, loaded at start."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import CONFIG_FILE, METRICS_FILE, ModelConfig, load_config
from .errors import ModelNotFound, RepositoryError
from .runtimes import Runtime, create_runtime

log = logging.getLogger(__name__)

READY = "READY"
UNAVAILABLE = "UNAVAILABLE"


@dataclass
class Model:
    """One model of the repository, loaded or not."""

    name: str
    config: ModelConfig | None
    runtime: Runtime | None = None
    state: str = UNAVAILABLE
    reason: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return self.state == READY


class ModelRepository:
    """The models found in one folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._models: dict[str, Model] = {}

    def load_all(self) -> list[Model]:
        """Loads every model folder (blocking); raises RepositoryError if there is none.

        A model that fails to load stays listed as UNAVAILABLE with the reason.
        """
        folders = sorted(
            p for p in self.root.iterdir() if p.is_dir() and (p / CONFIG_FILE).is_file()
        )
        if not folders:
            raise RepositoryError(f"no models in {self.root} (no */{CONFIG_FILE})")
        for folder in folders:
            model = self._load(folder)
            self._models[model.name] = model
        return self.models()

    def _load(self, folder: Path) -> Model:
        try:
            config = load_config(folder)
        except RepositoryError as err:
            log.error("model not loaded", extra={"model": folder.name, "reason": str(err)})
            return Model(name=folder.name, config=None, reason=str(err))
        model = Model(name=config.name, config=config)
        try:
            if config.name != folder.name:
                raise RepositoryError(
                    f"{folder / CONFIG_FILE}: name {config.name!r} differs from its folder's"
                )
            runtime = create_runtime(config, folder)
            runtime.load()
        except RepositoryError as err:
            log.error("model not loaded", extra={"model": config.name, "reason": str(err)})
            model.reason = str(err)
            return model
        model.runtime = runtime
        model.state = READY
        model.metrics = _read_metrics(folder)
        log.info(
            "model loaded",
            extra={"model": config.name, "version": config.version, "platform": config.platform},
        )
        return model

    def add(self, model: Model) -> None:
        """Adds (or replaces) a model."""
        self._models[model.name] = model

    def models(self) -> list[Model]:
        """Every model, by name."""
        return [self._models[name] for name in sorted(self._models)]

    def get(self, name: str, version: str = "") -> Model:
        """The model called name; raises ModelNotFound (also for another version)."""
        model = self._models.get(name)
        if model is None:
            raise ModelNotFound(name, version)
        if version and (model.config is None or version != model.config.version):
            raise ModelNotFound(name, version)
        return model


def _read_metrics(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / METRICS_FILE).read_text())
    except (OSError, ValueError):
        return {}
