"""python -m polymesh_mesh: the verbs that start nothing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml
from polymesh_mesh.__main__ import main


def test_values_prints_every_variable_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POLYMESH_GATEWAY_PORT", "18080")
    assert main(["values"]) == 0
    values = dict(line.split("=", 1) for line in capsys.readouterr().out.splitlines())
    assert values["POLYMESH_HOST"] == "127.0.0.1"
    assert values["POLYMESH_GATEWAY_PORT"] == "18080"
    assert values["POLYMESH_USERS_METRICS_PORT"] == "9103"


def test_gateway_config_and_show(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path
) -> None:
    monkeypatch.delenv("POLYMESH_GATEWAY_PORT", raising=False)
    assert main(["--run", str(tmp_path), "gateway-config"]) == 0
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["listener"]["port"] == 8080
    assert config["access_log"]["path"] == str(tmp_path / "logs/gateway-access.log")
    assert main(["--run", str(tmp_path), "show"]) == 0
    assert f"POLYMESH_USERS_DB={tmp_path}/users.db" in capsys.readouterr().out


def test_pki_makes_the_certificates_elsewhere_and_a_token(
    capsys: pytest.CaptureFixture[str], tmp_path
) -> None:
    folder, token = tmp_path / "compose/tls", tmp_path / "compose/admin-token"
    argv = ["--run", str(tmp_path / "run"), "pki", "--folder", str(folder)]
    assert main([*argv, "--admin-token", str(token)]) == 0
    out = capsys.readouterr().out
    assert "ca           made" in out and "admin token  made" in out
    assert sorted(p.name for p in folder.iterdir()) == [
        f"{name}.{ext}" for name in ("aiapi", "ca", "gateway", "operator") for ext in ("crt", "key")
    ]
    assert token.read_text().strip()
    # Not the run folder's: only where it was asked.
    assert not (tmp_path / "run/tls").exists()
    assert main([*argv, "--admin-token", str(token)]) == 0
    assert "made" not in capsys.readouterr().out


def test_bad_input(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("POLYMESH_AIAPI_PORT", "fifty")
    assert main(["status"]) == 1
    assert "POLYMESH_AIAPI_PORT='fifty' is not a port number" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["status", "aiapi"])


def test_status_into_a_closed_pipe_is_quiet(tmp_path) -> None:
    """`./dev status | head -1`: the reader is gone; no traceback."""
    read, write = os.pipe()
    os.close(read)
    try:
        status = subprocess.run(
            [sys.executable, "-m", "polymesh_mesh", "--run", str(tmp_path), "status"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=30,
        )
    finally:
        os.close(write)
    assert status.returncode == 0, status.stderr
    assert "Traceback" not in status.stderr
