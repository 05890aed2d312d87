"""The gateway configuration and Jaeger's, generated from the mesh file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from polymesh_mesh.config import gateway_yaml, render_template, write_files
from polymesh_mesh.model import ROOT, Folders, MeshError, ResolvedFile, load
from polymesh_mesh.testing import Process, free_ports

GATEWAY_BIN = ROOT / "build/cmake/gateway/polymesh-gateway"
DESCRIPTORS = ROOT / "build/cmake/descriptors/polymesh.binpb"


def folders(tmp_path: Path) -> Folders:
    return Folders.of_checkout(ROOT, run=tmp_path / "run", tools=tmp_path / "tools")


def test_the_gateway_config_routes_every_contract_to_its_process(tmp_path: Path) -> None:
    resolved = load().resolve(folders(tmp_path))
    config = yaml.safe_load(gateway_yaml(resolved.gateway))
    assert config["listener"] == {"address": "127.0.0.1", "port": 8080}
    assert config["local_services"] == {"address": "127.0.0.1", "port": 8081}
    assert config["admin"] == {"address": {"address": "127.0.0.1", "port": 9901}}
    assert config["access_log"] == {"path": str(tmp_path / "run/logs/gateway-access.log")}
    assert config["contracts"] == {"descriptor_sets": [str(DESCRIPTORS)]}
    clusters = {c["name"]: c["endpoints"] for c in config["clusters"]}
    # Each cluster is a process of the mesh, at its gRPC port (its health check's).
    for name, endpoints in clusters.items():
        process = resolved.process(name)
        assert endpoints == [
            {"address": "127.0.0.1", "port": process.port(process.health.variable)}
        ]
    routes = [(r["name"], r["cluster"]) for r in config["routes"]]
    assert routes == [
        ("ai", "aiapi"),
        ("inference-repository-load", "inference"),
        ("inference-repository-unload", "inference"),
        ("inference-repository-index", "inference"),
        ("inference", "inference"),
        ("users-python", "users-py"),
        ("users", "users"),
        ("health", "local"),
        ("reflection", "local"),
        ("reflection-v1alpha", "local"),
    ]
    assert {r["cluster"] for r in config["routes"]} <= set(clusters) | {"local"}


def test_the_gateway_config_is_secured(tmp_path: Path) -> None:
    resolved = load().resolve(folders(tmp_path))
    config = yaml.safe_load(gateway_yaml(resolved.gateway))
    tls = tmp_path / "run/tls"
    assert config["tls_listener"] == {
        "address": {"address": "127.0.0.1", "port": 8443},
        "tls": {
            "certificate_chain_file": str(tls / "gateway.crt"),
            "private_key_file": str(tls / "gateway.key"),
            "client_ca_file": str(tls / "ca.crt"),
        },
    }
    assert config["auth_providers"] == {
        "api_keys": {"keys_file": str(ROOT / "deploy/auth/api-keys.yaml")},
        "mtls": {},
    }
    auth = {r["name"]: r.get("auth") for r in config["routes"]}
    # Only the gateway's own services are open to anyone.
    assert sorted(name for name, rule in auth.items() if rule is None) == [
        "health",
        "reflection",
        "reflection-v1alpha",
    ]
    assert not any(rule.get("allow_anonymous") for rule in auth.values() if rule)
    assert auth["ai"] == {"providers": ["api_keys"], "groups": ["ai-users"]}
    aiapi = "spiffe://polymesh.local/aiapi"
    for name in ("load", "unload", "index"):
        assert auth[f"inference-repository-{name}"]["groups"] == ["operators"]
    # aiapi reads the index (ListModels), and changes nothing.
    assert aiapi in auth["inference-repository-index"]["principals"]
    for name in ("load", "unload"):
        assert aiapi not in auth[f"inference-repository-{name}"]["principals"]
    assert aiapi in auth["inference"]["principals"]
    assert auth["users"]["groups"] == auth["users-python"]["groups"] == ["users", "operators"]


def test_write_files_makes_the_certificates_the_gateway_names(tmp_path: Path) -> None:
    resolved = load().resolve(folders(tmp_path))
    write_files(resolved)
    tls = resolved.gateway["tls_listener"]["tls"]
    for key in ("certificate_chain_file", "private_key_file", "client_ca_file"):
        assert Path(tls[key]).is_file(), key
    for variable in ("CA", "CERT", "KEY"):
        path = resolved.process("aiapi").env[f"POLYMESH_INFERENCE_TLS_{variable}_FILE"]
        assert Path(path).is_file(), variable


def test_write_files_writes_jaeger_and_gateway_configs(tmp_path: Path) -> None:
    resolved = load().resolve(folders(tmp_path), {}, {"POLYMESH_JAEGER_HEALTH_PORT": 14000})
    written = write_files(resolved)
    assert sorted(p.name for p in written) == ["gateway.yaml", "jaeger.yaml"]
    jaeger = yaml.safe_load((tmp_path / "run/jaeger.yaml").read_text())
    assert jaeger["extensions"]["healthcheckv2"]["http"]["endpoint"] == "127.0.0.1:14000"
    assert jaeger["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] == "127.0.0.1:4317"
    gateway = yaml.safe_load((tmp_path / "run/gateway.yaml").read_text())
    assert gateway == resolved.gateway


def test_a_template_value_left_out_is_an_error(tmp_path: Path) -> None:
    template = tmp_path / "t.in"
    template.write_text("# @COMMENTS@ are left alone\na: @A@\nb: @B@\n")
    file = ResolvedFile(tmp_path / "t", template, {"A": "1"}, gateway=False)
    with pytest.raises(MeshError, match="no value for B"):
        render_template(file)
    file = ResolvedFile(tmp_path / "t", template, {"A": "1", "B": "2"}, gateway=False)
    assert render_template(file).endswith("a: 1\nb: 2\n")


@pytest.mark.skipif(not GATEWAY_BIN.exists(), reason="the gateway is not built: ./dev build")
def test_the_gateway_accepts_the_generated_config(tmp_path: Path) -> None:
    mesh = load()
    ports = dict(zip(mesh.port_variables, free_ports(len(mesh.port_variables)), strict=True))
    resolved = mesh.resolve(folders(tmp_path), {}, ports)
    gateway = resolved.process("gateway")
    write_files(resolved, [gateway])
    started = Process.start(gateway, tmp_path)
    try:
        started.wait_until(timeout=30)
    finally:
        assert started.stop() == 0, started.tail()
