"""The model repository that the project trains from scikit-learn's datasets."""

from __future__ import annotations

import json

import pytest
import yaml
from polymesh_inference import train
from polymesh_inference.config import load_config

# Held-out score floors: well below what the models reach, well above chance.
FLOORS = {"iris": 0.9, "digits": 0.9, "diabetes": 0.3}


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_held_out_score_above_floor(model_repository, name):
    metrics = json.loads((model_repository / name / "metrics.json").read_text())
    assert metrics["split"] == "held-out"
    assert metrics["test_samples"] > 0
    assert metrics["value"] >= FLOORS[name], metrics


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_configs_load(model_repository, name):
    config = load_config(model_repository / name)
    assert config.name == name
    assert (model_repository / name / config.model_file).is_file()


def test_complete_marker_and_idempotence(tmp_path):
    root = tmp_path / "models"
    first = train.build_repository(root, models=["iris"])
    assert (root / ".complete").is_file()
    assert first["iris"]["metric"] == "accuracy"
    model_file = root / "iris" / "model.joblib"
    before = model_file.stat().st_mtime_ns
    assert train.build_repository(root, models=["iris"]) == {}
    assert model_file.stat().st_mtime_ns == before


def test_deterministic(tmp_path):
    a = train.build_repository(tmp_path / "a", models=["iris", "diabetes"])
    b = train.build_repository(tmp_path / "b", models=["iris", "diabetes"])
    assert a == b
    config_a = yaml.safe_load((tmp_path / "a" / "iris" / "model.yaml").read_text())
    config_b = yaml.safe_load((tmp_path / "b" / "iris" / "model.yaml").read_text())
    assert config_a == config_b


def test_command_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(train, "TRAINERS", {"iris": train.train_iris})
    assert train.main(["--repository", str(tmp_path), "--force"]) == 0
    assert "iris: held-out accuracy" in capsys.readouterr().out
    assert train.main(["--repository", str(tmp_path)]) == 0
    assert "up to date" in capsys.readouterr().out
