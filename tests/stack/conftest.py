"""The compose stack (compose.yaml) running in a container engine, called
from outside through its published ports only.

compose_test_stack in deploy/docker/engine.sh builds the images, starts the
stack and runs these tests with:

    POLYMESH_STACK_GATEWAY  host:port of the gateway's published gRPC port
    POLYMESH_STACK_JAEGER   base URL of Jaeger's published query API

Without them every test here is skipped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import grpc
import pytest

GATEWAY_ENV = "POLYMESH_STACK_GATEWAY"
JAEGER_ENV = "POLYMESH_STACK_JAEGER"
# The demo key of deploy/auth/api-keys.yaml, which compose.yaml
# mounts into aiapi.
API_KEY = "polymesh-demo-key"


@dataclass(frozen=True)
class Stack:
    gateway: str
    jaeger: str


def pytest_collection_modifyitems(config, items):
    if os.environ.get(GATEWAY_ENV) and os.environ.get(JAEGER_ENV):
        return
    skip = pytest.mark.skip(
        reason=f"no compose stack to call: {GATEWAY_ENV} and {JAEGER_ENV} are unset "
        "(compose_test_stack in deploy/docker/engine.sh starts one and sets them)"
    )
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.path).startswith(here + os.sep):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def stack() -> Stack:
    return Stack(gateway=os.environ[GATEWAY_ENV], jaeger=os.environ[JAEGER_ENV].rstrip("/"))


@pytest.fixture
def channel(stack):
    with grpc.insecure_channel(stack.gateway) as ch:
        yield ch
