"""A grpc.aio server with health, reflection and graceful shutdown on SIGTERM.

Usage::

    host = GrpcServerHost(
        "127.0.0.1:50052",
        service_names=[grpc_service_pb2.DESCRIPTOR.services_by_name[...].full_name],
        interceptors=telemetry.server_interceptors(),
    )
    my_pb2_grpc.add_MyServiceServicer_to_server(MyServicer(), host.server)
    port = await host.start()
    await host.set_serving("")            # overall health: SERVING
    host.log_ready(models=["iris"])       # the one "ready" line, with host.address
    await host.wait_for_signal()          # until SIGTERM or SIGINT
    await host.stop()                     # NOT_SERVING, drain, stop

``stop()`` marks every health entry NOT_SERVING, stops accepting calls, lets
in-flight calls finish within the grace period and cancels what is left.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence

import grpc
import grpc.aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

__all__ = ["GrpcServerHost"]

log = logging.getLogger(__name__)

HEALTH_SERVICE = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name


class GrpcServerHost:
    """Owns one grpc.aio server, its health service and its reflection service."""

    def __init__(
        self,
        listen_addr: str,
        service_names: Sequence[str],
        *,
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
        grace_s: float = 10.0,
        options: Sequence[tuple[str, object]] = (),
    ) -> None:
        """Creates the server; it listens once start() is called.

        Args:
            listen_addr: host:port to listen on; port 0 asks the OS for one.
            service_names: fully-qualified names of the services the caller
                registers, published by reflection (health and reflection are
                added here).
            interceptors: server interceptors, outermost first (tracing).
            grace_s: how long stop() lets in-flight calls run.
            options: gRPC channel arguments. SO_REUSEPORT is off unless an
                option turns it on, so that a port already taken is an error.
        """
        self.listen_addr = listen_addr
        self.grace_s = grace_s
        options = [("grpc.so_reuseport", 0), *options]
        self.server = grpc.aio.server(interceptors=list(interceptors), options=options)
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            [*service_names, HEALTH_SERVICE, reflection.SERVICE_NAME], self.server
        )
        self.port: int | None = None
        self._stopping = asyncio.Event()
        self._stopped = False

    async def start(self) -> int:
        """Binds and starts serving; returns the port actually bound."""
        try:
            self.port = self.server.add_insecure_port(self.listen_addr)
        except RuntimeError as err:  # grpc reports a failed bind this way
            raise OSError(f"cannot listen on {self.listen_addr}") from err
        await self.server.start()
        return self.port

    @property
    def address(self) -> str:
        """host:port the server listens on (the port bound, once started)."""
        host, _, port = self.listen_addr.rpartition(":")
        return f"{host}:{self.port if self.port is not None else port}"

    def log_ready(self, **attributes: object) -> None:
        """Logs the service's one ready line, the same in every polymesh
        process: body "ready", "address" (host:port of gRPC), then attributes
        (such as metrics_address)."""
        log.info("ready", extra={"address": self.address, **attributes})

    async def set_serving(self, service: str = "") -> None:
        """Marks service ("" for the whole server) SERVING in grpc.health.v1."""
        await self.health.set(service, health_pb2.HealthCheckResponse.SERVING)

    async def set_not_serving(self, service: str = "") -> None:
        """Marks service ("" for the whole server) NOT_SERVING in grpc.health.v1."""
        await self.health.set(service, health_pb2.HealthCheckResponse.NOT_SERVING)

    def request_stop(self) -> None:
        """Wakes wait_for_signal() as SIGTERM would."""
        self._stopping.set()

    async def wait_for_signal(self) -> None:
        """Returns once SIGTERM or SIGINT arrives (or request_stop() is called)."""
        loop = asyncio.get_running_loop()
        installed = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self._on_signal, sig)
                installed.append(sig)
            except (NotImplementedError, RuntimeError):  # not the main thread
                pass
        try:
            await self._stopping.wait()
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        log.info("signal received, stopping", extra={"signal": sig.name})
        self._stopping.set()

    async def stop(self, grace_s: float | None = None) -> None:
        """NOT_SERVING everywhere, refuses new calls, drains in-flight ones."""
        if self._stopped:
            return
        self._stopped = True
        grace = self.grace_s if grace_s is None else grace_s
        await self.health.enter_graceful_shutdown()
        log.info("draining in-flight calls", extra={"grace_s": grace})
        await self.server.stop(grace)
        log.info("server stopped")
