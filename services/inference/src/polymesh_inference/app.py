"""The inference server: model repository, data plane, gRPC host and metrics, wired.

Health (grpc.health.v1) names: "" for the whole server (SERVING while every
model meant to serve is READY), "inference.GRPCInferenceService", and one
entry per model folder, named as the model: SERVING while the model is READY,
NOT_SERVING while it is unloaded, failed to load, or was never loaded. Loads
and unloads update them at once.
"""

from __future__ import annotations

import asyncio
import logging

from inference import grpc_service_pb2_grpc as pb_grpc
from opentelemetry import trace
from polymesh_common import telemetry
from polymesh_common.server import GrpcServerHost

from .batching import Batcher, BatchPolicy
from .dataplane import DataPlane
from .errors import RepositoryError
from .metrics import InferenceMetrics, MetricsServer
from .pool import ProcessPool, Runner, ThreadRunner
from .repository import ModelRepository
from .servicer import SERVICE_NAME, InferenceServicer
from .settings import METRICS_OFF, Settings

log = logging.getLogger(__name__)


class InferenceServer:
    """One running server.

    Usage::

        server = InferenceServer(settings)
        port = await server.start()        # loads the models, then listens
        await server.wait_for_signal()     # SIGTERM or SIGINT
        await server.stop()                # NOT_SERVING, drain, stop

    Metrics are served on settings.metrics_addr from start() to stop().
    Models run in settings.workers worker processes (a thread if 0), fed by
    the dynamic batcher.
    """

    def __init__(
        self, settings: Settings, tracer_provider: trace.TracerProvider | None = None
    ) -> None:
        self.settings = settings
        self.repository = ModelRepository(settings.model_repository)
        self.metrics = InferenceMetrics()
        self.runner: Runner = (
            ProcessPool(settings.workers) if settings.workers > 0 else ThreadRunner()
        )
        batcher = Batcher(
            self.runner,
            BatchPolicy(
                max_batch_size=settings.max_batch_size,
                max_queue_delay_s=settings.max_queue_delay_s,
            ),
            on_execution=self.metrics.observe_execution,
        )
        self.dataplane = DataPlane(self.repository, batcher, tracer_provider, metrics=self.metrics)
        self._started_runner = False
        self.dataplane.on_models_changed(self._sync_health)
        self.metrics_server: MetricsServer | None = None
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

        Raises RepositoryError if the repository has no model that loads, and
        OSError if the gRPC or the metrics address cannot be bound.
        """
        models = await asyncio.to_thread(self.repository.load_all)
        if not any(m.ready for m in models):
            raise RepositoryError(f"no model of {self.settings.model_repository} could be loaded")
        self._started_runner = True
        await self.runner.start(models)
        metrics: dict[str, str] = {}  # metrics_address on the ready line, when served
        if self.settings.metrics_addr != METRICS_OFF:
            self.metrics_server = await asyncio.to_thread(
                self.metrics.serve, self.settings.metrics_addr
            )
            host = self.settings.metrics_addr.rsplit(":", 1)[0]
            metrics["metrics_address"] = f"{host}:{self.metrics_server.port}"
        port = await self.host.start()
        await self._sync_health()
        await self.host.set_serving(SERVICE_NAME)
        self.host.log_ready(
            **metrics,
            models=[m.name for m in models if m.ready],
            workers=self.settings.workers,
        )
        return port

    async def _sync_health(self) -> None:
        """Health and the model_ready gauge from the models' states."""
        for model in await self.dataplane.index():
            self.metrics.set_model_ready(model.name, model.ready)
            if model.ready:
                await self.host.set_serving(model.name)
            else:
                await self.host.set_not_serving(model.name)
        if self.dataplane.ready():
            await self.host.set_serving("")
        else:
            await self.host.set_not_serving("")

    async def wait_for_signal(self) -> None:
        await self.host.wait_for_signal()

    async def stop(self, grace_s: float | None = None) -> None:
        """Stops taking calls, runs the queued ones at once and lets every call
        in flight finish (within the grace period), then stops the workers."""
        self.dataplane.stopping()
        await self.host.stop(grace_s)
        if self._started_runner:
            grace = self.settings.grace_period_s if grace_s is None else grace_s
            await self.runner.stop(max(grace, 1.0))
            self._started_runner = False
        if self.metrics_server is not None:
            await asyncio.to_thread(self.metrics_server.close)
            self.metrics_server = None
