"""The inference server: model repository, data plane and gRPC host, wired."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from inference import grpc_service_pb2_grpc as pb_grpc
from opentelemetry import trace
from polymesh_common import telemetry
from polymesh_common.server import GrpcServerHost

from .dataplane import DataPlane
from .errors import RepositoryError
from .repository import ModelRepository
from .servicer import SERVICE_NAME, InferenceServicer
from .settings import Settings

log = logging.getLogger(__name__)


class InferenceServer:
    """One running server.

    Usage::

        server = InferenceServer(settings)
        port = await server.start()        # loads the models, then listens
        await server.wait_for_signal()     # SIGTERM or SIGINT
        await server.stop()                # NOT_SERVING, drain, stop
    """

    def __init__(
        self, settings: Settings, tracer_provider: trace.TracerProvider | None = None
    ) -> None:
        self.settings = settings
        self.repository = ModelRepository(settings.model_repository)
        self._executor = ThreadPoolExecutor(
            max_workers=settings.workers, thread_name_prefix="model"
        )
        self.dataplane = DataPlane(self.repository, self._executor, tracer_provider)
        self.host = GrpcServerHost(
            settings.listen_addr,
            service_names=[SERVICE_NAME],
            interceptors=telemetry.server_interceptors(tracer_provider),
            grace_s=settings.grace_period_s,
        )
        pb_grpc.add_GRPCInferenceServiceServicer_to_server(
            InferenceServicer(self.dataplane), self.host.server
        )

    async def start(self) -> int:
        """Loads the repository, listens, marks health SERVING; returns the port.

        Raises RepositoryError if the repository has no model that loads.
        """
        models = await asyncio.to_thread(self.repository.load_all)
        if not any(m.ready for m in models):
            raise RepositoryError(f"no model of {self.settings.model_repository} could be loaded")
        port = await self.host.start()
        for model in models:
            if model.ready:
                await self.host.set_serving(model.name)
            else:
                await self.host.set_not_serving(model.name)
        await self.host.set_serving(SERVICE_NAME)
        if self.dataplane.ready():
            await self.host.set_serving("")
        else:
            await self.host.set_not_serving("")
        log.info(
            "listening",
            extra={
                "address": self.settings.listen_addr.rsplit(":", 1)[0] + f":{port}",
                "port": port,
                "models": [m.name for m in models if m.ready],
            },
        )
        return port

    async def wait_for_signal(self) -> None:
        await self.host.wait_for_signal()

    async def stop(self, grace_s: float | None = None) -> None:
        """Stops taking calls, lets in-flight ones finish, then stops the workers."""
        self.dataplane.stopping()
        await self.host.stop(grace_s)
        await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)
