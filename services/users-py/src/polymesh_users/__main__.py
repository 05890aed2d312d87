"""Runs the users service: ``python -m polymesh_users``.

Environment: POLYMESH_LISTEN_ADDR (default 127.0.0.1:50054), POLYMESH_USERS_DB
(a SQLite file path, default users.db), POLYMESH_SHUTDOWN_GRACE_S (default
10), POLYMESH_LOG_LEVEL and the standard OTEL_* variables. Exits 2 on a
configuration or database error, 0 after a graceful stop on SIGTERM.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from polymesh_common.logs import setup_logging
from polymesh_common.telemetry import setup_tracing

from .app import Settings, SettingsError, UsersServer
from .store import StoreError

SERVICE = "polymesh-users"
EXIT_CONFIG = 2

log = logging.getLogger("polymesh_users")


async def serve(settings: Settings, tracer_provider) -> None:
    server = UsersServer(settings, tracer_provider)
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
    log.info("starting", extra={"database": settings.db})
    provider = setup_tracing(SERVICE)
    try:
        asyncio.run(serve(settings, provider))
    except StoreError as err:
        log.error("database %s: %s", settings.db, err)
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
