"""The ``python -m`` entry point every Python service of polymesh shares.

Logs set up, settings read from the environment, tracing on, the server run
until SIGTERM or SIGINT and stopped gracefully, spans flushed; exit 2 on a
configuration error or an error the service names as fatal, 0 after a
graceful stop::

    def main() -> int:
        return run_service(
            "polymesh-users", log,
            load_settings=Settings.from_env, settings_errors=(SettingsError,),
            make_server=UsersServer,
            fatal={StoreError: "database {settings.db}: {error}"},
        )
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from polymesh_common.logs import setup_logging
from polymesh_common.telemetry import setup_tracing

__all__ = ["EXIT_CONFIG", "Server", "run_service", "serve_until_signal"]

EXIT_CONFIG = 2

S = TypeVar("S")


class Server(Protocol):
    """What run_service drives (a GrpcServerHost owner)."""

    async def start(self) -> Any: ...
    async def wait_for_signal(self) -> None: ...
    async def stop(self, grace_s: float | None = None) -> None: ...


async def serve_until_signal(make: Callable[[], Server]) -> None:
    """Makes the server on the running event loop (grpc.aio binds to it),
    starts it, serves until a stop signal, then stops it gracefully; a
    server that fails to start is stopped at once."""
    server = make()
    try:
        await server.start()
    except BaseException:
        await server.stop(0)
        raise
    await server.wait_for_signal()
    await server.stop()


def run_service(
    service: str,
    log: logging.Logger,
    *,
    load_settings: Callable[[], S],
    settings_errors: tuple[type[Exception], ...],
    make_server: Callable[[S, Any], Server],
    fatal: Mapping[type[Exception], str] | None = None,
    on_settings: Callable[[S], None] | None = None,
) -> int:
    """Runs one service process; returns its exit code. `fatal` maps error
    types raised while serving to a message template formatted with
    `settings` and `error`; an OSError (such as an address in use) is fatal
    too."""
    setup_logging(service)
    try:
        settings = load_settings()
    except settings_errors as err:
        log.error("configuration error: %s", err)
        return EXIT_CONFIG
    if on_settings is not None:
        on_settings(settings)
    templates = {**(fatal or {}), OSError: "cannot serve: {error}"}
    provider = setup_tracing(service)
    try:
        asyncio.run(serve_until_signal(lambda: make_server(settings, provider)))
    except tuple(templates) as err:
        template = next(t for kind, t in templates.items() if isinstance(err, kind))
        log.error(template.format(settings=settings, error=err))
        return EXIT_CONFIG
    finally:
        provider.shutdown()
    log.info("stopped")
    return 0
