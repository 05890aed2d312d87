"""The model of deploy/mesh.yaml: loading, resolving, overrides, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from polymesh_mesh.model import MESH_FILE, Folders, MeshError, load, parse

FOLDERS = Folders(
    root=Path("/src"),
    build=Path("/src/build"),
    venv=Path("/src/.venv"),
    tools=Path("/tools"),
    run=Path("/run/mesh"),
)


def test_the_mesh_file_names_the_processes_in_start_order() -> None:
    mesh = load()
    assert mesh.path == MESH_FILE
    assert mesh.names == ["jaeger", "inference", "gateway", "aiapi", "users", "users-py"]


def test_defaults_are_those_of_the_readme() -> None:
    defaults = load().defaults()
    assert defaults["POLYMESH_HOST"] == "127.0.0.1"
    assert defaults["POLYMESH_GATEWAY_PORT"] == "8080"
    assert defaults["POLYMESH_USERS_METRICS_PORT"] == "9103"
    assert len(set(defaults.values()) - {"127.0.0.1"}) == len(defaults) - 1, "a port twice"


def test_resolve_fills_folders_and_variables() -> None:
    resolved = load().resolve(FOLDERS, {})
    aiapi = resolved.process("aiapi")
    assert aiapi.argv == ["/src/build/bin/aiapi"]
    assert aiapi.env["POLYMESH_LISTEN_ADDR"] == "127.0.0.1:50051"
    # East-west through the gateway's TLS listener, with aiapi's certificate.
    assert aiapi.env["POLYMESH_INFERENCE_ADDR"] == "127.0.0.1:8443"
    assert aiapi.env["POLYMESH_INFERENCE_TLS_CERT_FILE"] == "/run/mesh/tls/aiapi.crt"
    assert aiapi.env["POLYMESH_API_KEYS_FILE"] == "/src/deploy/auth/api-keys.yaml"
    assert aiapi.env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:4317"
    assert aiapi.health_target == "127.0.0.1:50051"
    jaeger = resolved.process("jaeger")
    assert jaeger.argv == ["/tools/bin/jaeger", "--config", "/run/mesh/jaeger.yaml"]
    assert jaeger.health_target == "http://127.0.0.1:13133/status"
    assert resolved.process("inference").argv == [
        "/src/.venv/bin/python",
        "-m",
        "polymesh_inference",
    ]


def test_the_environment_moves_ports_and_overrides_win() -> None:
    environ = {"POLYMESH_HOST": "127.0.0.2", "POLYMESH_AIAPI_PORT": "6000", "PATH": "/bin"}
    resolved = load().resolve(FOLDERS, environ, {"POLYMESH_AIAPI_PORT": 7000})
    aiapi = resolved.process("aiapi")
    assert aiapi.env["POLYMESH_LISTEN_ADDR"] == "127.0.0.2:7000"
    assert aiapi.port("POLYMESH_AIAPI_PORT") == 7000
    assert resolved.gateway["clusters"][0]["endpoints"] == [{"address": "127.0.0.2", "port": 7000}]


def test_bad_values_and_unknown_names_are_errors() -> None:
    mesh = load()
    with pytest.raises(MeshError, match="not a port number"):
        mesh.resolve(FOLDERS, {"POLYMESH_GATEWAY_PORT": "eighty"})
    with pytest.raises(MeshError, match="no variable POLYMESH_NOPE_PORT"):
        mesh.resolve(FOLDERS, {}, {"POLYMESH_NOPE_PORT": 1})
    aiapi = mesh.resolve(FOLDERS).process("aiapi")
    with pytest.raises(MeshError, match="sets no POLYMESH_TYPO"):
        aiapi.with_env({"POLYMESH_TYPO": "x"})
    assert aiapi.with_env({"POLYMESH_TYPO": "x"}, only_known=False).env["POLYMESH_TYPO"] == "x"


MINIMAL = """
processes:
  - name: a
    command: ["{build}/a", "${POLYMESH_A_PORT}"]
    environment: { X: "${POLYMESH_B_PORT}" }
    ports: [{ variable: POLYMESH_A_PORT, default: 1 }]
    health: { grpc: POLYMESH_A_PORT }
"""


def test_a_placeholder_the_file_does_not_define_is_an_error() -> None:
    mesh = parse(MINIMAL, Path("m.yaml"))
    with pytest.raises(MeshError, match="no variable POLYMESH_B_PORT"):
        mesh.resolve(FOLDERS)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("processes: []", "no processes"),
        ("processes: [{name: a, command: [a]}]", "no health"),
        (
            "processes: [{name: a, command: [a], health: {grpc: P}}]",
            "not one of its ports",
        ),
        (
            "processes: [{name: a, command: [a], health: {tcp: P}, ports: []}]",
            "want one of grpc or http",
        ),
        (
            MINIMAL + "  - name: a\n    command: [b]\n    health: {http: Q}\n"
            "    ports: [{variable: Q, default: 2}]\n",
            "appears twice",
        ),
        ("processes: [{name: a, commnd: [a], health: {grpc: P}}]", "no command"),
        ("nodes: []", "unknown keys"),
    ],
)
def test_malformed_files_are_rejected(text: str, message: str) -> None:
    with pytest.raises(MeshError, match=message):
        parse(text, Path("m.yaml"))
