"""Runs the users service: ``python -m polymesh_users``.

Environment: POLYMESH_LISTEN_ADDR (default 127.0.0.1:50054), POLYMESH_USERS_DB
(a SQLite file path, default users.db), POLYMESH_SHUTDOWN_GRACE_S (default
10), POLYMESH_LOG_LEVEL and the standard OTEL_* variables. Exits 2 on a
configuration or database error, 0 after a graceful stop on SIGTERM.
"""

from __future__ import annotations

import logging
import sys

from polymesh_common.main import run_service

from .app import Settings, SettingsError, UsersServer
from .store import StoreError

log = logging.getLogger("polymesh_users")


def main() -> int:
    return run_service(
        "polymesh-users",
        log,
        load_settings=Settings.from_env,
        settings_errors=(SettingsError,),
        on_settings=lambda settings: log.info("starting", extra={"database": settings.db}),
        make_server=UsersServer,
        fatal={StoreError: "database {settings.db}: {error}"},
    )


if __name__ == "__main__":
    sys.exit(main())
