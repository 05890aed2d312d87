"""Runs the inference server: ``python -m polymesh_inference``.

Environment: POLYMESH_MODEL_REPOSITORY (required), POLYMESH_LISTEN_ADDR
(default 127.0.0.1:50052), POLYMESH_WORKERS, POLYMESH_MAX_BATCH_SIZE,
POLYMESH_MAX_QUEUE_DELAY, POLYMESH_SHUTDOWN_GRACE_S, POLYMESH_LOG_LEVEL and the
standard OTEL_* variables. Exits 2 on a
configuration error, 0 after a graceful stop on SIGTERM.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from polymesh_common.logs import setup_logging
from polymesh_common.telemetry import setup_tracing

from .app import InferenceServer
from .errors import RepositoryError
from .settings import Settings, SettingsError

SERVICE = "polymesh-inference"
EXIT_CONFIG = 2

log = logging.getLogger("polymesh_inference")


async def serve(settings: Settings, tracer_provider) -> None:
    server = InferenceServer(settings, tracer_provider)
    try:
        await server.start()
    except BaseException:
        await server.stop(0)
        raise
    await server.wait_for_signal()
    await server.stop()


def main() -> int:
    setup_logging(os.environ.get("OTEL_SERVICE_NAME") or SERVICE)
    try:
        settings = Settings.from_env()
    except SettingsError as err:
        log.error("configuration error: %s", err)
        return EXIT_CONFIG
    provider = setup_tracing(SERVICE)
    try:
        asyncio.run(serve(settings, provider))
    except RepositoryError as err:
        log.error("model repository error: %s", err)
        return EXIT_CONFIG
    except OSError as err:
        log.error("cannot serve: %s", err)
        return EXIT_CONFIG
    finally:
        provider.shutdown()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
