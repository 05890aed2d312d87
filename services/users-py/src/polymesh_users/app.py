"""The users service: the SQLite store and the UserService on a gRPC host.

Health (grpc.health.v1): "" and "polymesh.users.v1.UserService" are SERVING
while the database answers a ping (checked every check_interval_s), as the
Go service does; NOT_SERVING while it does not, and from stop() on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import dataclass

from opentelemetry import trace
from polymesh.users.v1 import users_pb2_grpc
from polymesh_common import telemetry
from polymesh_common.server import GrpcServerHost

from .servicer import SERVICE_NAME, UserServicer
from .store import AsyncStore

__all__ = ["Settings", "SettingsError", "UsersServer"]

log = logging.getLogger(__name__)

DEFAULT_LISTEN_ADDR = "127.0.0.1:50054"
DEFAULT_DB = "users.db"


class SettingsError(ValueError):
    """A configuration value that cannot be used."""


@dataclass(frozen=True)
class Settings:
    listen_addr: str = DEFAULT_LISTEN_ADDR
    db: str = DEFAULT_DB
    grace_period_s: float = 10.0
    check_interval_s: float = 5.0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """POLYMESH_LISTEN_ADDR, POLYMESH_USERS_DB, POLYMESH_SHUTDOWN_GRACE_S."""
        env = dict(os.environ) if env is None else env
        db = env.get("POLYMESH_USERS_DB") or DEFAULT_DB
        if db.startswith(("postgres://", "postgresql://")):
            raise SettingsError(
                "POLYMESH_USERS_DB: this service keeps users in SQLite only; want a file path"
            )
        grace_text = env.get("POLYMESH_SHUTDOWN_GRACE_S") or "10"
        try:
            grace = float(grace_text)
        except ValueError:
            grace = -1.0
        if not grace >= 0:
            raise SettingsError(
                f"POLYMESH_SHUTDOWN_GRACE_S: {grace_text!r} is not a number of seconds >= 0"
            )
        return cls(
            listen_addr=env.get("POLYMESH_LISTEN_ADDR") or DEFAULT_LISTEN_ADDR,
            db=db,
            grace_period_s=grace,
        )


class UsersServer:
    """One running service.

    Usage::

        server = UsersServer(settings)
        port = await server.start()      # opens the database, then listens
        await server.wait_for_signal()   # SIGTERM or SIGINT
        await server.stop()              # NOT_SERVING, drain, close the database
    """

    def __init__(
        self, settings: Settings, tracer_provider: trace.TracerProvider | None = None
    ) -> None:
        self.settings = settings
        self.host = GrpcServerHost(
            settings.listen_addr,
            service_names=[SERVICE_NAME],
            interceptors=telemetry.server_interceptors(tracer_provider),
            grace_s=settings.grace_period_s,
        )
        self.store: AsyncStore | None = None
        self._checker: asyncio.Task[None] | None = None

    async def start(self) -> int:
        """Opens the database (running its migrations) and listens; returns the port."""
        self.store = await AsyncStore.open(self.settings.db)
        log.info("database ready", extra={"database": self.settings.db, "dialect": "sqlite"})
        users_pb2_grpc.add_UserServiceServicer_to_server(UserServicer(self.store), self.host.server)
        port = await self.host.start()
        await self._set_health(True)
        self._checker = asyncio.create_task(self._check_database())
        self.host.log_ready()
        return port

    async def _set_health(self, serving: bool) -> None:
        for name in ("", SERVICE_NAME):
            if serving:
                await self.host.set_serving(name)
            else:
                await self.host.set_not_serving(name)

    async def _check_database(self) -> None:
        serving = True
        while True:
            await asyncio.sleep(self.settings.check_interval_s)
            assert self.store is not None
            try:
                await self.store.ping()
                ok = True
            except Exception as err:
                ok = False
                if serving:
                    log.warning(
                        "database unreachable, health NOT_SERVING", extra={"error": str(err)}
                    )
            if ok and not serving:
                log.info("dependency back, health SERVING")
            if ok != serving:
                serving = ok
                await self._set_health(ok)

    async def wait_for_signal(self) -> None:
        await self.host.wait_for_signal()

    async def stop(self, grace_s: float | None = None) -> None:
        """Stops taking calls, lets those in flight finish, closes the database."""
        if self._checker is not None:
            self._checker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checker
            self._checker = None
        await self.host.stop(grace_s)
        if self.store is not None:
            await self.store.close()
            self.store = None
