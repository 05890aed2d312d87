"""The demo load generator against the mesh: bounded, and its calls answered,
over TLS with the demo meshes' keys (the demo key for the public APIs, the
operator key for the inference tier)."""

from __future__ import annotations

import re
import subprocess
import sys

from .conftest import DEMO_KEY, OPERATOR_KEY


def test_loadgen_drives_every_service_and_stops_by_itself(mesh):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "polymesh_client.loadgen",
            f"--target={mesh.gateway_tls}",
            f"--ca-file={mesh.tls / 'ca.crt'}",
            f"--api-key={DEMO_KEY}",
            f"--operator-key={OPERATOR_KEY}",
            "--rate=40",
            "--duration=3",
            "--report-every=1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"loadgen: +\d+ s, \d+ calls", done.stdout), done.stdout
    summary = done.stdout.strip().splitlines()[-1]
    counts = {k.strip(): v for k, v in re.findall(r"([A-Za-z ]+: [A-Z_]+) (\d+)", summary)}
    for call in ("Predict iris: OK", "Predict digits: OK", "CreateUser: OK", "ModelMetadata: OK"):
        assert int(counts.get(call, 0)) > 0, summary
    failed = {k: v for k, v in counts.items() if not k.endswith(": OK")}
    # Only the deliberate failures: the unknown model, and users looked up
    # before any was created.
    assert set(failed) <= {"Predict unknown model: NOT_FOUND", "GetUser: NOT_FOUND"}, summary
