"""The model repository: one folder per model, loaded at start, reloaded or
unloaded on request (the protocol's model repository extension).

A Model is an immutable snapshot: loading or unloading puts a new one in place
of the old, so a call that already holds a model finishes on the version it
started with.
"""

from __future__ import annotations

import dataclasses
import itertools
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

# Reasons of UNAVAILABLE models that are not load failures.
REASON_UNLOADED = "unloaded"
REASON_NOT_LOADED = "not loaded"


@dataclass(frozen=True)
class Model:
    """One model of the repository, loaded or not."""

    name: str
    """The model's name: its folder's name."""
    config: ModelConfig | None
    """Its configuration; None if model.yaml could not be read."""
    runtime: Runtime | None = None
    """The loaded model; None unless the state is READY."""
    state: str = UNAVAILABLE
    """READY or UNAVAILABLE, as the repository index reports it."""
    reason: str = ""
    """Why it is UNAVAILABLE (or why its last reload failed while READY)."""
    metrics: dict[str, Any] = field(default_factory=dict)
    """The folder's metrics.json (the held-out score), if any."""
    wanted: bool = True
    """False once unloaded on request: the server's readiness ignores it."""
    generation: int = 0
    """Which load of the folder this is: every build gets a new number, so
    worker processes can tell a reloaded model from the one they hold."""

    @property
    def ready(self) -> bool:
        return self.state == READY


class ModelRepository:
    """The models found in one folder.

    Methods that touch files block (run them off the event loop); the others
    only read or swap the in-memory snapshots.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._models: dict[str, Model] = {}
        self._generations = itertools.count(1)

    @property
    def name(self) -> str:
        """The repository's name in repository requests: its folder's name."""
        return self.root.resolve().name

    def folders(self) -> list[str]:
        """The names of the model folders (those with a model.yaml), sorted (blocking)."""
        try:
            entries = list(self.root.iterdir())
        except OSError:
            return []
        return sorted(p.name for p in entries if p.is_dir() and (p / CONFIG_FILE).is_file())

    def load_all(self) -> list[Model]:
        """Loads every model folder (blocking); raises RepositoryError if there is none.

        A model that fails to load stays listed as UNAVAILABLE with the reason.
        """
        names = self.folders()
        if not names:
            raise RepositoryError(f"no models in {self.root} (no */{CONFIG_FILE})")
        for name in names:
            self.add(self.build(name))
        return self.models()

    def folder(self, name: str) -> Path:
        """The folder of the model called name; raises ModelNotFound if there is none.

        Only a direct sub-folder with a model.yaml qualifies, so a name cannot
        reach outside the repository.
        """
        if not name or name.startswith(".") or "/" in name or "\\" in name:
            raise ModelNotFound(name)
        folder = self.root / name
        if not (folder / CONFIG_FILE).is_file():
            raise ModelNotFound(name)
        return folder

    def build(self, name: str) -> Model:
        """Reads and loads the model in folder name (blocking); never raises for
        a broken model: the result is then UNAVAILABLE with the reason, written
        with paths relative to the repository."""
        folder = self.root / name
        generation = next(self._generations)
        try:
            config = load_config(folder)
        except RepositoryError as err:
            return self._failed(Model(name=name, config=None, generation=generation), err)
        model = Model(name=name, config=config, generation=generation)
        try:
            if config.name != name:
                raise RepositoryError(
                    f"{folder / CONFIG_FILE}: name {config.name!r} differs from its folder's"
                )
            runtime = create_runtime(config, folder)
            runtime.load()
        except RepositoryError as err:
            return self._failed(model, err)
        except Exception:  # a runtime's unexpected failure: logged, not sent
            log.exception("model not loaded", extra={"model": name})
            reason = f"the {config.platform} runtime failed unexpectedly (see the server log)"
            return dataclasses.replace(model, state=UNAVAILABLE, reason=reason)
        log.info(
            "model loaded",
            extra={"model": config.name, "version": config.version, "platform": config.platform},
        )
        return dataclasses.replace(
            model, runtime=runtime, state=READY, metrics=_read_metrics(folder)
        )

    def _failed(self, model: Model, err: Exception) -> Model:
        reason = self._relative(str(err))
        log.error("model not loaded", extra={"model": model.name, "reason": reason})
        return dataclasses.replace(model, state=UNAVAILABLE, reason=reason)

    def _relative(self, message: str) -> str:
        """message with the repository's own path left out, for clients."""
        for root in {str(self.root.resolve()), str(self.root)}:
            message = message.replace(root + "/", "")
        return message

    def add(self, model: Model) -> None:
        """Adds a model, or replaces the one of the same name."""
        self._models[model.name] = model

    def find(self, name: str) -> Model | None:
        """The model called name, if it was ever loaded (or tried)."""
        return self._models.get(name)

    def models(self) -> list[Model]:
        """Every model loaded or tried, by name."""
        return [self._models[name] for name in sorted(self._models)]

    def index(self) -> list[Model]:
        """Every model, by name: those loaded or tried, and the folders never
        loaded (UNAVAILABLE, "not loaded"). Blocking: it lists the folder."""
        models = dict(self._models)
        for name in self.folders():
            models.setdefault(
                name, Model(name=name, config=None, reason=REASON_NOT_LOADED, wanted=False)
            )
        return [models[name] for name in sorted(models)]

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
