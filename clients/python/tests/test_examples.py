"""The example scripts, run against real servers."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import API_KEY

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


async def run_example(name: str, *args: str) -> str:
    """Runs an example off the event loop (the servers of this process answer meanwhile)."""
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_help(name: str) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "--target" in done.stdout and "--timeout" in done.stdout


async def test_users_crud(users_server) -> None:
    out = await run_example("users_crud.py", "--target", users_server.address)
    assert "renamed" in out and "1 users in all" in out and "deleted" in out


@pytest.mark.asyncio(loop_scope="session")
async def test_inference_infer(inference_server) -> None:
    out = await run_example("inference_infer.py", "--target", inference_server.address, "--raw")
    assert "label int64[2]: [0, 2]" in out


@pytest.mark.asyncio(loop_scope="session")
async def test_ai_predict(aiapi) -> None:
    out = await run_example("ai_predict.py", "--target", aiapi.address, "--api-key", API_KEY)
    assert "model iris" in out and "-> labels [0, 2]" in out
    # A wrong key: the status, and a failing exit.
    done = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            str(EXAMPLES / "ai_predict.py"),
            "--target",
            aiapi.address,
            "--api-key",
            "wrong",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "UNAUTHENTICATED" in done.stderr
