"""model.yaml parsing, the error table and the settings."""

from __future__ import annotations

import os

import grpc
import pytest
from polymesh_inference import errors
from polymesh_inference.config import DynamicBatching, parse_config
from polymesh_inference.errors import RepositoryError
from polymesh_inference.settings import Settings, SettingsError

VALID = {
    "name": "m",
    "platform": "sklearn_joblib",
    "model_file": "model.joblib",
    "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 2]}],
    "outputs": [{"name": "y", "datatype": "INT64", "shape": [-1]}],
}


def test_valid_config_defaults():
    config = parse_config(VALID, "model.yaml")
    assert config.version == "1"
    assert config.max_batch_size == 0
    assert config.input("x").shape == (-1, 2)
    assert config.output("y").datatype == "INT64"
    assert config.input("y") is None
    assert config.dynamic_batching == DynamicBatching()
    assert config.batchable


def test_dynamic_batching_and_batchable():
    config = parse_config(
        {**VALID, "dynamic_batching": {"max_batch_size": 8, "max_queue_delay_ms": 2.5}}, "m"
    )
    assert config.dynamic_batching == DynamicBatching(max_batch_size=8, max_queue_delay_ms=2.5)
    # A fixed first dimension anywhere: requests cannot be stacked.
    fixed = {**VALID, "outputs": [{"name": "y", "datatype": "INT64", "shape": [1]}]}
    assert not parse_config(fixed, "m").batchable
    scalar = {**VALID, "inputs": [{"name": "x", "datatype": "FP32", "shape": []}]}
    assert not parse_config(scalar, "m").batchable


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"colour": "red"}, "unknown field 'colour'"),
        ({"name": None}, "missing field 'name'"),
        ({"max_batch_size": -1}, "max_batch_size"),
        ({"dynamic_batching": 5}, "dynamic_batching: expected a mapping"),
        ({"dynamic_batching": {"size": 5}}, "dynamic_batching: unknown field 'size'"),
        ({"dynamic_batching": {"max_batch_size": 0}}, "max_batch_size must be an integer >= 1"),
        ({"dynamic_batching": {"max_batch_size": True}}, "max_batch_size must be an integer"),
        ({"dynamic_batching": {"max_queue_delay_ms": -1}}, "max_queue_delay_ms must be a number"),
        ({"dynamic_batching": {"max_queue_delay_ms": "1ms"}}, "max_queue_delay_ms must be"),
        ({"inputs": []}, "at least one input"),
        ({"inputs": [{"name": "x", "datatype": "FP8", "shape": [1]}]}, "unknown datatype 'FP8'"),
        ({"inputs": [{"name": "x", "datatype": "FP32", "shape": [-2]}]}, "shape"),
        ({"inputs": [{"name": "x", "datatype": "FP32"}]}, r"inputs\[0\]: missing field 'shape'"),
        ({"outputs": [{"name": "y", "datatype": "FP32", "shape": [1], "size": 3}]}, "'size'"),
        (
            {"outputs": [{"name": "y", "datatype": "FP32", "shape": [1]}] * 2},
            "duplicate tensor name",
        ),
    ],
)
def test_invalid_configs(change, message):
    raw = {**VALID, **change}
    raw = {k: v for k, v in raw.items() if v is not None}
    with pytest.raises(RepositoryError, match=message):
        parse_config(raw, "model.yaml")


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.ModelNotFound("m"), grpc.StatusCode.NOT_FOUND),
        (errors.ModelNotFound("m", "2"), grpc.StatusCode.NOT_FOUND),
        (errors.ModelNotReady("m", "unloaded"), grpc.StatusCode.NOT_FOUND),
        (errors.InvalidInput("input 'x': bad"), grpc.StatusCode.INVALID_ARGUMENT),
        (errors.InvalidParameter("parameter 'p': bad"), grpc.StatusCode.INVALID_ARGUMENT),
        (errors.ModelLoadError("m", "model.yaml: bad"), grpc.StatusCode.INTERNAL),
        (errors.ModelExecutionError("m"), grpc.StatusCode.INTERNAL),
        (errors.WorkerLost("m"), grpc.StatusCode.INTERNAL),
    ],
)
def test_status_table(error, code):
    assert errors.to_status(error) == (code, str(error))


def test_error_kinds():
    assert errors.error_kind(errors.ModelNotReady("m")) == "model_not_ready"
    assert errors.error_kind(errors.ModelExecutionError("m")) == "model_failed"
    assert errors.error_kind(ValueError("bug")) == "internal"
    assert str(errors.ModelNotReady("m", "unloaded")) == (
        "model 'm' has no available versions (unloaded)"
    )


def test_unexpected_errors_hide_their_text():
    assert errors.to_status(ValueError("secret detail")) == (
        grpc.StatusCode.INTERNAL,
        errors.INTERNAL_MESSAGE,
    )


def test_settings_from_env(tmp_path):
    settings = Settings.from_env(
        {
            "POLYMESH_MODEL_REPOSITORY": str(tmp_path),
            "POLYMESH_LISTEN_ADDR": "127.0.0.1:0",
            "POLYMESH_WORKERS": "3",
            "POLYMESH_MAX_BATCH_SIZE": "64",
            "POLYMESH_MAX_QUEUE_DELAY": "250us",
            "POLYMESH_SHUTDOWN_GRACE_S": "2.5",
            "POLYMESH_METRICS_ADDR": "[::1]:0",
        }
    )
    assert settings.model_repository == tmp_path
    assert settings.listen_addr == "127.0.0.1:0"
    assert settings.workers == 3
    assert settings.max_batch_size == 64
    assert settings.max_queue_delay_s == pytest.approx(250e-6)
    assert settings.grace_period_s == 2.5
    assert settings.metrics_addr == "[::1]:0"
    defaults = Settings.from_env({"POLYMESH_MODEL_REPOSITORY": str(tmp_path)})
    assert defaults.listen_addr == "127.0.0.1:50052"
    assert defaults.metrics_addr == "127.0.0.1:9102"
    assert 1 <= defaults.workers <= (os.cpu_count() or 1)
    assert defaults.max_batch_size == 32
    assert defaults.max_queue_delay_s == pytest.approx(0.001)
    env = {"POLYMESH_MODEL_REPOSITORY": str(tmp_path), "POLYMESH_WORKERS": "0"}
    assert Settings.from_env(env).workers == 0
    for text, seconds in (("0", 0.0), ("2ms", 0.002), ("1.5s", 1.5), ("40µs", 40e-6)):
        env = {"POLYMESH_MODEL_REPOSITORY": str(tmp_path), "POLYMESH_MAX_QUEUE_DELAY": text}
        assert Settings.from_env(env).max_queue_delay_s == pytest.approx(seconds)
    off = {"POLYMESH_MODEL_REPOSITORY": str(tmp_path), "POLYMESH_METRICS_ADDR": "off"}
    assert Settings.from_env(off).metrics_addr == "off"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "POLYMESH_MODEL_REPOSITORY is not set"),
        ({"POLYMESH_WORKERS": "many"}, "not a number"),
        ({"POLYMESH_WORKERS": "-1"}, "at least 0"),
        ({"POLYMESH_MAX_BATCH_SIZE": "0"}, "POLYMESH_MAX_BATCH_SIZE=0: must be at least 1"),
        ({"POLYMESH_MAX_QUEUE_DELAY": "2"}, "POLYMESH_MAX_QUEUE_DELAY=2: expected a duration"),
        ({"POLYMESH_MAX_QUEUE_DELAY": "-1ms"}, "expected a duration"),
        ({"POLYMESH_MAX_QUEUE_DELAY": "1h"}, "expected a duration"),
        ({"POLYMESH_METRICS_ADDR": "9102"}, "POLYMESH_METRICS_ADDR=9102: expected host:port"),
        ({"POLYMESH_METRICS_ADDR": "localhost:http"}, "expected host:port"),
    ],
)
def test_settings_errors(tmp_path, env, message):
    if env:
        env = {"POLYMESH_MODEL_REPOSITORY": str(tmp_path), **env}
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)
