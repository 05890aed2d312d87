"""The compose stack (compose.yaml) running in a container engine, called
from outside through its published ports only.

compose_test_stack in deploy/docker/engine.sh builds the images, starts the
stack and runs these tests with:

    POLYMESH_STACK_GATEWAY      host:port of the gateway's published plaintext port
    POLYMESH_STACK_GATEWAY_TLS  host:port of its published TLS port
    POLYMESH_STACK_TLS          the folder of the stack's certificates (ca.crt,
                                operator.crt, operator.key: compose_secrets)
    POLYMESH_STACK_JAEGER       base URL of Jaeger's published query API

Without them every test here is skipped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from polymesh_client.auth import tls_credentials

GATEWAY_ENV = "POLYMESH_STACK_GATEWAY"
GATEWAY_TLS_ENV = "POLYMESH_STACK_GATEWAY_TLS"
TLS_ENV = "POLYMESH_STACK_TLS"
JAEGER_ENV = "POLYMESH_STACK_JAEGER"
ENVS = (GATEWAY_ENV, GATEWAY_TLS_ENV, TLS_ENV, JAEGER_ENV)
# The keys of deploy/auth/api-keys.yaml, which compose.yaml mounts into the
# gateway and aiapi.
API_KEY = "polymesh-demo-key"
OPERATOR_KEY = "polymesh-operator-key"


@dataclass(frozen=True)
class Stack:
    gateway: str
    gateway_tls: str
    tls: Path
    jaeger: str


def pytest_collection_modifyitems(config, items):
    if all(os.environ.get(name) for name in ENVS):
        return
    skip = pytest.mark.skip(
        reason=f"no compose stack to call: {', '.join(ENVS)} are not all set "
        "(compose_test_stack in deploy/docker/engine.sh starts one and sets them)"
    )
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.path).startswith(here + os.sep):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def stack() -> Stack:
    return Stack(
        gateway=os.environ[GATEWAY_ENV],
        gateway_tls=os.environ[GATEWAY_TLS_ENV],
        tls=Path(os.environ[TLS_ENV]),
        jaeger=os.environ[JAEGER_ENV].rstrip("/"),
    )


@pytest.fixture
def channel(stack):
    """The published plaintext port, without credentials."""
    with grpc.insecure_channel(stack.gateway) as ch:
        yield ch


@pytest.fixture
def tls_channel(stack):
    """The published TLS port, the stack's CA trusted; the gateway's
    certificate names `localhost`."""
    creds = tls_credentials(stack.tls / "ca.crt")
    with grpc.secure_channel(stack.gateway_tls, creds) as ch:
        yield ch
